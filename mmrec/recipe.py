"""The recipe schema: one typed dataclass per section, loaded from YAML with ``key=value`` overrides.

Sections live with the code that reads them (``data`` and ``split`` in :mod:`mmrec.data.config`, ``eval`` in
:mod:`mmrec.eval.config`, ``train`` in :mod:`mmrec.train.config`, ``pad`` in :mod:`mmrec.pad.config`, ``ctr`` in
:mod:`mmrec.ctr.config`); this module assembles them and checks every model name and hyper-parameter against the
one model catalogue when the recipe loads, so a typo stops the run before any stage starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from mmrec import catalogue
from mmrec.core.config import ConfigError, from_dict, merge, parse_overrides, read_yaml_mapping, suggest
from mmrec.ctr.config import CTRConfig
from mmrec.data.config import DataConfig, SplitConfig
from mmrec.eval.config import EvalConfig
from mmrec.features import FeatureError, parse_fields
from mmrec.pad.config import PADConfig
from mmrec.train.config import TrainConfig
from mmrec.train.fields import FieldTrainConfig


@dataclasses.dataclass
class EncoderSpec:
    """One item encoder of the ``encode`` stage; ``options`` go to the encoder class (pooling, batch_size, ...)."""

    kind: Literal["text", "image", "llm"] = "text"
    model: str | None = None  # Hub id or local path; null = the offline default of that kind
    tuning: Literal["frozen", "lora"] = "frozen"
    lora: dict[str, Any] = dataclasses.field(default_factory=dict)  # r, alpha, dropout, target_modules, steps, ...
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class EncodeConfig:
    """Item encoders by output name (``text``, ``image``, ``llm``, ...); embeddings are cached across runs."""

    encoders: dict[str, EncoderSpec] = dataclasses.field(default_factory=dict)  # none unless the recipe names them
    cache_dir: str | None = None  # default: <run dir>/cache/embeddings
    # encoders run at once, each in its own process with an equal share of the torch threads (1: one after
    # another here; mmrec.core.parallel). Encoders use both cores well (the demo's LLM: 124 s on 2 threads, 246 s
    # on 1), so on the 2-core demo 2 workers were slower (262 vs 232 s); it pays where an encoder scales badly
    workers: int = 1

    def validate(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"encode.workers must be >= 1, got {self.workers}")


@dataclasses.dataclass
class CodeVariant:
    """One semantic-ID variant: ``n_codebooks`` independent residual quantizers of ``levels`` x 2**nbits codes.

    ``nbits: auto`` sizes the codes to the catalogue (``semantic_ids.auto_nbits``: about sqrt(n_items) codes per
    level, at least 39 items per code, at most 256; 32 on ml-100k), so codes below the first level stay shared
    between items instead of being nearly unique per item. ``views``: what each codebook quantizes — random
    projections to ``view_dim`` (default d / 2), disjoint slices, or full rotations; null = projections with several
    codebooks, a rotation with one. ``bootstrap``: each codebook fits on its own seeded bootstrap sample.
    """

    n_codebooks: int = 3
    levels: int = 3
    nbits: int | Literal["auto"] = "auto"
    views: Literal["projection", "slice", "rotation"] | None = None
    view_dim: int | None = None  # width of each view; null = the view kind's natural width
    bootstrap: bool = True
    suffix: bool = False  # append a collision-suffix level (makes every codebook's tuple unique)

    def validate(self) -> None:
        if self.n_codebooks < 1 or self.levels < 1 or (self.nbits != "auto" and not 1 <= self.nbits <= 16):
            raise ConfigError("quantize variant: n_codebooks and levels must be >= 1 and nbits auto or in [1, 16]")


@dataclasses.dataclass
class QuantizeConfig:
    """Mixture-of-Codes semantic IDs (METHODS.md §2) fitted on one item-embedding source of the ``encode`` stage.

    Variants: ``moc<N>`` for every N in ``n_codebooks`` (N codebooks x ``levels``), ``rq<s>`` for every s in
    ``rq_scales`` (one codebook with s x ``levels`` levels: the single deeper quantizer), plus any explicit
    ``variants``. Items without the source modality get a reserved code (2**nbits) at every level.
    """

    source: Literal["text", "image", "llm", "concat"] = "text"  # "aligned" (PAD) is reserved for later
    n_codebooks: list[int] | int = dataclasses.field(default_factory=lambda: [1, 2, 3, 7])
    rq_scales: list[int] = dataclasses.field(default_factory=lambda: [1])
    levels: int = 3
    nbits: int | Literal["auto"] = "auto"
    views: Literal["projection", "slice", "rotation"] | None = None
    view_dim: int | None = None
    bootstrap: bool = True
    suffix: bool = False
    variants: dict[str, CodeVariant] = dataclasses.field(default_factory=dict)
    modalities_dir: str | None = None  # read the source from these modality tables instead of the encode stage's
    train_size: int = 65536
    niter: int = 20
    nredo: int = 5  # k-means runs per level, the best kept (one run often puts most items on one code of a level)
    seed: int = 0

    def validate(self) -> None:
        counts = [self.n_codebooks] if isinstance(self.n_codebooks, int) else self.n_codebooks
        if any(n < 1 for n in counts) or any(s < 1 for s in self.rq_scales):
            raise ConfigError("quantize.n_codebooks and quantize.rq_scales must be >= 1")
        CodeVariant(1, self.levels, self.nbits).validate()

    def all_variants(self) -> dict[str, CodeVariant]:
        """Every variant by name (the names models refer to)."""
        counts = [self.n_codebooks] if isinstance(self.n_codebooks, int) else self.n_codebooks
        shared = {"nbits": self.nbits, "views": self.views, "view_dim": self.view_dim, "bootstrap": self.bootstrap,
                  "suffix": self.suffix}
        out = {f"rq{s}": CodeVariant(1, s * self.levels, **shared)
               for s in self.rq_scales}
        out.update({f"moc{n}": CodeVariant(n, self.levels, **shared) for n in counts})
        out.update(self.variants)
        return out


@dataclasses.dataclass
class FieldsConfig:
    """The ``fields`` stage: CTR on the typed feature layer (the recipe's ``features`` declarations) with catalogue
    models of task ``fields`` (``zoo_lr``, ``zoo_deepfm``, ...), each trained for every recipe seed.

    The events: ml-100k (``mmrec.data.ml100k_ctr``), Frappe (seeded 8:1:1 re-split by the recipe's ``seed``),
    Criteo (time split by ``split.ctr_*_fraction``), or a bring-your-own folder of ``train`` / ``valid`` / ``test``
    ``.csv`` / ``.parquet`` files read in chunks of ``chunk_rows``. ``model_overrides`` / ``train_overrides``:
    per model, its config fields / trainer settings over ``embed_dim`` / ``train`` (kept for models not listed, so
    ``fields.models=[...]`` on the command line keeps each model's settings). ``user_field`` gives GAUC and
    ``item_field`` the cold / warm / frequency-bin AUC, each where the features declare it. Embedding fields read
    the encode stage's tables, or ``modalities_dir``'s.
    """

    models: list[str] = dataclasses.field(default_factory=list)
    embed_dim: int = 10  # BARS default
    train: FieldTrainConfig = dataclasses.field(default_factory=FieldTrainConfig)
    model_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    train_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    user_field: str = "user"
    item_field: str = "item"
    modalities_dir: str | None = None
    chunk_rows: int = 100_000
    analysis_events: int = 20_000  # test events the embedding analysis looks at (seeded subsample)

    def validate(self) -> None:
        if self.embed_dim < 1 or self.chunk_rows < 1 or self.analysis_events < 1:
            raise ConfigError("fields.embed_dim, fields.chunk_rows and fields.analysis_events must be >= 1")


@dataclasses.dataclass
class RecipeConfig:
    """A whole recipe: one dataset, its splits, and the settings of every stage."""

    name: str = "recipe"
    seed: int = 0
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    encode: EncodeConfig = dataclasses.field(default_factory=EncodeConfig)
    ctr: CTRConfig = dataclasses.field(default_factory=CTRConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    pad: PADConfig = dataclasses.field(default_factory=PADConfig)
    quantize: QuantizeConfig = dataclasses.field(default_factory=QuantizeConfig)
    features: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # typed field declarations
    fields: FieldsConfig = dataclasses.field(default_factory=FieldsConfig)

    def validate(self) -> None:
        """Model names and their hyper-parameters against the catalogue, at load time (not when a stage runs)."""
        for name, params in list(self.train.models.items()):
            spec = catalogue.lookup(name, "train.models", task="sequential")
            if params is not None and not isinstance(params, (dict, spec.config_class)):
                raise ConfigError(f"train.models.{name}: expected a mapping of hyper-parameters, got {params!r}")
            self.train.models[name] = catalogue.model_config(name, params or {}, f"train.models.{name}")
        for name in self.ctr.models:
            catalogue.lookup(name, "ctr.models", task="ctr")
        for name, params in self.ctr.model_overrides.items():
            if name not in self.ctr.models:
                raise ConfigError(f"ctr.model_overrides.{name}: not one of ctr.models "
                                  f"{suggest(name, list(self.ctr.models))}")
            catalogue.model_config(name, params, f"ctr.model_overrides.{name}", self.ctr.shared_fields())
        if self.features:
            try:
                parse_fields(self.features, "features")
            except FeatureError as exc:
                raise ConfigError(str(exc)) from None
        for name in self.fields.models:
            catalogue.lookup(name, "fields.models", task="fields")
        for name in [*self.fields.model_overrides, *self.fields.train_overrides]:  # listed models or not: the
            catalogue.lookup(name, "fields overrides", task="fields")  # recipe keeps them for `fields.models=[...]`
        for name, params in self.fields.model_overrides.items():
            catalogue.model_config(name, params, f"fields.model_overrides.{name}", {"embed_dim": self.fields.embed_dim})
        if self.fields.models and not self.features:
            raise ConfigError(f"fields.models {self.fields.models} need the events' field declarations: add a "
                              "'features:' list (see recipes/frappe.yaml)")
        if self.pad.enabled and self.pad.backbone not in self.train.models:
            raise ConfigError(f"pad.backbone '{self.pad.backbone}' must be one of train.models (it is PAD's anchor); "
                              f"train.models: {sorted(self.train.models) or 'none'}")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RecipeConfig:
    """Load a recipe YAML, apply ``key=value`` overrides, and check everything against the dataclasses."""
    raw = merge(read_yaml_mapping(path), parse_overrides(overrides or []))
    try:
        return from_dict(RecipeConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
