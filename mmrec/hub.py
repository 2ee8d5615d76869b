"""Hugging Face Hub save / load of trained models: ``save_pretrained``, ``from_pretrained``, ``push_to_hub``.

A saved model is a folder (or a Hub repo) holding ``model.safetensors`` (every parameter and buffer, the item
side included: ID table, content buffers, code tables), ``config.json`` (the model type, its dataclass config,
how to rebuild its item representation, the tensor shapes) and a generated ``README.md`` model card; optionally
``items.json`` maps item indices back to the dataset's item IDs. Loading reads JSON and safetensors only (never
a pickle, no remote code) and checks the weights against the config before anything is loaded, so a mismatch
is one error naming the file and the key. Sparse (COO) buffers, e.g. a TF-IDF content matrix, are stored as
``<key>.__indices`` / ``<key>.__values`` and rebuilt on load.

Any ``nn.Module`` whose ``__init__`` takes a dataclass ``config`` (plus, optionally, ``item_repr``, tensors that are
saved under the same name, and JSON arguments it describes in ``hub_init_args``) can inherit :class:`HubMixin` and
be registered with :func:`register`. Sequential recommenders (``model.score(histories)``) and CTR models
(``model.predict(batch)``) are registered already; ``config.json`` says which ``task`` a model serves.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import math
import typing
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from safetensors.torch import save_file
from torch import nn

from mmrec.io import CorruptFileError, read_safetensors, write_json

CONFIG_FILE, WEIGHTS_FILE, ITEMS_FILE = "config.json", "model.safetensors", "items.json"
FORMAT_VERSION = 1

_MODEL_TYPES: dict[str, type[nn.Module]] = {}
_ITEM_REPRS: dict[str, type[nn.Module]] = {}


class HubError(ValueError):
    """A saved model that cannot be loaded as described: the message names the file and the key."""


def register(name: str, cls: type[nn.Module]) -> None:
    """Make ``cls`` loadable as ``model_type = name`` (model families outside the sequential registry call this)."""
    _MODEL_TYPES[name] = cls


def register_item_representation(cls: type[nn.Module]) -> None:
    """Allow ``cls`` as a saved model's item side; rebuilt from its ``__init__`` (scalars by attribute, tensors by buffer)."""
    _ITEM_REPRS[cls.__name__] = cls


def model_types() -> dict[str, type[nn.Module]]:
    """Registered model types: the sequential and CTR registries' model classes, PAD's, plus anything passed to
    :func:`register`."""
    from mmrec.models.aligned_tower import AlignedTower
    from mmrec.models.ctr import CTR_MODEL_TYPES  # lazy: the registries import every model, which import this module
    from mmrec.models.pad import PAD
    from mmrec.models.registry import MODELS

    pad_types = {"pad": PAD, "aligned_tower": AlignedTower}
    return {**{name: spec.model_class for name, spec in MODELS.items()}, **pad_types, **CTR_MODEL_TYPES,
            **_MODEL_TYPES}


def _item_reprs() -> dict[str, type[nn.Module]]:
    from mmrec.models.ctr.item_side import TripleExpertItems
    from mmrec.models.item_repr import IDEmbedding
    from mmrec.models.semantic_item import SemanticIDRepresentation

    return {"IDEmbedding": IDEmbedding, "SemanticIDRepresentation": SemanticIDRepresentation,
            "TripleExpertItems": TripleExpertItems, **_ITEM_REPRS}


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(valid))}"


def _init_params(cls: type) -> list[inspect.Parameter]:
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def _config_class(cls: type) -> type | None:
    """The class's own ``config_class`` (a subclass may inherit ``__init__`` with its parent's hint), else the hint."""
    declared = getattr(cls, "config_class", None)
    if dataclasses.is_dataclass(declared):
        return declared
    hinted = typing.get_type_hints(cls.__init__).get("config")
    return hinted if dataclasses.is_dataclass(hinted) else None


