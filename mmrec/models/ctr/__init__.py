"""CTR models and their explicit registry: report key -> (model class, config class, config overrides).

Ablations are registry entries too, so a recipe names them like any model and the report shows them as rows.
``*_te`` entries read items through the triple-expert item side (ID ⊕ aligned content ⊕ MoC codes, gated by
item frequency; :mod:`mmrec.models.ctr.item_side`), which the caller builds and passes as ``item_repr``.
``CTR_MODEL_TYPES`` names the model classes for :mod:`mmrec.hub` (a saved model's ``model_type``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mmrec.data.ctr_batches import FeatureSpec
from mmrec.models.ctr.base import CTRModel, CTROutput, Modalities
from mmrec.models.ctr.deepfm import DeepFM, DeepFMConfig
from mmrec.models.ctr.diff_msin import DiffMSIN, DiffMSINConfig
from mmrec.models.ctr.din import DIN, DINConfig
from mmrec.models.ctr.item_side import TripleExpertItems
from mmrec.models.ctr.lr import LogisticRegression, LRConfig
from mmrec.models.item_repr import ItemRepresentation


@dataclasses.dataclass(frozen=True)
class CTRModelEntry:
    model_class: type[CTRModel]
    config_class: type
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    needs_modalities: bool = False
    triple_items: bool = False  # items through TripleExpertItems (built by the caller) instead of an ID table


CTR_MODELS: dict[str, CTRModelEntry] = {
    "lr": CTRModelEntry(LogisticRegression, LRConfig),
    "deepfm": CTRModelEntry(DeepFM, DeepFMConfig),
    "din": CTRModelEntry(DIN, DINConfig),
    "din_mm": CTRModelEntry(DIN, DINConfig, {"use_modalities": True}, needs_modalities=True),
    "diff_msin": CTRModelEntry(DiffMSIN, DiffMSINConfig, needs_modalities=True),
    "diff_msin_no_src": CTRModelEntry(DiffMSIN, DiffMSINConfig, {"use_src": False, "eps_weight": 0.0}, True),
    "diff_msin_no_dec": CTRModelEntry(DiffMSIN, DiffMSINConfig, {"decouple_weight": 0.0}, True),
    "diff_msin_no_image": CTRModelEntry(DiffMSIN, DiffMSINConfig, {"modalities": ["text"]}, True),
    "din_te": CTRModelEntry(DIN, DINConfig, triple_items=True),
    "din_mm_te": CTRModelEntry(DIN, DINConfig, {"use_modalities": True}, needs_modalities=True, triple_items=True),
    "diff_msin_te": CTRModelEntry(DiffMSIN, DiffMSINConfig, needs_modalities=True, triple_items=True),
}

CTR_MODEL_TYPES: dict[str, type[CTRModel]] = {"lr": LogisticRegression, "deepfm": DeepFM, "din": DIN,
                                              "diff_msin": DiffMSIN}


def build_ctr_model(name: str, spec: FeatureSpec, modalities: Modalities | None = None,
                    overrides: dict[str, Any] | None = None, item_repr: ItemRepresentation | None = None
                    ) -> CTRModel:
    """Instantiate registry entry ``name``; ``overrides`` (e.g. ``embed_dim``) apply where the config has the key.

    ``*_te`` entries need ``item_repr``: a :class:`TripleExpertItems` of the model's ``embed_dim``.
    """
    if name not in CTR_MODELS:
        raise KeyError(f"unknown CTR model '{name}'; registered: {', '.join(CTR_MODELS)}")
    entry = CTR_MODELS[name]
    if entry.triple_items and not isinstance(item_repr, TripleExpertItems):
        raise ValueError(f"CTR model '{name}' reads items through the triple-expert item side: pass "
                         "item_repr=TripleExpertItems(...) (the ctr stage builds it from ctr.item_side)")
    fields = {f.name for f in dataclasses.fields(entry.config_class)}
    kwargs = {k: v for k, v in (overrides or {}).items() if k in fields}
    kwargs.update(entry.defaults)
    return entry.model_class(entry.config_class(**kwargs), spec, modalities, item_repr)


__all__ = ["CTR_MODELS", "CTR_MODEL_TYPES", "CTRModel", "CTRModelEntry", "CTROutput", "DIN", "DINConfig", "DeepFM",
           "DeepFMConfig", "DiffMSIN", "DiffMSINConfig", "LRConfig", "LogisticRegression", "TripleExpertItems",
           "build_ctr_model"]
