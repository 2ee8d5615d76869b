"""Typed recipe configuration: dataclasses loaded from YAML plus ``key=value`` overrides.

Every recipe section is a dataclass; loading checks keys and types recursively so that a typo is an error that
names the key and suggests the closest valid one, instead of a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml


class ConfigError(ValueError):
    """A recipe or override that does not fit the typed configuration."""


@dataclasses.dataclass
class DataConfig:
    """Which dataset to load and how to build item text and images from it."""

    dataset: str = "ml-100k"  # a built-in name (looked up under $MMREC_DATA or downloaded) or a directory
    format: Literal["auto", "movielens", "movielens-1m", "movielens-20m", "amazon-2018", "amazon-2023", "criteo",
                    "directory"] = "auto"  # auto: told apart by the files in the folder
    text_fields: list[str] = dataclasses.field(default_factory=lambda: ["title", "genres"])
    image_field: str | None = "image"
    min_user_interactions: int = 3
    cache_dir: str | None = None  # where downloaded datasets go; default ~/.cache/mmrec/datasets
    # repeated (user, item, timestamp) events: counted in the prepare stats either way; "drop" keeps the first,
    # since an exact repeat is a double-logged event that would otherwise make "repeat the last item" a free hit
    duplicates: Literal["keep", "drop"] = "drop"
    max_rows: int | None = None  # CTR logs (criteo): read only the first N rows (the log is in time order)

    def validate(self) -> None:
        if self.max_rows is not None and self.max_rows < 1:
            raise ConfigError(f"data.max_rows must be >= 1 or null, got {self.max_rows}")


@dataclasses.dataclass
class SplitConfig:
    """Evaluation splits (EVALUATION.md): which ones to build and their parameters."""

    kinds: list[Literal["leave-one-out", "new-items", "ctr"]] = dataclasses.field(
        default_factory=lambda: ["leave-one-out", "new-items", "ctr"]
    )
    new_item_fraction: float = 0.2
    ctr_test_fraction: float = 0.2
    ctr_valid_fraction: float = 0.1
    ctr_click_threshold: float | None = 4.0  # explicit data: rating >= threshold is a click; None: implicit
    ctr_negatives_per_positive: int = 1  # implicit data: sampled unobserved items per positive
    ctr_max_history: int = 50  # previous items kept as each CTR event's history

    def validate(self) -> None:
        if not 0.0 < self.new_item_fraction < 1.0:
            raise ConfigError(f"split.new_item_fraction must be in (0, 1), got {self.new_item_fraction}")
        if not 0.0 < self.ctr_test_fraction + self.ctr_valid_fraction < 1.0:
            raise ConfigError("split.ctr_test_fraction + split.ctr_valid_fraction must be in (0, 1)")
        if self.ctr_max_history < 1 or self.ctr_negatives_per_positive < 0:
            raise ConfigError("split.ctr_max_history must be >= 1 and split.ctr_negatives_per_positive >= 0")


@dataclasses.dataclass
class EvalConfig:
    """Full-ranking evaluation and the cold-item breakdown."""

    ks: list[int] = dataclasses.field(default_factory=lambda: [5, 10, 20])
    cold_threshold: int = 5
    n_bins: int = 10
    noisy_bin_min_targets: int = 30
    batch_size: int = 1024
    ties: Literal["optimistic", "pessimistic"] = "optimistic"  # equal scores count for / against the target


@dataclasses.dataclass
class TrainConfig:
    """Sequential models to train and evaluate on each sequential split, for every seed in ``seeds``.

    ``models`` maps a registered model name (``mmrec.models.registry``) to its hyper-parameters; omitted keys
    take the model config's defaults. The optimisation settings below apply to every trainable model.
    """

    models: dict[str, Any] = dataclasses.field(default_factory=dict)  # none unless the recipe names them
    splits: list[Literal["leave-one-out", "new-items"]] = dataclasses.field(
        default_factory=lambda: ["leave-one-out", "new-items"])
    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping
    loss: Literal["ce", "bce"] = "ce"  # full-softmax cross-entropy over all items, or BCE with sampled negatives
    n_negatives: int = 1  # per position, for loss = bce
    softmax_over: Literal["all", "seen"] = "all"  # loss = ce: every item, or only items in the training sequences
    window_stride: int | None = None  # step between a sequence's training windows; None = the model's max_len
    progress: bool = True

    def validate(self) -> None:
        from mmrec.models.registry import MODELS  # lazy: the registry imports torch

        for name, params in list(self.models.items()):
            if name not in MODELS:
                raise ConfigError(f"unknown model 'train.models.{name}'{_suggest(name, list(MODELS))}")
            spec = MODELS[name]
            if params is None:
                params = {}
            if not isinstance(params, (dict, spec.config_class)):
                raise ConfigError(f"train.models.{name}: expected a mapping of hyper-parameters, got {params!r}")
            if isinstance(params, dict):
                self.models[name] = from_dict(spec.config_class, params, f"train.models.{name}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("train.epochs and train.batch_size must be >= 1 and train.lr > 0")


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


@dataclasses.dataclass
class CTRItemSideConfig:
    """The triple-expert item side of the ``*_te`` CTR models: ID, aligned content and MoC codes, mixed per
    item-frequency bin by PAD's gate (``mmrec.models.ctr.item_side``)."""

    content: str = "text"  # modality table the aligned expert projects (a PAD-aligned <name>.safetensors works too)
    codes: str | None = "moc3"  # quantize variant of the codes expert; null = no codes expert
    n_bins: int = 10  # bins of equal training-interaction mass, plus one for never-seen items
    projector_layers: int = 2  # content projector: d_content -> d, then (layers - 1) x d -> d (GELU)
    projector_dropout: float = 0.1
    cold_dropout: float = 0.1  # share of items served without their ID at each training step

    def validate(self) -> None:
        if self.n_bins < 1 or self.projector_layers < 1:
            raise ConfigError("ctr.item_side.n_bins and ctr.item_side.projector_layers must be >= 1")
        if not 0.0 <= self.cold_dropout < 1.0 or not 0.0 <= self.projector_dropout < 1.0:
            raise ConfigError("ctr.item_side.cold_dropout and ctr.item_side.projector_dropout must be in [0, 1)")