def _describe_item_repr(item_repr: nn.Module) -> dict[str, Any]:
    """How to rebuild ``item_repr``: its class, the scalar ``__init__`` arguments read from its attributes, and
    (under ``tensors``) the weights-file key of tensor arguments that a sub-module holds (found by identity)."""
    name = type(item_repr).__name__
    if name not in _item_reprs():
        raise HubError(f"item representation {name} is not registered for saving; "
                       "call mmrec.hub.register_item_representation on its class")
    args: dict[str, Any] = {}
    held: dict[str, str] = {}
    tensors = dict(item_repr.named_parameters()) | dict(item_repr.named_buffers())
    for param in _init_params(type(item_repr)):
        if param.name in tensors:
            continue  # comes back from the safetensors file under item_repr.<name>
        value = getattr(item_repr, param.name, inspect.Parameter.empty)
        key = next((k for k, t in tensors.items() if t is value), None) if isinstance(value, torch.Tensor) else None
        if key is not None:
            held[param.name] = key  # comes back from item_repr.<key>
        elif isinstance(value, (int, float, str, bool)) or value is None:
            args[param.name] = value
        elif param.default is inspect.Parameter.empty:
            raise HubError(f"item representation {name}: __init__ argument '{param.name}' is neither a scalar "
                           "attribute nor a parameter / buffer, so it cannot be saved")
    return {"class": name, "args": args, **({"tensors": held} if held else {})}


class HubMixin(PyTorchModelHubMixin, library_name="mmrec", tags=["recommendation"]):
    """``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for mmrec models (safetensors + JSON only)."""

    task: ClassVar[str] = "sequential"  # or "ctr": what the model card and `mmrec score` say it does

    def hub_init_args(self) -> dict[str, Any]:
        """JSON ``__init__`` arguments beyond ``config``, ``item_repr`` and saved tensors (``config.json``'s
        ``init_args``); :meth:`hub_rebuild_args` turns them back into arguments."""
        return {}

    @classmethod
    def hub_rebuild_args(cls, init_args: dict[str, Any]) -> dict[str, Any]:
        """``__init__`` keyword arguments from the ``init_args`` that :meth:`hub_init_args` wrote."""
        return {}

    def model_type(self) -> str:
        for name, cls in model_types().items():
            if type(self) is cls:
                return name
        raise HubError(f"{type(self).__name__} is not a registered model type; call mmrec.hub.register first")

    def hub_config(self) -> dict[str, Any]:
        """What ``config.json`` holds: enough to rebuild the module before its weights are loaded."""
        config = getattr(self, "config", None)
        item_repr = getattr(self, "item_repr", None)
        if all(p.name != "item_repr" for p in _init_params(type(self))):
            item_repr = None  # the model builds its own item side from its config (e.g. PAD's experts)
        init_args = self.hub_init_args()
        return {
            "model_type": self.model_type(),
            "mmrec_format": FORMAT_VERSION,
            "task": self.task,
            **({"init_args": init_args} if init_args else {}),
            "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {},
            "item_repr": _describe_item_repr(item_repr) if isinstance(item_repr, nn.Module) else None,
            "n_items": getattr(self, "n_items", None),
            "tensors": {k: list(v.shape) for k, v in self.state_dict().items()},
            "sparse": sorted(k for k, v in self.state_dict().items() if v.is_sparse),
        }

    def _save_pretrained(self, save_directory: Path) -> None:
        tensors = {}
        for key, value in self.state_dict().items():
            value = value.detach().cpu()
            if value.is_sparse:
                value = value.coalesce()
                tensors[f"{key}.__indices"], tensors[f"{key}.__values"] = value.indices(), value.values()
            else:
                tensors[key] = value
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(save_directory / WEIGHTS_FILE),
                  metadata={"format": "pt"})
        write_json(save_directory / CONFIG_FILE, self.hub_config())
        item_ids = getattr(self, "item_ids", None)
        if item_ids is not None:
            write_json(save_directory / ITEMS_FILE, {"item_ids": list(item_ids)})

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        return model_card(self.hub_config(), **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, force_download: bool = False,
                        token: str | bool | None = None, cache_dir: str | Path | None = None,
                        local_files_only: bool = False, revision: str | None = None,
                        map_location: str = "cpu", **_: Any) -> Any:
        """Load from a saved folder or a Hub repo id (the local HF cache when ``HF_HUB_OFFLINE=1``)."""
        source = str(pretrained_model_name_or_path)

        def fetch(filename: str, required: bool = True) -> Path | None:
            if Path(source).is_dir():
                path = Path(source) / filename
                if path.is_file():
                    return path
            elif not Path(source).exists():
                try:
                    return Path(hf_hub_download(source, filename, revision=revision, cache_dir=cache_dir,
                                                force_download=force_download, token=token,
                                                local_files_only=local_files_only))
                except (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, HFValidationError) as exc:
                    if required:
                        raise HubError(f"{source}: cannot get {filename} ({type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0]})") from None
                    return None
            if required:
                raise HubError(f"{source}/{filename}: missing; a saved mmrec model needs {CONFIG_FILE} and "
                               f"{WEIGHTS_FILE} (written by save_pretrained)")
            return None

        config_path, weights_path = fetch(CONFIG_FILE), fetch(WEIGHTS_FILE)
        items_path = fetch(ITEMS_FILE, required=False)
        assert config_path is not None and weights_path is not None
        model = _load(cls, config_path, weights_path, map_location)
        if items_path is not None:
            model.item_ids = json.loads(items_path.read_text())["item_ids"]
        return model


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise HubError(f"{path}: key 'model_type' is missing; not a config.json written by mmrec's save_pretrained")
    for key, kind in (("config", dict), ("tensors", dict)):
        if not isinstance(config.get(key), kind):
            raise HubError(f"{path}: key '{key}' must be a JSON object")
    if config.get("mmrec_format", FORMAT_VERSION) > FORMAT_VERSION:
        raise HubError(f"{path}: key 'mmrec_format' is {config['mmrec_format']}, written by a newer mmrec than this "
                       f"one (reads format {FORMAT_VERSION}); upgrade mmrec")
    return config


