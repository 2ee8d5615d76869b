"""SASRec whose item side is a Mixture-of-Codes semantic ID (METHODS.md §2), optionally plus the item-ID embedding.

The codes come from the ``quantize`` stage through ``ModelData.item_codes[variant]`` (``(N + 1, C, L)``, row 0 =
padding). An item's vector is ``SemanticIDRepresentation``: C x L code embeddings, self-gated, projected to ``dim``,
plus its ID embedding when ``with_id`` and the item occurs in the training sequences. Items never seen in training
are represented by their codes alone (their ID rows would only be trained as softmax negatives, i.e. pushed down);
their code embeddings are shared with warm items, which is what should help cold items.

Every (codebook, level) table is ``dim`` wide by default, so capacity grows with the number of codebooks N: the
paper's 1x / 2x / 3x / 7x scale axis. ``code_width`` instead holds the total code width C x L x code_dim fixed
across variants (e.g. 252 = 3 x 84: code_dim 84 for 1 x 3 codes, 12 for 7 x 3), so more codebooks means narrower
tables: the fixed-width variant, kept as an option.

:class:`MultiEmbeddingSASRec` is the Multi-Embedding baseline at equal size: ``n_tables`` independent ID tables per
item, fused by the same self-gating bottleneck (identity "codes", no quantizer), so the difference to MoC is what
codes share between items, not the fusion or the number of vectors per item.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from mmrec.core.config import ConfigError
from mmrec.items.base import ItemRepresentation
from mmrec.items.codes import SemanticIDRepresentation
from mmrec.models.base import ModelData
from mmrec.models.sasrec import SASRec, SASRecConfig


@dataclasses.dataclass
class SemanticSASRecConfig(SASRecConfig):
    variant: str = ""  # a quantize variant (rq1, moc3, ...); empty = the model's registry name
    with_id: bool = True  # ID ⊕ codes; false: items are their codes only
    code_width: int | None = None  # null: every code table dim wide (capacity grows with N); int: C x L x code_dim fixed
    reduce: Literal["sum", "project"] = "project"
    bottleneck: int | None = None  # gate hidden width (default dim)
    activation: Literal["relu", "gelu"] = "relu"

    def validate(self) -> None:
        super().validate()
        if self.code_width is not None and self.code_width < 1:
            raise ConfigError(f"code_width must be >= 1 or null, got {self.code_width}")


def code_dim_for(config: SemanticSASRecConfig, n_codebooks: int, levels: int) -> int | None:
    if config.code_width is None:
        return None
    code_dim = config.code_width // (n_codebooks * levels)
    if code_dim < 1:
        raise ConfigError(f"code_width {config.code_width} leaves no width for {n_codebooks} x {levels} codes")
    return code_dim


class SemanticSASRec(SASRec):
    """SASRec over ``SemanticIDRepresentation`` items; built from ``ModelData.item_codes``."""

    model_type = "sasrec_sem"
    config_class = SemanticSASRecConfig
    needs_codes = True
    scores_unseen_items = True

    @classmethod
    def build(cls, config: Any, data: ModelData, item_repr: ItemRepresentation | None = None) -> SASRec:
        config = dataclasses.replace(config, n_items=data.n_items)
        if item_repr is None:
            codes = (data.item_codes or {}).get(config.variant)
            if codes is None:
                raise ConfigError(f"no semantic-ID codes for variant '{config.variant}' (quantize variants: "
                                  f"{sorted(data.item_codes or {})}); add it to the quantize section")
            if len(codes) != data.n_items + 1:
                raise ValueError(f"codes have {len(codes)} rows, expected N + 1 = {data.n_items + 1}")
            code_dim = code_dim_for(config, codes.shape[1], codes.shape[2])
            item_repr = SemanticIDRepresentation(
                codes, config.dim, int(codes[1:].max()) + 1, bottleneck=config.bottleneck,
                activation=config.activation, reduce=config.reduce if code_dim in (None, config.dim) else "project",
                with_id=config.with_id, code_dim=code_dim, id_items=data.item_train_counts() > 0)
        return cls(config, item_repr)


@dataclasses.dataclass
class MultiEmbeddingConfig(SASRecConfig):
    n_tables: int = 3  # independent ID tables per item (match MoC's C x L code vectors for an equal-size baseline)
    reduce: Literal["sum", "project"] = "project"
    bottleneck: int | None = None  # gate hidden width (default dim)
    activation: Literal["relu", "gelu"] = "relu"

    def validate(self) -> None:
        super().validate()
        if self.n_tables < 1:
            raise ConfigError(f"n_tables must be >= 1, got {self.n_tables}")


class MultiEmbeddingSASRec(SASRec):
    """SASRec whose items are ``n_tables`` ID embeddings fused like semantic codes (identity codes)."""

    model_type = "sasrec_me"
    config_class = MultiEmbeddingConfig

    @classmethod
    def build(cls, config: Any, data: ModelData, item_repr: ItemRepresentation | None = None) -> SASRec:
        config = dataclasses.replace(config, n_items=data.n_items)
        if item_repr is None:
            identity = np.repeat(np.arange(data.n_items + 1)[:, None, None], config.n_tables, axis=1)
            item_repr = SemanticIDRepresentation(identity, config.dim, data.n_items + 1, bottleneck=config.bottleneck,
                                                 activation=config.activation, reduce=config.reduce)
        return cls(config, item_repr)
