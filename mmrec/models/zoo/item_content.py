"""What a behaviour-sequence model knows about an item beyond its fields: the frozen content vectors (text / image /
LLM embedding fields) of the target and of every history item, and optionally the triple-expert item side in
place of the item-ID embedding.

Content: each modality m named by ``modalities`` is an ``embedding`` field keyed by the item; its frozen table is
L2-normalised and projected to d (METHODS.md §3: "all modality embeddings are L2-normalised and projected to a
common d"), once per forward (cheaper than projecting every looked-up row). The target's rows are its own embedding
field (so a target the item vocabulary never saw keeps its vector); a behaviour's rows come through
:meth:`FeatureLayer.content_rows`. Items without a vector (265 ml-100k movies have no poster) get a zero vector
and a False presence flag.

Item side ``triple`` (the ``*_te`` rows): the item-ID embedding of the target and of every behaviour is replaced by
:class:`~mmrec.models.zoo.triple.FieldTripleItems`, PAD's frequency-gated mix of the ID expert and the aligned
content expert over ``triple_content``, gated by the item's training frequency (``item_counts``).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.layer import PACKED, FeatureLayer, FieldEmbeddings
from mmrec.models.zoo.history import HistoryConfig, HistoryReader
from mmrec.models.zoo.triple import FieldTripleItems

ITEM_SIDES = ("id", "triple")


@dataclasses.dataclass
class ItemContentConfig(HistoryConfig):
    """``item_field``: the target item (one of ``target_fields``; its partner in ``history_fields`` is the
    behaviour's item). ``modalities``: embedding fields keyed by the item; None = every one the feature map has,
    [] = none. ``item_side``: "id" (the field's embedding) or "triple" (needs ``item_counts`` at build time)."""

    item_field: str = "item"
    modalities: list[str] | None = None
    item_side: str = "id"
    triple_content: str = ""  # embedding field of the triple side's content expert; "" = the first item-keyed one
    n_bins: int = 10  # triple side: bins of equal training-interaction mass, plus the never-seen bin
    projector_layers: int = 2
    projector_dropout: float = 0.1
    cold_dropout: float = 0.1  # triple side: share of items served without their ID at each training forward

    def __post_init__(self) -> None:
        if self.item_side not in ITEM_SIDES:
            raise ValueError(f"item_side must be one of {', '.join(ITEM_SIDES)}, got '{self.item_side}'")


class ItemContent(nn.Module):
    """Item vectors of the target and of the most recent ``max_history`` behaviours: ID part and content parts."""

    def __init__(self, layer: FeatureLayer, history: HistoryReader, config: ItemContentConfig,
                 item_counts: torch.Tensor | None = None):
        super().__init__()
        if config.item_field not in config.target_fields:
            raise ValueError(f"item_field '{config.item_field}' must be one of target_fields {config.target_fields}")
        self.layer = [layer]  # not a sub-module: the model owns the feature layer
        self.slot = config.target_fields.index(config.item_field)
        self.item_field, self.dim, self.max_history = config.item_field, layer.embed_dim, config.max_history
        self.sequence = config.sequence_field
        self.history_key = history.keys[self.slot]
        self.flat_index = layer.field_names.index(config.item_field)
        self.packed_column = layer.categorical.index(config.item_field)
        keyed = [e.name for e in layer.frozen if e.source == layer.feature_map.entry(config.item_field).source]
        self.modalities = list(keyed if config.modalities is None else config.modalities)
        unknown = [m for m in self.modalities if m not in keyed]
        if unknown:
            raise ValueError(f"modalities {unknown} are not embedding fields keyed by '{config.item_field}' "
                             f"(those are: {', '.join(keyed) or 'none'})")
        for m in self.modalities:
            self.register_buffer(f"rows_{m}", layer.content_rows(config.item_field, m), persistent=False)
        self.project = nn.ModuleDict({m: nn.Linear(layer.feature_map.entry(m).dim, self.dim)
                                      for m in self.modalities})
        self.triple = self._triple(layer, config, keyed, item_counts) if config.item_side == "triple" else None

    def _triple(self, layer: FeatureLayer, config: ItemContentConfig, keyed: list[str],
                item_counts: torch.Tensor | None) -> FieldTripleItems:
        if item_counts is None:
            raise ValueError("item_side 'triple' needs item_counts: training events per item index "
                             "(mmrec.models.zoo.triple.item_counts(feature_map, train))")
        content = config.triple_content or (keyed[0] if keyed else "")
        if content not in keyed:
            raise ValueError(f"triple_content '{content}' is not an embedding field keyed by '{config.item_field}' "
                             f"(those are: {', '.join(keyed) or 'none'})")
        size = layer.feature_map.entry(config.item_field).size
        if item_counts.shape != (size,):
            raise ValueError(f"item_counts has shape {list(item_counts.shape)}, the item field '{config.item_field}' "
                             f"has {size} rows")
        self.triple_content = content
        self.register_buffer("rows_triple", layer.content_rows(config.item_field, content), persistent=False)
        table = getattr(layer, f"frozen_{content}")[self.rows_triple]
        return FieldTripleItems(item_counts, table, self.dim, None, config.n_bins, config.projector_layers,
                                config.projector_dropout, config.cold_dropout)

    def target_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) local indices of the target item, from an encoded or a packed batch."""
        if self.item_field in batch:
            return batch[self.item_field]
        packed = batch[PACKED][:, self.packed_column]
        return torch.where(packed > 0, packed - self.layer[0].offsets[self.item_field], 0)

    def history_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch[self.history_key][:, -self.max_history:]

    def content(self, batch: dict[str, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Target (B, M, d) and behaviour (B, H, M, d) content vectors with their presence masks (B, M), (B, H, M)."""
        history = self.history_items(batch)
        targets, behaviours, t_present, h_present = [], [], [], []
        for m in self.modalities:
            table = self.project[m](F.normalize(getattr(self.layer[0], f"frozen_{m}"), dim=-1))
            t_rows, h_rows = batch[m], getattr(self, f"rows_{m}")[history]
            t_present.append(t_rows > 0)
            h_present.append(h_rows > 0)
            targets.append(table[t_rows] * t_present[-1].unsqueeze(-1))
            behaviours.append(table[h_rows] * h_present[-1].unsqueeze(-1))
        if not self.modalities:
            b, h = history.shape
            empty, none = history.new_zeros((b, h, 0), dtype=torch.bool), history.new_zeros((b, h, 0, self.dim),
                                                                                          dtype=torch.float)
            return none[:, 0], empty[:, 0], none, empty
        return (torch.stack(targets, 1), torch.stack(t_present, 1), torch.stack(behaviours, 2),
                torch.stack(h_present, 2))

    def ids(self, emb: FieldEmbeddings, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The item vectors standing for the ID: target (B, d) and behaviours (B, H, d) (the layer's embedding,
        or the triple-expert mix)."""
        if self.triple is None:
            return emb.flat[:, self.flat_index], emb.sequences[self.sequence][self.history_key][:, -self.max_history:]
        frozen, history = getattr(self.layer[0], f"frozen_{self.triple_content}"), self.history_items(batch)
        rows = torch.cat([batch[self.triple_content].unsqueeze(1), self.rows_triple[history]], 1)
        mixed = self.triple(torch.cat([self.target_items(batch).unsqueeze(1), history], 1), frozen[rows])
        return mixed[:, 0], mixed[:, 1:]  # one call: one draw of the cold-dropout items for target and history

    def swap(self, emb: FieldEmbeddings, target: torch.Tensor, keys: torch.Tensor, target_id: torch.Tensor,
             history_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """HistoryReader's target / behaviour vectors and the flat fields with the item slot replaced by the given
        ID vectors (a no-op for the plain ID side)."""
        if self.triple is None:
            return emb.flat, target, keys
        lo, hi = self.slot * self.dim, (self.slot + 1) * self.dim
        flat = torch.cat([emb.flat[:, :self.flat_index], target_id.unsqueeze(1), emb.flat[:, self.flat_index + 1:]], 1)
        target = torch.cat([target[:, :lo], target_id, target[:, hi:]], -1)
        keys = torch.cat([keys[..., :lo], history_id, keys[..., hi:]], -1)
        return flat, target, keys