def _rebuild_sparse(tensors: dict[str, torch.Tensor], config: dict[str, Any], weights: Path) -> dict[str, torch.Tensor]:
    """Sparse buffers back from their ``.__indices`` / ``.__values`` pair, shaped as ``config.json`` lists them."""
    for key in config.get("sparse", []):
        parts = [f"{key}.__indices", f"{key}.__values"]
        missing = [p for p in parts if p not in tensors]
        if missing or key not in config["tensors"]:
            raise HubError(f"{weights}: sparse key '{key}' needs {' and '.join(parts)} and a shape in config.json")
        indices, values = (tensors.pop(p) for p in parts)
        try:
            tensors[key] = torch.sparse_coo_tensor(indices, values, config["tensors"][key],
                                                   check_invariants=True).coalesce()
        except (RuntimeError, ValueError) as exc:
            raise HubError(f"{weights}: sparse key '{key}' is inconsistent ({exc})") from None
    return tensors


def _check_weights(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], weights: Path,
                   config: Path, listed: dict[str, list[int]]) -> None:
    """Every key present with the right shape and finite values, or one error naming file and key."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        raise HubError(f"{weights}: missing key(s) {', '.join(missing)} that the model built from {config} needs")
    if unexpected:
        raise HubError(f"{weights}: unexpected key(s) {', '.join(unexpected)} for the model built from {config}")
    for key, tensor in expected.items():
        if tuple(found[key].shape) != tuple(tensor.shape):
            raise HubError(f"{weights}: key '{key}' has shape {list(found[key].shape)}, but {config} describes a "
                           f"model whose '{key}' is {list(tensor.shape)}")
        if key in listed and list(listed[key]) != list(tensor.shape):
            raise HubError(f"{config}: tensors.{key} lists shape {listed[key]}, the model has {list(tensor.shape)}")
        values = found[key].coalesce().values() if found[key].is_sparse else found[key]
        if values.is_floating_point() and not torch.isfinite(values).all():
            bad = int((~torch.isfinite(values)).sum())
            raise HubError(f"{weights}: key '{key}' holds {bad} NaN / infinite value(s)")


def _load(cls: type, config_path: Path, weights_path: Path, map_location: str) -> Any:
    from mmrec.config import ConfigError, from_dict

    config = _read_config(config_path)
    types = model_types()
    name = config["model_type"]
    if name not in types:
        raise HubError(f"{config_path}: unknown model_type '{name}'{_suggest(str(name), list(types))}")
    model_cls = types[name]
    if not issubclass(model_cls, cls):
        raise HubError(f"{config_path}: model_type '{name}' is a {model_cls.__name__}, not a {cls.__name__}")
    try:
        tensors = read_safetensors(weights_path)
    except CorruptFileError as exc:
        raise HubError(str(exc)) from None
    tensors = _rebuild_sparse(tensors, config, weights_path)
    try:
        rebuilt = model_cls.hub_rebuild_args(config.get("init_args", {}))
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HubError(f"{config_path}: key 'init_args' cannot rebuild {model_cls.__name__} "
                       f"({type(exc).__name__}: {exc})") from None
    kwargs: dict[str, Any] = {}
    for param in _init_params(model_cls):
        if param.name == "config":
            config_cls = _config_class(model_cls)
            try:
                kwargs["config"] = from_dict(config_cls, config["config"], "config")
            except ConfigError as exc:
                raise HubError(f"{config_path}: {exc}") from None
        elif param.name == "item_repr":
            kwargs["item_repr"] = _build_item_repr(config.get("item_repr"), tensors, config_path)
        elif param.name in tensors:
            kwargs[param.name] = tensors[param.name]
        elif param.name in rebuilt:
            kwargs[param.name] = rebuilt[param.name]
        elif param.default is inspect.Parameter.empty:
            raise HubError(f"{weights_path}: key '{param.name}' is missing; {model_cls.__name__} is built from it")
    try:
        model = model_cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise HubError(f"{config_path}: cannot build {model_cls.__name__} from this config ({exc})") from None
    listed_items = config.get("n_items")
    if listed_items is not None and getattr(model, "n_items", listed_items) != listed_items:
        raise HubError(f"{config_path}: key 'n_items' is {listed_items}, but the model built from it and "
                       f"{weights_path} has {model.n_items} items")
    _check_weights(model.state_dict(), tensors, weights_path, config_path, config["tensors"])
    model.load_state_dict(tensors, strict=True)
    return model.to(map_location).eval()


def _build_item_repr(spec: dict[str, Any] | None, tensors: dict[str, torch.Tensor], config_path: Path) -> Any:
    if spec is None:
        return None
    known = _item_reprs()
    name = spec.get("class")
    if name not in known:
        raise HubError(f"{config_path}: item_repr.class '{name}' is not a registered item representation"
                       f"{_suggest(str(name), list(known))}")
    item_cls = known[name]
    kwargs = dict(spec.get("args", {}))
    for arg, key in spec.get("tensors", {}).items():
        if f"item_repr.{key}" not in tensors:
            raise HubError(f"{config_path}: item_repr.tensors.{arg} is 'item_repr.{key}', which the weights lack")
        kwargs[arg] = tensors[f"item_repr.{key}"]
    for param in _init_params(item_cls):
        key = f"item_repr.{param.name}"
        if param.name not in kwargs and key in tensors:
            kwargs[param.name] = tensors[key]
    try:
        return item_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise HubError(f"{config_path}: cannot build item_repr {name} ({exc})") from None


def load_model(repo_id_or_dir: str | Path, **kwargs: Any) -> Any:
    """Any saved mmrec model (its type is read from ``config.json``), in eval mode: a sequential recommender
    (``model.score(histories)``) or a CTR model (``model.predict(batch)``)."""
    return HubMixin.from_pretrained(repo_id_or_dir, **kwargs)


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "mean" in value:
        return f"{value['mean']:.4f} ± {value['std']:.4f} (n={value['n']})"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4f}"
    return "–" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class TaskCard:
    """What a model card says for one task: tags, what the model does, how to call it, which numbers lead."""

    tags: tuple[str, ...]
    what: str
    use: tuple[str, ...]
    headline: str  # the metric `mmrec push` picks the best model by
    seed_metrics: tuple[str, ...]  # per-seed numbers quoted for the pushed weights (keys of the report's per_seed)
    cold_note: str


TASK_CARDS = {
    "sequential": TaskCard(
        ("recommendation", "sequential-recommendation"), "Next-item recommender",
        ("scores = model.score(histories)  # (B, L) item indices, left-padded with 0 -> (B, n_items + 1)", "```", "",
         "or `mmrec score REPO_ID_OR_DIR --history ITEM_ID ITEM_ID ...` for the top items of one history."),
        "NDCG@10", ("NDCG@10",),
        "Cold = test targets with at most the report's `cold_threshold` training interactions, new items = targets "
        "never seen in training (EVALUATION.md). Full ranking over all items, the user's history masked."),
    "ctr": TaskCard(
        ("recommendation", "ctr", "click-through-rate"), "Click-through-rate model (P(click | user, target, history))",
        ("probs = model.predict(batch)  # mmrec.data.ctr_batches.CTRBatch -> (B,) click probabilities", "```", "",
         "Batches come from `mmrec.data.ctr_batches.build_ctr_samples` over the same item indexing (`items.json`)."),
        "AUC", ("AUC", "GAUC", "cold_AUC"),
        "Cold = test events whose target item has at most the report's `cold_threshold` training interactions "
        "(EVALUATION.md); GAUC weighs each user's AUC by their test events."),
}


def model_card(hub_config: dict[str, Any], report: dict[str, Any] | None = None, model_key: str | None = None,
               seed: int | None = None) -> ModelCard:
    """README.md of a saved model: what it is, how to load it, and (given a report) its data, protocol and numbers."""
    name = hub_config["model_type"]
    task = TASK_CARDS[hub_config.get("task", "sequential")]
    key = model_key or name
    meta = ["---", "library_name: mmrec", "tags:", *[f"- {t}" for t in task.tags], f"- {name}"]
    if report:
        meta.append(f"datasets:\n- {report['dataset']}")
    title = key if key == name else f"{key} ({name})"
    lines = [*meta, "---", "", f"# {title}: an mmrec model", "",
             f"{task.what} over {hub_config.get('n_items')} items, trained with mmrec and saved as "
             "`model.safetensors` + `config.json` (no pickles, no remote code).", ""]
    if seed is not None:
        lines += [f"Training seed: {seed}.", ""]
    lines += ["## Use", "", "```python", "from mmrec.hub import load_model", "",
              "model = load_model(\"REPO_ID_OR_DIR\")", *task.use, "",
              "## Configuration", "", "```json", json.dumps(hub_config["config"], indent=2), "```", ""]
    item_repr = hub_config.get("item_repr") or {}
    if item_repr.get("class", "IDEmbedding") != "IDEmbedding":
        lines += [f"Item side: `{item_repr['class']}` with `{json.dumps(item_repr.get('args', {}))}`.", ""]
    if report:
        result = report.get("models", {}).get(key, {})
        headline = report.get("headline", [task.headline])
        lines += ["## Evaluation", "", f"- dataset: {report['dataset']}", f"- split: {report['split']}",
                  f"- protocol: {report.get('protocol', '')}", f"- seeds: {report.get('seeds')}",
                  f"- cold threshold: {report.get('cold_threshold')} training interactions", "",
                  "| slice | n test cases | " + " | ".join(headline) + " |", "|---|---|" + "---|" * len(headline)]
        for part in ("overall", "warm", "cold"):
            row = result.get(part, {})
            n = row.get("n_targets", row.get("n", result.get("n_targets") if part == "overall" else None))
            lines.append(f"| {part} | {_fmt(n)} | " + " | ".join(_fmt(row.get(m)) for m in headline) + " |")
        new = (result.get("bins") or [{}])[0]
        if new.get("max_count") == 0 and new.get("n_targets"):  # bin 0: targets never seen in training
            lines.append(f"| new items | {_fmt(new['n_targets'])} | " + " | ".join(_fmt(new.get(m)) for m in headline)
                         + " |")
        mine = [r for r in result.get("per_seed", []) if r.get("seed") == seed]
        if mine and isinstance(result.get("overall", {}).get(task.headline), dict):
            quoted = ", ".join(f"{m.replace('_', ' ')} {_fmt(mine[0].get(m))}" for m in task.seed_metrics)
            lines += ["", f"These weights (seed {seed}) alone: test {quoted}."]
        lines += ["", task.cold_note, ""]
    return ModelCard("\n".join(lines))


def recommend(model: Any, history: list[str], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` items for one history of item IDs (``items.json``; plain indices when the model has none),
    the history itself excluded: ``[{"item_id", "score"}, ...]``, best first."""
    from mmrec.sequences import left_pad

    if getattr(model, "task", "sequential") != "sequential":
        raise HubError(f"{type(model).__name__} is a {model.task} model: it predicts clicks for (user, item, history) "
                       "batches with model.predict(batch) and does not rank next items")
    ids = list(getattr(model, "item_ids", None) or [str(i) for i in range(1, model.n_items + 1)])
    index = {str(item): i + 1 for i, item in enumerate(ids)}
    unknown = [item for item in history if str(item) not in index]
    if unknown:
        raise HubError(f"item id(s) {', '.join(map(str, unknown))} not in this model's {len(ids)}-item catalogue "
                       f"({ITEMS_FILE})")
    seq = [index[str(item)] for item in history]
    with torch.no_grad():
        scores = model.score(left_pad([torch.tensor(seq).numpy()], model.max_len))[0].float()
    scores[[0, *seq]] = -torch.inf
    best = torch.topk(scores, min(top, int(torch.isfinite(scores).sum())))
    return [{"item_id": ids[i - 1], "score": float(s)} for i, s in zip(best.indices.tolist(), best.values.tolist())]


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """One trained model inside a run directory."""

    split: str
    name: str
    seed: int
    path: Path


