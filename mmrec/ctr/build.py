"""A CTR model from its catalogue name: typed config (section settings, variant, overrides) and item side checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmrec import catalogue
from mmrec.data.ctr_batches import FeatureSpec
from mmrec.items.base import ItemRepresentation
from mmrec.items.triple import TripleExpertItems
from mmrec.models.ctr.base import CTRModel, Modalities


def build_ctr_model(name: str, spec: FeatureSpec, modalities: Modalities | None = None,
                    shared: Mapping[str, Any] | None = None, item_repr: ItemRepresentation | None = None,
                    params: Mapping[str, Any] | None = None) -> CTRModel:
    """Instantiate catalogue entry ``name``: ``shared`` settings (e.g. ``embed_dim``) apply where the config has the
    field, then the variant's overrides, then ``params`` (unknown keys are an error).

    ``*_te`` variants read items through the triple-expert item side: pass ``item_repr`` =
    :class:`~mmrec.items.triple.TripleExpertItems` of the model's ``embed_dim``.
    """
    model_spec, variant = catalogue.resolve(name, "ctr.models", task="ctr")
    if variant.triple_items and not isinstance(item_repr, TripleExpertItems):
        raise ValueError(f"CTR model '{name}' reads items through the triple-expert item side: pass "
                         "item_repr=TripleExpertItems(...) (the ctr stage builds it from ctr.item_side)")
    config = catalogue.model_config(name, params or {}, f"ctr.model_overrides.{name}", shared or {})
    return model_spec.model_class(config, spec, modalities, item_repr)