@dataclasses.dataclass
class CTRConfig:
    """The ``ctr`` stage: which CTR models to train (registry keys of ``mmrec.models.ctr``) and how."""

    models: list[str] = dataclasses.field(default_factory=list)  # none unless the recipe names them
    max_history: int = 10  # most recent items kept from each event's history
    embed_dim: int = 16
    user_fields: list[str] = dataclasses.field(default_factory=lambda: ["age", "gender", "occupation"])
    genre_field: str | None = "genres"
    batch_size: int = 1024
    eval_batch_size: int = 4096
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 5
    patience: int = 1  # epochs without a better validation AUC before stopping
    modalities: list[str] = dataclasses.field(default_factory=lambda: ["text", "image"])  # encode outputs used
    modalities_dir: str | None = None  # use these modality tables instead of the encode stage's
    model_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # per model key
    item_side: CTRItemSideConfig = dataclasses.field(default_factory=CTRItemSideConfig)  # of the *_te models

    def validate(self) -> None:
        if min(self.max_history, self.embed_dim, self.batch_size, self.eval_batch_size, self.max_epochs) < 1:
            raise ConfigError("ctr.max_history, embed_dim, batch_size, eval_batch_size and max_epochs must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.patience < 1:
            raise ConfigError("ctr.lr must be > 0, ctr.weight_decay >= 0 and ctr.patience >= 1")


@dataclasses.dataclass
class PADSection:
    """PAD (METHODS.md §1): pre-train an ID backbone, align content to it, mix ID / aligned / content experts."""

    enabled: bool = False  # run the align and pad stages (needs the content modalities from encode)
    backbone: Literal["sasrec", "gru4rec"] = "sasrec"
    content: list[Literal["text", "image", "llm"]] = dataclasses.field(default_factory=lambda: ["text"])
    content_dir: str | None = None  # use this folder of <modality>.safetensors instead of the encode stage's
    mmd_weight: float = 0.2  # λ of L_rec + λ · MK-MMD; 0 = the no-MMD ablation
    projector_layers: int = 2  # content projector: d_content -> d, then (layers - 1) x d -> d
    projector_dropout: float = 0.1
    n_bins: int = 10  # frequency bins of equal interaction mass, plus one for never-seen items
    gate: Literal["frequency", "uniform", "user"] = "frequency"  # user: also sees the user (slower scoring)
    cold_dropout: float = 0.0  # share of items treated as never-seen per training step (trains the cold path)
    align_lr: float = 1e-3
    finetune_lr: float = 5e-4
    align_epochs: int = 10  # the rest of the optimisation (batch size, patience, loss) is the train section's
    finetune_epochs: int = 10
    ablations: list[Literal["no_mmd", "uniform_gate", "user_gate", "text", "image", "llm", "concat"]] = dataclasses.field(
        default_factory=list)  # extra rows pad_<name>, each changing one setting of the pad row

    def validate(self) -> None:
        if not self.content:
            raise ConfigError("pad.content must name at least one modality (text, image, llm)")
        if self.mmd_weight < 0 or not 0.0 <= self.cold_dropout < 1.0 or self.projector_layers < 1:
            raise ConfigError("pad: mmd_weight must be >= 0, cold_dropout in [0, 1), projector_layers >= 1")


@dataclasses.dataclass
class CodeVariant:
    """One semantic-ID variant: ``n_codebooks`` independent residual quantizers of ``levels`` x 2**nbits codes."""

    n_codebooks: int = 3
    levels: int = 3
    nbits: int = 8
    view_dim: int | None = None  # each codebook's random projection width; null = a full-width rotation
    suffix: bool = False  # append a collision-suffix level (makes every codebook's tuple unique)

    def validate(self) -> None:
        if self.n_codebooks < 1 or self.levels < 1 or not 1 <= self.nbits <= 16:
            raise ConfigError("quantize variant: n_codebooks and levels must be >= 1 and nbits in [1, 16]")


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
    nbits: int = 8
    view_dim: int | None = None
    suffix: bool = False
    variants: dict[str, CodeVariant] = dataclasses.field(default_factory=dict)
    modalities_dir: str | None = None  # read the source from these modality tables instead of the encode stage's
    train_size: int = 65536
    niter: int = 20
    seed: int = 0

    def validate(self) -> None:
        counts = [self.n_codebooks] if isinstance(self.n_codebooks, int) else self.n_codebooks
        if any(n < 1 for n in counts) or any(s < 1 for s in self.rq_scales):
            raise ConfigError("quantize.n_codebooks and quantize.rq_scales must be >= 1")
        CodeVariant(1, self.levels, self.nbits).validate()

    def all_variants(self) -> dict[str, CodeVariant]:
        """Every variant by name (the names models refer to)."""
        counts = [self.n_codebooks] if isinstance(self.n_codebooks, int) else self.n_codebooks
        out = {f"rq{s}": CodeVariant(1, s * self.levels, self.nbits, self.view_dim, self.suffix)
               for s in self.rq_scales}
        out.update({f"moc{n}": CodeVariant(n, self.levels, self.nbits, self.view_dim, self.suffix) for n in counts})
        out.update(self.variants)
        return out


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
    pad: PADSection = dataclasses.field(default_factory=PADSection)
    quantize: QuantizeConfig = dataclasses.field(default_factory=QuantizeConfig)


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(valid))}"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted (int -> float, dict -> dataclass)."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} does not fit {_type_name(tp)}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.5)
            extra = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}{extra}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp,) = get_args(tp)[:1] or (Any,)
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, val_tp = get_args(tp) or (Any, Any)
        return {k: _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for section '{tp.__name__}', got {value!r}")
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with a suggestion."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(f"unknown config key '{path}'{_suggest(str(key), list(fields))}")
        kwargs[key] = _coerce(value, hints[key], path)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict view of a config (for hashing, reports and saving next to artifacts)."""
    return dataclasses.asdict(cfg)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["a.b=3", "c=[1,2]"]`` into a nested dict; values are parsed as YAML scalars / lists."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' is not of the form key=value")
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with an earlier override of '{part}'")
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return nested


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RecipeConfig:
    """Load a recipe YAML, apply ``key=value`` overrides, and check everything against the dataclasses."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of sections")
    raw = merge(raw, parse_overrides(overrides or []))
    try:
        return from_dict(RecipeConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