def run_models(run_dir: str | Path) -> list[SavedModel]:
    """Trained models a finished run saved (``<artifact>/models/<split>/<model>/seed<seed>/``)."""
    run_dir = Path(run_dir)
    stages_file = run_dir / "stages.json"
    if not stages_file.is_file():
        raise HubError(f"{run_dir} is not a finished mmrec run (no stages.json)")
    found = []
    for rel in json.loads(stages_file.read_text()).values():
        for config in sorted((run_dir / rel / "models").glob(f"*/*/seed*/{CONFIG_FILE}")):
            folder = config.parent
            found.append(SavedModel(folder.parent.parent.name, folder.parent.name, int(folder.name[4:]), folder))
    return found


def _rank_key(report: dict[str, Any], name: str) -> tuple[bool, float]:
    """Sequential models first (the default before CTR models were saved), then the task's headline metric."""
    task = report.get("task", "sequential")
    value = report.get("models", {}).get(name, {}).get("overall", {}).get(TASK_CARDS[task].headline, -1.0)
    return task == "sequential", float(value["mean"] if isinstance(value, dict) else value)


def export_run_model(run_dir: str | Path, target: str | Path | None = None, split: str | None = None,
                     name: str | None = None, seed: int | None = None) -> tuple[Any, SavedModel, dict[str, Any]]:
    """Pick a run's model (default: the best sequential model by NDCG@10, else the best CTR model by AUC; its first
    seed), attach the dataset's item IDs, and (given ``target``) write its Hub folder with a model card from the
    run's report."""
    from mmrec.data.tables import Tables

    run_dir = Path(run_dir)
    saved = [m for m in run_models(run_dir) if (split is None or m.split == split) and (name is None or m.name == name)
             and (seed is None or m.seed == seed)]
    if not saved:
        wanted = ", ".join(f"{k}={v}" for k, v in (("split", split), ("model", name), ("seed", seed)) if v is not None)
        raise HubError(f"{run_dir}: no saved model{' with ' + wanted if wanted else ''}; saved: "
                       f"{', '.join(sorted({f'{m.split}/{m.name}/seed{m.seed}' for m in run_models(run_dir)})) or 'none'}")
    reports = {m.split: run_dir / m.split / "report.json" for m in saved}
    reports = {s: json.loads(p.read_text()) for s, p in reports.items() if p.is_file()}
    choice = max(saved, key=lambda m: (*_rank_key(reports.get(m.split, {}), m.name), -m.seed))
    model = load_model(choice.path)
    stages = json.loads((run_dir / "stages.json").read_text())
    if getattr(model, "item_ids", None) is None and "prepare" in stages:
        model.item_ids = [str(i) for i in Tables.load(run_dir / stages["prepare"] / "tables").items["item_id"]]
    report = reports.get(choice.split)
    if target is not None:
        target = Path(target)
        (target / "README.md").unlink(missing_ok=True)  # save_pretrained keeps an existing card
        model.save_pretrained(target, model_card_kwargs={"report": report, "model_key": choice.name,
                                                         "seed": choice.seed})
    return model, choice, {"report": report, "model_key": choice.name, "seed": choice.seed}
