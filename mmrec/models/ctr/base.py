"""What every CTR model shares: its output, its loss, construction from a config, and safetensors save/load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from mmrec.data.ctr_batches import CTRBatch, FeatureSpec
from mmrec.models.item_repr import IDEmbedding, ItemRepresentation

Modalities = dict[str, tuple[torch.Tensor, torch.Tensor]]  # name -> (embeddings (N+1, d), present (N+1,))


@dataclasses.dataclass
class CTROutput:
    """Scores of a batch plus the model's auxiliary loss terms (unweighted; the model's config weights them)."""

    logits: torch.Tensor  # (B,)
    aux: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


class CTRModel(nn.Module):
    """Base class: ``forward(batch) -> CTROutput``; ``loss`` = BCE + weighted auxiliary terms."""

    config_class: ClassVar[type]

    def __init__(self, config: Any, spec: FeatureSpec, modalities: Modalities | None = None,
                 item_repr: ItemRepresentation | None = None):
        super().__init__()
        self.config, self.spec = config, spec
        self.modality_shapes = {k: list(v[0].shape) for k, v in (modalities or {}).items()}
        self._item_repr_given = item_repr is not None

    @staticmethod
    def default_item_repr(spec: FeatureSpec, dim: int, item_repr: ItemRepresentation | None) -> ItemRepresentation:
        """The item ID seam: the given representation (content, codes, ...) or a plain ID table."""
        if item_repr is None:
            return IDEmbedding(spec.n_items, dim)
        if item_repr.dim != dim:
            raise ValueError(f"item representation has dim {item_repr.dim}, the model needs {dim}")
        return item_repr

    def forward(self, batch: CTRBatch) -> CTROutput:
        raise NotImplementedError

    def aux_weights(self) -> dict[str, float]:
        return {}

    def loss(self, output: CTROutput, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": total, "bce": ..., <aux>: ...}``; only ``loss`` is back-propagated."""
        parts = {"bce": F.binary_cross_entropy_with_logits(output.logits, labels)}
        total = parts["bce"]
        for name, weight in self.aux_weights().items():
            if name in output.aux:
                parts[name] = output.aux[name]
                total = total + weight * output.aux[name]
        parts["loss"] = total
        return parts

    @torch.no_grad()
    def predict(self, batch: CTRBatch) -> torch.Tensor:
        """Click probabilities (B,) in eval mode."""
        return torch.sigmoid(self(batch).logits)

    def save_pretrained(self, directory: str | Path) -> None:
        """``config.json`` (model config, feature spec, modality shapes) + ``model.safetensors``."""
        if self._item_repr_given:
            raise NotImplementedError("saving a model with a custom item representation needs that representation's "
                                      "own config; save its state dict instead")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"model_class": type(self).__name__, "config": dataclasses.asdict(self.config),
                "spec": dataclasses.asdict(self.spec), "modality_shapes": self.modality_shapes}
        (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()},
                  str(directory / "model.safetensors"))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "CTRModel":
        """Rebuild from ``save_pretrained`` output; modality tables come back from the weights file."""
        directory = Path(directory)
        meta = json.loads((directory / "config.json").read_text())
        if meta["model_class"] != cls.__name__:
            raise ValueError(f"{directory} holds a {meta['model_class']}, not a {cls.__name__}")
        placeholders = {k: (torch.zeros(shape), torch.zeros(shape[0], dtype=torch.bool))
                        for k, shape in meta["modality_shapes"].items()}
        model = cls(cls.config_class(**meta["config"]), FeatureSpec(**meta["spec"]), placeholders or None)
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return model
