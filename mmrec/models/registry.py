"""The model registry: name -> (model class, config class). Explicit, no import-time registration.

Adding a model = one file with a config dataclass and a ``Recommender`` subclass, plus one line below.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mmrec.models.base import ModelData, Recommender
from mmrec.models.content_knn import ContentKNN, ContentKNNConfig
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.item_repr import ItemRepresentation
from mmrec.models.popularity import Popularity, PopularityConfig
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.models.semantic_sasrec import SemanticSASRec, SemanticSASRecConfig


def _semantic(name: str, what: str) -> ModelSpec:
    return ModelSpec(name, SemanticSASRec, SemanticSASRecConfig, f"SASRec over item ID + {what}",
                     (("variant", name),))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class and the dataclass holding its hyper-parameters."""

    name: str
    model_class: type[Recommender]
    config_class: type
    description: str
    defaults: tuple[tuple[str, Any], ...] = ()  # config fields filled in when left empty (e.g. the code variant)

    def build(self, config: Any, data: ModelData, item_repr: ItemRepresentation | None = None) -> Recommender:
        unset = {key: value for key, value in self.defaults if not getattr(config, key)}
        config = dataclasses.replace(config, **unset) if unset else config
        return self.model_class.build(config, data, item_repr)

    @property
    def needs_codes(self) -> bool:
        """Whether the model reads semantic IDs (``ModelData.item_codes``) from the quantize stage."""
        return getattr(self.model_class, "needs_codes", False)


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    ModelSpec("popularity", Popularity, PopularityConfig, "most-interacted items first (floor)"),
    ModelSpec("content_knn", ContentKNN, ContentKNNConfig, "cosine of item content to the history's mean"),
    ModelSpec("sasrec", SASRec, SASRecConfig, "causal self-attention over item IDs"),
    ModelSpec("gru4rec", GRU4Rec, GRU4RecConfig, "GRU over item IDs"),
    ModelSpec("sasrec_sem", SemanticSASRec, SemanticSASRecConfig, "SASRec over item ID + semantic IDs of `variant`"),
    *(_semantic(f"rq{s}", f"one residual quantizer with {s}x the levels") for s in (1, 2, 3, 7)),
    *(_semantic(f"moc{n}", f"{n} Mixture-of-Codes codebooks") for n in (1, 2, 3, 7)),
]}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        import difflib

        close = difflib.get_close_matches(name, list(MODELS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise KeyError(f"unknown model '{name}'{hint} (models: {', '.join(MODELS)})")
    return MODELS[name]
