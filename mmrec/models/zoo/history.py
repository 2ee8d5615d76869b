"""The user's behaviour sequence as zoo models read it: the most recent ``max_history`` events of a sequence
field, chosen sub-fields concatenated per event, with the mask of real events.

Every behaviour-sequence model (DIN, DARE, TLSI, DPN, ...) names its fields in its config, never by a hard-coded
column: ``target_fields`` are flat categorical fields of the candidate (item, category), ``history_fields`` the
sub-fields of ``sequence_field`` that describe the same things for each past event (they share the target
fields' vocabularies, so target and behaviours live in one embedding space). The feature map left-pads sequences
(oldest first), so the most recent events are the last columns.
"""

from __future__ import annotations

import dataclasses

import torch

from mmrec.features.layer import PACKED, FeatureLayer, FieldEmbeddings
from mmrec.models.zoo.base import MLPConfig


@dataclasses.dataclass
class HistoryConfig(MLPConfig):
    """Where the target and its behaviour sequence are; defaults follow the ml-100k CTR recipe's field names."""

    sequence_field: str = "history"
    target_fields: list[str] = dataclasses.field(default_factory=lambda: ["item", "category"])
    history_fields: list[str] = dataclasses.field(default_factory=lambda: ["hist_item", "hist_category"])
    max_history: int = 50


class HistoryReader:
    """Checks a config's field names against a feature layer once, then slices batches cheaply."""

    def __init__(self, layer: FeatureLayer, config: HistoryConfig):
        if len(config.target_fields) != len(config.history_fields):
            raise ValueError(f"target_fields {config.target_fields} and history_fields {config.history_fields} "
                             "must pair up one to one")
        if config.max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {config.max_history}")
        sequences = {e.name: e for e in layer.seqs}
        if config.sequence_field not in sequences:
            raise ValueError(f"sequence_field '{config.sequence_field}' is not a sequence field of the feature map "
                             f"(sequences: {', '.join(sequences) or 'none'})")
        subs = {s.name.split(".", 1)[1]: s for s in sequences[config.sequence_field].fields}
        for name in config.history_fields:
            if name not in subs or subs[name].kind != "categorical":
                raise ValueError(f"history field '{name}' is not a categorical sub-field of "
                                 f"'{config.sequence_field}' (sub-fields: {', '.join(subs)})")
        for name in config.target_fields:
            if name not in layer.categorical:
                raise ValueError(f"target field '{name}' is not a flat categorical field "
                                 f"(categorical fields: {', '.join(layer.categorical)})")
        self.subs, self.offsets, self.categorical = subs, layer.offsets, list(layer.categorical)
        self.sequence = config.sequence_field
        self.keys = [f"{config.sequence_field}.{name}" for name in config.history_fields]
        self.target_index = [layer.field_names.index(name) for name in config.target_fields]
        self.max_history = config.max_history
        layer.read_sequence(config.sequence_field, config.max_history)  # the layer embeds these columns only
        self.width = len(config.target_fields) * layer.embed_dim  # of a target / behaviour vector

    def target(self, emb: FieldEmbeddings) -> torch.Tensor:
        """(B, width): the candidate's target-field embeddings, concatenated."""
        return emb.flat[:, self.target_index].flatten(1)

    def behaviours(self, emb: FieldEmbeddings) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, width) the most recent ``max_history`` events' embeddings, and their (B, H) mask."""
        parts = emb.sequences[self.sequence]
        keys = torch.cat([parts[k][:, -self.max_history:] for k in self.keys], -1)
        return keys, emb.masks[self.sequence][:, -self.max_history:]

    def flat_index(self, names: list[str], option: str) -> list[int]:
        """Columns of ``emb.flat`` of more flat categorical fields (context parts such as ``when.hour``);
        ``option`` names the config key in the error."""
        for name in names:
            if name not in self.categorical:
                raise ValueError(f"{option}: '{name}' is not a flat categorical field "
                                 f"(categorical fields: {', '.join(self.categorical)})")
        return [self.categorical.index(name) for name in names]

    def extra_keys(self, names: list[str], kind: str, option: str) -> list[str]:
        """Batch keys of more sub-fields of the same sequence (hour, weekday, age, ...), checked by name and kind."""
        for name in names:
            if name not in self.subs or self.subs[name].kind != kind:
                raise ValueError(f"{option}: '{name}' is not a {kind} sub-field of '{self.sequence}' "
                                 f"(sub-fields: {', '.join(self.subs)})")
        return [f"{self.sequence}.{name}" for name in names]

    def recent(self, emb: FieldEmbeddings, keys: list[str]) -> torch.Tensor:
        """The most recent ``max_history`` events of more sub-fields: categorical ones concatenated (B, H, n·d),
        numeric ones stacked (B, H, n)."""
        parts = emb.sequences[self.sequence]
        if parts[keys[0]].dim() == 2:
            return torch.stack([parts[k][:, -self.max_history:] for k in keys], -1)
        return torch.cat([parts[k][:, -self.max_history:] for k in keys], -1)

    def rows(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of the feature layer's shared table for the target fields (B, T) and the recent behaviours'
        history fields (B, H, T), 0 = padding: how a model indexes a second table laid out like the shared one
        (DARE's attention embeddings). ``batch`` must be packed (:meth:`FeatureLayer.pack`)."""
        target = batch[PACKED][:, self.target_index]
        behaviours = []
        for key in self.keys:
            local = batch[key][:, -self.max_history:]
            behaviours.append(torch.where(local > 0, local + self.offsets[key], 0))
        return target, torch.stack(behaviours, -1)

    @staticmethod
    def recency(mask: torch.Tensor) -> torch.Tensor:
        """(H,) recency index of each window column: the last (most recent) 1, the first H; 0 is the target's."""
        return torch.arange(mask.shape[1], 0, -1, device=mask.device)

def sequence_subfield(layer: FeatureLayer, sequence_field: str, name: str, kind: str = "categorical") -> str:
    """The batch / embedding key (``<sequence>.<name>``) of one sub-field of a sequence, checked to exist with
    ``kind``: one error naming the field and the sub-fields there are."""
    sequences = {e.name: e for e in layer.seqs}
    if sequence_field not in sequences:
        raise ValueError(f"sequence_field '{sequence_field}' is not a sequence field of the feature map "
                         f"(sequences: {', '.join(sequences) or 'none'})")
    subs = {s.name.split(".", 1)[1]: s for s in sequences[sequence_field].fields}
    if name not in subs or subs[name].kind != kind:
        raise ValueError(f"'{name}' is not a {kind} sub-field of '{sequence_field}' (sub-fields: {', '.join(subs)})")
    return f"{sequence_field}.{name}"


def token_flags(layer: FeatureLayer, key: str, tokens: list[str]) -> torch.Tensor:
    """(size,) bool over a categorical (sub-)field's local indices: True where the value is one of ``tokens``
    (e.g. which ratings count as a positive action); padding and out-of-vocabulary are False."""
    entry = next(sub for e in layer.feature_map.features for sub in (e.fields or [e]) if sub.name == key)
    vocab = layer.feature_map.entry(entry.vocabulary_of).vocab if entry.vocabulary_of else entry.vocab
    unknown = sorted(set(tokens) - set(vocab))
    if unknown:
        raise ValueError(f"field '{key}': values {unknown} are not in its vocabulary ({', '.join(vocab[:20])}...)")
    wanted = set(tokens)
    return torch.tensor([False, False] + [v in wanted for v in vocab])
