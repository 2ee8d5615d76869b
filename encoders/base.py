"""The contract every item encoder fulfils: encode raw item inputs into float32 rows plus a presence mask.

Keeping one result type and one base class lets the cache, the LoRA tuner and the pipeline treat text,
image and LLM encoders alike.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from encoders.lora_settings import LoraSettings

Precision = Literal["auto", "fp32", "bf16"]


class Encoded(NamedTuple):
    """Item embeddings (n, d) float32 and a boolean mask (n,); masked-out rows are all zeros."""

    emb: np.ndarray
    mask: np.ndarray


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The requested device, or CUDA when present, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_autocast(device: torch.device, precision: Precision) -> torch.dtype | None:
    """bf16 autocast on a GPU by default (weights stay fp32, so tuning and merging stay exact); none on CPU."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


class Encoder(ABC):
    """Base class: subclasses turn a batch of present items into a differentiable (b, d) tensor."""

    kind: ClassVar[str]
    model: torch.nn.Module
    device: torch.device
    autocast_dtype: torch.dtype | None
    batch_size: int
    normalize: bool
    #: LoRA settings from the recipe (None = frozen); `encoders.lora.tune_lora` reads them.
    lora: LoraSettings | None = None
    #: sha256 of the merged LoRA adapter's weights, part of the cache key.
    adapter_sha256: str | None = None

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding width."""

    @abstractmethod
    def is_present(self, item: str | None) -> bool:
        """Whether an item has this modality at all (non-empty text, an existing image file)."""

    @abstractmethod
    def embed_batch(self, items: Sequence[str]) -> torch.Tensor:
        """Embed present items with gradients enabled when the caller allows them; (b, dim) on `device`."""

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything about the model side that changes the embeddings (weights hash, pooling, adapter...)."""

    def items_fingerprint(self, items: Sequence[str | None]) -> str:
        """A hash of the inputs as this encoder reads them (the strings themselves; image encoders hash files)."""
        from encoders.hashing import sha256_strings

        return sha256_strings(items)

    def default_lora_targets(self) -> list[str] | str:
        """peft `target_modules` used when the recipe names none: peft's choice for the architecture, else all linear."""
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

        return list(PEFT_TARGETS.get(self.model.config.model_type, "all-linear"))

    def encode(self, items: Sequence[str | None]) -> Encoded:
        """Embed all items in batches under `torch.inference_mode`; absent items get a zero row, mask False."""
        mask = np.array([self.is_present(it) for it in items], dtype=bool)
        emb = np.zeros((len(items), self.dim), dtype=np.float32)
        present = np.flatnonzero(mask)
        self.model.eval()
        with torch.inference_mode(), self.progress_bar(len(present)) as bar:
            for rows in self.batches(items, present):
                out = self.embed_batch([items[i] for i in rows])  # type: ignore[misc]
                emb[rows] = out.float().cpu().numpy()
                bar.update(len(rows))
        return Encoded(emb, mask)

    def progress_bar(self, total: int) -> tqdm:
        """Items done out of ``total`` on stderr (encoding a catalogue on CPU takes minutes); off when not a TTY."""
        return tqdm(total=total, desc=f"{self.kind} encoder", unit="item", leave=False, disable=None)

    def batches(self, items: Sequence[str | None], present: np.ndarray) -> Iterator[np.ndarray]:
        """Row indices per batch; subclasses may reorder (e.g. by length) since rows are written back by index."""
        for start in range(0, len(present), self.batch_size):
            yield present[start : start + self.batch_size]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Mixed precision context for forward passes (a no-op on CPU by default)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)
