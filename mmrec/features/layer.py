"""The feature layer: a fitted :class:`FeatureMap` -> per-field embeddings ``(B, F, d)`` for the flat fields,
sequence tensors + masks for sequence fields, projected frozen vectors for ``embedding`` fields.

Every categorical-like table (categorical, domain, context parts, multi-categorical, sequence sub-fields with
their own vocabulary) is one block of a single table: global row = local index + the field's offset, and local 0
(padding / missing) maps to the shared all-zero row 0, so one lookup serves all flat fields. ``linear=True`` adds
the first-order weights (same layout, width 1) that LR / FM / DeepFM add to their logit. A numeric field with the
``bucket`` or ``mnse`` encoding gets its embedding from a :class:`NumericEncoder` (its first-order weight stays
value × weight).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mmrec.features.feature_map import Entry, FeatureMap
from mmrec.features.numeric_encoding import NumericEncoder

EMBED_INIT_STD = 1e-4  # small normal init of the tables (as BARS / FuxiCTR)
PACKED = "_categorical"  # key of the packed (N, F_cat) global indices that :meth:`FeatureLayer.pack` adds


@dataclasses.dataclass
class FieldEmbeddings:
    """``flat`` (B, F, d) in :attr:`FeatureLayer.field_names` order; per sequence: sub-field -> (B, L, d)
    embeddings (numeric sub-fields: (B, L) values, 0 where missing) and a (B, L) mask of real events."""

    flat: torch.Tensor
    sequences: dict[str, dict[str, torch.Tensor]] = dataclasses.field(default_factory=dict)
    masks: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


class FeatureLayer(nn.Module):
    """Embeds encoded batches of one feature map; ``pretrained``: embedding field -> frozen (n_items + 1, D)
    table (row 0 = no vector); without it, zero tables of the map's shapes (a saved model's weights fill them)."""

    def __init__(self, feature_map: FeatureMap, embed_dim: int, pretrained: dict[str, torch.Tensor] | None = None,
                 linear: bool = False):
        super().__init__()
        self.feature_map, self.embed_dim = feature_map, embed_dim
        feats = feature_map.features
        self.categorical = [e.name for e in feats if e.kind == "categorical"]
        self.multi = [e for e in feats if e.kind == "multi_categorical"]
        self.numeric = [e.name for e in feats if e.kind == "numeric"]
        self.frozen = [e for e in feats if e.kind == "embedding"]
        self.seqs = [e for e in feats if e.kind == "sequence"]
        # sequence -> how many recent events forward embeds; None: every sequence in full. A model that declares
        # what it reads (read_sequence) gets only those columns embedded: the rest is work nothing looks at.
        self.sequence_windows: dict[str, int] | None = None
        self.field_names = (self.categorical + [e.name for e in self.multi] + self.numeric
                            + [e.name for e in self.frozen])
        self.offsets: dict[str, int] = {}
        rows = 1
        for e in feats:
            for sub in e.fields or [e]:
                if sub.kind in ("categorical", "multi_categorical") and not sub.vocabulary_of:
                    self.offsets[sub.name], rows = rows, rows + sub.size
        for e in self.seqs:
            for sub in e.fields:
                if sub.vocabulary_of:
                    self.offsets[sub.name] = self.offsets[sub.vocabulary_of]
        self.register_buffer("cat_offsets", torch.tensor([self.offsets[n] for n in self.categorical]).long(),
                             persistent=False)
        self.table = nn.Embedding(rows, embed_dim, padding_idx=0)
        n_num = len(self.numeric)
        self.numeric_weight = nn.Parameter(torch.zeros(n_num, embed_dim))
        self.numeric_missing = nn.Parameter(torch.zeros(n_num, embed_dim))
        encoded = [(k, e) for k, e in enumerate(e for e in feats if e.kind == "numeric")
                   if e.encoding in ("bucket", "mnse")]
        self.encoded_columns = [k for k, _ in encoded]
        self.numeric_encoders = nn.ModuleList(NumericEncoder(e, embed_dim) for _, e in encoded)
        for e in self.frozen:
            table = (pretrained or {}).get(e.name)
            shape = (len(e.vocab) + 1, e.dim)
            if table is None:
                table = torch.zeros(shape)
            elif tuple(table.shape) != shape:
                raise ValueError(f"embedding field '{e.name}': the pretrained table is {list(table.shape)}, the "
                                 f"feature map needs {list(shape)} (row 0 = no vector, then its {len(e.vocab)} IDs)")
            self.register_buffer(f"frozen_{e.name}", table.float().clone())
        self.project = nn.ModuleDict({e.name: nn.Linear(e.dim, embed_dim) for e in self.frozen})
        self.linear = _FirstOrder(self, rows) if linear else None
        # Set by mmrec.train.sharded_tables: (B, F_cat) local indices -> (B, F_cat, d) from sharded tables.
        self.categorical_lookup: nn.Module | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.table.weight, std=EMBED_INIT_STD)
        with torch.no_grad():
            self.table.weight[0].zero_()
        nn.init.normal_(self.numeric_weight, std=EMBED_INIT_STD)
        nn.init.normal_(self.numeric_missing, std=EMBED_INIT_STD)
        for encoder in self.numeric_encoders:
            nn.init.normal_(encoder.table.weight, std=EMBED_INIT_STD)

    @property
    def num_fields(self) -> int:
        return len(self.field_names)

    def table_sizes(self) -> dict[str, int]:
        """Rows per field, in the feature map's terms (what :meth:`FeatureMap.check_sizes` compares)."""
        sizes = {}
        for e in self.feature_map.features:
            for sub in e.fields or [e]:
                if sub.kind in ("categorical", "multi_categorical"):
                    owner = self.feature_map.entry(sub.vocabulary_of) if sub.vocabulary_of else sub
                    sizes[sub.name] = owner.size
        for e in self.frozen:
            sizes[e.name] = getattr(self, f"frozen_{e.name}").shape[0]
        return sizes

    def field_table(self, name: str) -> torch.Tensor:
        """One field's block of the shared table (its vocabulary rows; padding / OOV rows included)."""
        entry = self.feature_map.entry(name)
        start = self.offsets[name]
        return self.table.weight[start:start + entry.size]

    def content_rows(self, item_field: str, embedding: str) -> torch.Tensor:
        """(rows of ``item_field``'s vocabulary,) the row of embedding field ``embedding``'s frozen table for each
        local index of the categorical ``item_field`` (0 = no vector: padding, out-of-vocabulary, an item the table
        lacks). Behaviours carry the item field's indices (``vocabulary_of``), an embedding field its own rows:
        a model keeps this as a buffer, once, to read the frozen vectors of its history items."""
        item, frozen = self.feature_map.entry(item_field), self.feature_map.entry(embedding)
        if item.kind != "categorical" or frozen.kind != "embedding":
            raise ValueError(f"content_rows needs a categorical field and an embedding field, got '{item_field}' "
                             f"({item.kind}) and '{embedding}' ({frozen.kind})")
        if item.source != frozen.source:
            raise ValueError(f"embedding field '{embedding}' is keyed by column '{frozen.source}', the categorical "
                             f"field '{item_field}' reads column '{item.source}': they do not name the same items")
        found = pd.Index(frozen.vocab, dtype=object).get_indexer(pd.Index(item.vocab, dtype=object))
        return torch.from_numpy(np.concatenate([[0, 0], np.where(found >= 0, found + 1, 0)])).long()

    def _global(self, local: torch.Tensor, name: str) -> torch.Tensor:
        return torch.where(local > 0, local + self.offsets[name], 0)

    def pack(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The flat categorical fields as one (N, F_cat) tensor of global rows in place of their own tensors
        (done once per dataset, so a training batch gathers one index tensor, not one per field)."""
        if PACKED in batch or not self.categorical:
            return batch
        local = torch.stack([batch[n] for n in self.categorical], 1)
        rest = {k: v for k, v in batch.items() if k not in self.categorical}
        return {**rest, PACKED: torch.where(local > 0, local + self.cat_offsets.to(local.device), 0)}

    def _pooled(self, e: Entry, batch: dict[str, torch.Tensor], table: torch.Tensor) -> torch.Tensor:
        local = batch[e.name]
        mask = (local > 0).unsqueeze(-1).to(table.dtype)
        summed = (F.embedding(self._global(local, e.name), table, padding_idx=0) * mask).sum(1)
        return summed / mask.sum(1).clamp_min(1.0) if e.pooling == "mean" else summed

    def _numeric_values(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.stack([batch[n] for n in self.numeric], 1)
        missing = torch.isnan(x)
        return torch.where(missing, 0.0, x), missing

    def forward(self, batch: dict[str, torch.Tensor]) -> FieldEmbeddings:
        batch = self.pack(batch)
        parts = []
        if self.categorical_lookup is not None:
            packed = batch[PACKED]
            parts.append(self.categorical_lookup(torch.where(packed > 0, packed - self.cat_offsets, 0)))
        elif self.categorical:
            parts.append(F.embedding(batch[PACKED], self.table.weight, padding_idx=0))
        parts += [self._pooled(e, batch, self.table.weight).unsqueeze(1) for e in self.multi]
        if self.numeric:
            x, missing = self._numeric_values(batch)
            values = x.unsqueeze(-1) * self.numeric_weight
            if self.encoded_columns:
                columns = list(values.unbind(1))
                for k, encoder in zip(self.encoded_columns, self.numeric_encoders):
                    columns[k] = encoder(x[:, k])
                values = torch.stack(columns, 1)
            parts.append(torch.where(missing.unsqueeze(-1), self.numeric_missing, values))
        for e in self.frozen:
            vectors = F.embedding(batch[e.name], getattr(self, f"frozen_{e.name}"))
            parts.append(self.project[e.name](vectors).unsqueeze(1))
        out = FieldEmbeddings(torch.cat(parts, 1))
        for e in self.seqs:
            window = None if self.sequence_windows is None else self.sequence_windows.get(e.name, 0)
            if window == 0:
                continue  # declared unread
            subs = {}
            for sub in e.fields:
                local = batch[sub.name] if window is None else batch[sub.name][:, -window:]
                if sub.kind == "categorical":
                    subs[sub.name] = F.embedding(self._global(local, sub.name), self.table.weight, padding_idx=0)
                    out.masks.setdefault(e.name, local > 0)
                else:
                    subs[sub.name] = torch.nan_to_num(local, nan=0.0)
            out.sequences[e.name] = subs
            first = batch[e.fields[0].name]
            out.masks.setdefault(e.name, ~torch.isnan(first if window is None else first[:, -window:]))
        return out

    def read_only_declared_sequences(self) -> None:
        """From now on ``forward`` embeds only the sequences (and recent events) declared by :meth:`read_sequence`."""
        if self.sequence_windows is None:
            self.sequence_windows = {}

    def read_sequence(self, name: str, window: int) -> None:
        """Declare that the model reads the last ``window`` events of sequence ``name`` (the widest declaration wins)."""
        if self.sequence_windows is not None:
            self.sequence_windows[name] = max(self.sequence_windows.get(name, 0), window)

    def first_order(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ of the first-order weights of every flat field (B,); needs ``linear=True``."""
        if self.linear is None:
            raise RuntimeError("this feature layer was built without first-order weights (linear=False)")
        return self.linear(self.pack(batch))

    def regularization(self) -> torch.Tensor:
        """½‖E‖² over the embedding tables (first-order table included), the BARS / FuxiCTR regulariser."""
        total = self.table.weight.pow(2).sum()
        for encoder in self.numeric_encoders:
            total = total + encoder.table.weight.pow(2).sum()
        if self.linear is not None:
            total = total + self.linear.table.weight.pow(2).sum()
        return 0.5 * total


class _FirstOrder(nn.Module):
    """Width-1 weights in the layout of the shared table, plus per-field weights for numeric / frozen fields."""

    def __init__(self, layer: FeatureLayer, rows: int):
        super().__init__()
        self.layer = [layer]  # a plain list: not a sub-module (no second copy of the tables in the state dict)
        self.table = nn.Embedding(rows, 1, padding_idx=0)
        self.numeric_weight = nn.Parameter(torch.zeros(len(layer.numeric)))
        self.numeric_missing = nn.Parameter(torch.zeros(len(layer.numeric)))
        self.project = nn.ModuleDict({e.name: nn.Linear(e.dim, 1, bias=False) for e in layer.frozen})
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.normal_(self.table.weight, std=EMBED_INIT_STD)
        with torch.no_grad():
            self.table.weight[0].zero_()

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        layer = self.layer[0]
        total = self.bias.expand(next(iter(batch.values())).shape[0])
        if layer.categorical:
            total = total + F.embedding(batch[PACKED], self.table.weight, padding_idx=0).sum((1, 2))
        for e in layer.multi:
            total = total + layer._pooled(e, batch, self.table.weight).squeeze(-1)
        if layer.numeric:
            x, missing = layer._numeric_values(batch)
            total = total + torch.where(missing, self.numeric_missing, x * self.numeric_weight).sum(1)
        for e in layer.frozen:
            vectors = F.embedding(batch[e.name], getattr(layer, f"frozen_{e.name}"))
            total = total + self.project[e.name](vectors).squeeze(-1)
        return total
