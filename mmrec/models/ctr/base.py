"""What every CTR model shares: its output, its loss, construction from a config, and Hub save / load.

CTR models save and load through the Hub mixin like the sequential ones (``save_pretrained``,
``mmrec.hub.load_model``): the model config, the item side's description, the feature spec and the modality
tables' shapes go to ``config.json``; every tensor (modality tables and item side included) to ``model.safetensors``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.core.config import from_dict
from mmrec.core.hub_mixin import HubMixin
from mmrec.data.ctr_batches import CTRBatch, FeatureSpec
from mmrec.items import ITEM_REPRESENTATIONS, IDEmbedding, ItemRepresentation

Modalities = dict[str, tuple[torch.Tensor, torch.Tensor]]  # name -> (embeddings (N+1, d), present (N+1,))


@dataclasses.dataclass
class CTROutput:
    """Scores of a batch plus the model's auxiliary loss terms (unweighted; the model's config weights them)."""

    logits: torch.Tensor  # (B,)
    aux: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


class CTRModel(HubMixin, nn.Module):
    """Base class: ``forward(batch) -> CTROutput``; ``loss`` = BCE + weighted auxiliary terms.

    Item vectors (target and history) come from ``self.item_repr``: an ID table by default, or the item side
    passed in (e.g. :class:`~mmrec.models.ctr.item_side.TripleExpertItems`).
    """

    task = "ctr"
    config_class: ClassVar[type]

    def __init__(self, config: Any, spec: FeatureSpec, modalities: Modalities | None = None,
                 item_repr: ItemRepresentation | None = None):
        super().__init__()
        self.config, self.spec, self.n_items = config, spec, spec.n_items
        self.modality_shapes = {k: list(v[0].shape) for k, v in (modalities or {}).items()}

    @classmethod
    def item_representation_classes(cls) -> dict[str, type[nn.Module]]:
        return ITEM_REPRESENTATIONS

    @classmethod
    def modalities_needed(cls, config: Any) -> list[str]:
        """Item modality tables (encode outputs) a model with this config reads; none by default."""
        return []

    @staticmethod
    def default_item_repr(spec: FeatureSpec, dim: int, item_repr: ItemRepresentation | None) -> ItemRepresentation:
        """The item seam: the given representation (triple experts, codes, ...) or a plain ID table."""
        if item_repr is None:
            return IDEmbedding(spec.n_items, dim)
        if item_repr.dim != dim or item_repr.n_items != spec.n_items:
            raise ValueError(f"item representation is {item_repr.n_items} items x {item_repr.dim}-d, "
                             f"the model needs {spec.n_items} x {dim}-d")
        return item_repr

    def hub_init_args(self) -> dict[str, Any]:
        return {"spec": dataclasses.asdict(self.spec), "modality_shapes": self.modality_shapes}

    @classmethod
    def hub_rebuild_args(cls, init_args: dict[str, Any], config: Any) -> dict[str, Any]:
        """The feature spec, and zero modality tables of the saved shapes (the weights file fills them in)."""
        tables = {name: (torch.zeros(shape), torch.zeros(shape[0], dtype=torch.bool))
                  for name, shape in init_args["modality_shapes"].items()}
        return {"spec": from_dict(FeatureSpec, init_args["spec"], "init_args.spec"), "modalities": tables or None}

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
