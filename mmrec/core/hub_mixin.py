"""Hugging Face Hub save / load for mmrec models: ``save_pretrained``, ``from_pretrained``, ``push_to_hub``.

A saved model is a folder (or a Hub repo) holding ``model.safetensors`` (every parameter and buffer, the item
side included: ID table, content buffers, code tables), ``config.json`` (the model type, its dataclass config,
how to rebuild its item representation, the tensor shapes) and a generated ``README.md`` model card; optionally
``items.json`` maps item indices back to the dataset's item IDs. Loading reads JSON and safetensors only (never
a pickle, no remote code) and checks the weights against the config before anything is loaded, so a mismatch
is one error naming the file and the key. Sparse (COO) buffers, e.g. a TF-IDF content matrix, are stored as
``<key>.__indices`` / ``<key>.__values`` and rebuilt on load.

Like transformers' ``PreTrainedModel``, the mixin knows no concrete model: a class says its own ``model_type``
and which item representations it may be built over (:meth:`HubMixin.item_representation_classes`), and
``cls.from_pretrained`` loads that class. Loading any saved model by its ``model_type`` (``AutoModel``-style) is
:func:`mmrec.hub.load_model`, which asks the model catalogue for the class. Any ``nn.Module`` whose ``__init__``
takes a dataclass ``config`` (plus, optionally, ``item_repr``, tensors saved under the same name, and JSON
arguments it describes in ``hub_init_args``) can inherit :class:`HubMixin`.

Format history: 1 = the first layout; 2 = PAD and its aligned tower hold the one ``PADConfig`` (their format-1
configs are upgraded on load by the class's :meth:`HubMixin.hub_upgrade`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError, LocalEntryNotFoundError
from safetensors.torch import save_file
from torch import nn

from mmrec.core.config import ConfigError, from_dict, suggest
from mmrec.core.io import CorruptFileError, read_safetensors, write_json
from mmrec.core.model_card import model_card

CONFIG_FILE, WEIGHTS_FILE, ITEMS_FILE = "config.json", "model.safetensors", "items.json"
FORMAT_VERSION = 2


class HubError(ValueError):
    """A saved model that cannot be loaded as described: the message names the file and the key."""


def _init_params(cls: type) -> list[inspect.Parameter]:
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def _config_class(cls: type) -> type | None:
    """The class's own ``config_class`` (a subclass may inherit ``__init__`` with its parent's hint), else the hint."""
    declared = getattr(cls, "config_class", None)
    if dataclasses.is_dataclass(declared):
        return declared
    hinted = typing.get_type_hints(cls.__init__).get("config")
    return hinted if dataclasses.is_dataclass(hinted) else None


def _describe_item_repr(item_repr: nn.Module, known: dict[str, type]) -> dict[str, Any]:
    """How to rebuild ``item_repr``: its class, the scalar ``__init__`` arguments read from its attributes, and
    (under ``tensors``) the weights-file key of tensor arguments that a sub-module holds (found by identity)."""
    name = type(item_repr).__name__
    if name not in known:
        raise HubError(f"item representation {name} is not registered for saving; "
                       "call mmrec.items.register_item_representation on its class")
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
    model_type: ClassVar[str]  # the name config.json records; mmrec.hub.load_model finds the class by it

    @classmethod
    def item_representation_classes(cls) -> dict[str, type[nn.Module]]:
        """Item-side classes a saved model of this class may be rebuilt over, by class name."""
        return {}

    @classmethod
    def hub_upgrade(cls, saved: dict[str, Any], path: Path) -> dict[str, Any]:
        """``config.json`` of an older format in the current one (default: the layout did not change)."""
        return saved

    def hub_init_args(self) -> dict[str, Any]:
        """JSON ``__init__`` arguments beyond ``config``, ``item_repr`` and saved tensors (``config.json``'s
        ``init_args``); :meth:`hub_rebuild_args` turns them back into arguments."""
        return {}

    @classmethod
    def hub_rebuild_args(cls, init_args: dict[str, Any], config: Any) -> dict[str, Any]:
        """``__init__`` keyword arguments from the ``init_args`` that :meth:`hub_init_args` wrote (``config``: the
        model's typed config, already loaded)."""
        return {}

    def hub_config(self) -> dict[str, Any]:
        """What ``config.json`` holds: enough to rebuild the module before its weights are loaded."""
        config = getattr(self, "config", None)
        item_repr = getattr(self, "item_repr", None)
        if all(p.name != "item_repr" for p in _init_params(type(self))):
            item_repr = None  # the model builds its own item side from its config (e.g. PAD's experts)
        init_args = self.hub_init_args()
        return {
            "model_type": self.model_type,
            "mmrec_format": FORMAT_VERSION,
            "task": self.task,
            **({"init_args": init_args} if init_args else {}),
            "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {},
            "item_repr": (_describe_item_repr(item_repr, self.item_representation_classes())
                          if isinstance(item_repr, nn.Module) else None),
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


def read_saved_config(path: Path) -> dict[str, Any]:
    """A saved ``config.json``, checked for the keys every mmrec model writes (one error naming file and key)."""
    return _read_config(path)


def _load(cls: type, config_path: Path, weights_path: Path, map_location: str) -> Any:
    config = _read_config(config_path)
    name = config["model_type"]
    own = getattr(cls, "model_type", None)
    if own != name:
        what = f"a {cls.__name__} (model_type '{own}')" if own else f"the base class {cls.__name__}"
        raise HubError(f"{config_path}: model_type '{name}' cannot be loaded as {what}; "
                       "mmrec.hub.load_model loads any saved model by its model_type")
    if config.get("mmrec_format", 1) < FORMAT_VERSION:
        config = cls.hub_upgrade(config, config_path)
    try:
        tensors = read_safetensors(weights_path)
    except CorruptFileError as exc:
        raise HubError(str(exc)) from None
    tensors = _rebuild_sparse(tensors, config, weights_path)
    kwargs: dict[str, Any] = {}
    typed_config = None
    params = _init_params(cls)
    if any(p.name == "config" for p in params):
        try:
            typed_config = from_dict(_config_class(cls), config["config"], "config")
        except ConfigError as exc:
            raise HubError(f"{config_path}: {exc}") from None
    try:
        rebuilt = cls.hub_rebuild_args(config.get("init_args", {}), typed_config)
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HubError(f"{config_path}: key 'init_args' cannot rebuild {cls.__name__} "
                       f"({type(exc).__name__}: {exc})") from None
    for param in params:
        if param.name == "config":
            kwargs["config"] = typed_config
        elif param.name == "item_repr":
            kwargs["item_repr"] = _build_item_repr(config.get("item_repr"), tensors, config_path,
                                                   cls.item_representation_classes())
        elif param.name in tensors:
            kwargs[param.name] = tensors[param.name]
        elif param.name in rebuilt:
            kwargs[param.name] = rebuilt[param.name]
        elif param.default is inspect.Parameter.empty:
            raise HubError(f"{weights_path}: key '{param.name}' is missing; {cls.__name__} is built from it")
    try:
        model = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise HubError(f"{config_path}: cannot build {cls.__name__} from this config ({exc})") from None
    listed_items = config.get("n_items")
    if listed_items is not None and getattr(model, "n_items", listed_items) != listed_items:
        raise HubError(f"{config_path}: key 'n_items' is {listed_items}, but the model built from it and "
                       f"{weights_path} has {model.n_items} items")
    _check_weights(model.state_dict(), tensors, weights_path, config_path, config["tensors"])
    model.load_state_dict(tensors, strict=True)
    return model.to(map_location).eval()


def _build_item_repr(spec: dict[str, Any] | None, tensors: dict[str, torch.Tensor], config_path: Path,
                     known: dict[str, type]) -> Any:
    if spec is None:
        return None
    name = spec.get("class")
    if name not in known:
        raise HubError(f"{config_path}: item_repr.class '{name}' is not a registered item representation"
                       f"{suggest(str(name), list(known))}")
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


