"""One ``fields`` model for one seed: built from the catalogue, trained by its catalogue trainer, tested once.

The trainer's settings are ``fields.train`` with ``fields.train_overrides[model]`` on top, built as the config
class the catalogue trainer declares (``train_fields`` takes :class:`FieldTrainConfig`; a trainer with a
subclass gets its extra fields from the overrides). The test report is the old ``ctr`` stage's: AUC / LogLoss
overall, GAUC where the features have ``fields.user_field``, and, where they have ``fields.item_field``, warm /
cold / per-frequency-bin metrics of the target items (their training counts over the item field's vocabulary:
unseen items share the out-of-vocabulary slot, count 0, bin 0).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import numpy as np
import torch

from mmrec import catalogue
from mmrec.core.config import from_dict
from mmrec.eval.config import EvalConfig
from mmrec.eval.ctr_metrics import auc, ctr_report, logloss
from mmrec.features import FeatureMap
from mmrec.recipe import FieldsConfig
from mmrec.train.fields import FieldTrainConfig, FieldTrainResult, seed_all


def model_config(fields: FieldsConfig, name: str) -> Any:
    return catalogue.model_config(name, fields.model_overrides.get(name, {}), f"fields.model_overrides.{name}",
                                  {"embed_dim": fields.embed_dim})


def trainer_config(fields: FieldsConfig, name: str, seed: int) -> Any:
    """The catalogue trainer's config for ``name`` and ``seed`` (unknown override keys: an error naming them)."""
    trainer = catalogue.lookup(name).trainer
    try:
        config_class = typing.get_type_hints(trainer).get("config", FieldTrainConfig)
    except NameError:
        config_class = FieldTrainConfig
    data = {**dataclasses.asdict(fields.train), **fields.train_overrides.get(name, {}), "seed": seed}
    return from_dict(config_class, data, f"fields.train_overrides.{name}")


def build_model(fields: FieldsConfig, name: str, seed: int, feature_map: FeatureMap,
                pretrained: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The model, initialised under ``seed`` (the same seed gives the same weights)."""
    seed_all(seed)
    return catalogue.lookup(name).model_class(model_config(fields, name), feature_map, pretrained or None)


def train_model(fields: FieldsConfig, name: str, seed: int, feature_map: FeatureMap,
                data: dict[str, dict[str, torch.Tensor]], pretrained: dict[str, torch.Tensor]
                ) -> tuple[torch.nn.Module, FieldTrainResult]:
    model = build_model(fields, name, seed, feature_map, pretrained)
    result = catalogue.lookup(name).trainer(model, data["train"], data["valid"], trainer_config(fields, name, seed))
    return model, result


def _categorical(feature_map: FeatureMap, name: str) -> bool:
    return any(e.name == name and e.kind == "categorical" for e in feature_map.features)


def test_report(model: Any, data: dict[str, dict[str, torch.Tensor]], fields: FieldsConfig, eval_cfg: EvalConfig,
                batch_size: int = 65_536) -> dict:
    """``{"overall": {AUC, GAUC, LogLoss, n}}`` plus ``warm`` / ``cold`` / ``bins`` where an item field exists."""
    test, fmap = data["test"], model.feature_map
    labels = test[model.label].numpy()
    probs = model.predict({k: v for k, v in test.items() if k not in fmap.labels}, batch_size)
    has_user = _categorical(fmap, fields.user_field)
    users = test[fields.user_field].numpy() if has_user else np.zeros(len(labels), dtype=np.int64)
    if _categorical(fmap, fields.item_field):
        items = test[fields.item_field].numpy()
        counts = np.bincount(data["train"][fields.item_field].numpy(), minlength=fmap.entry(fields.item_field).size)
        counts[:2] = 0  # padding and the out-of-vocabulary slot: never a training item
        report = ctr_report(users, items, labels, probs, counts, eval_cfg.cold_threshold, eval_cfg.n_bins,
                            eval_cfg.noisy_bin_min_targets)
    else:
        report = {"overall": {"AUC": auc(labels, probs), "GAUC": None, "LogLoss": logloss(labels, probs),
                              "n": int(len(labels))}}
    if not has_user:  # one constant "user" would make GAUC a copy of AUC
        for part in ("overall", "warm", "cold"):
            if part in report:
                report[part]["GAUC"] = None
        for row in report.get("bins", []):
            row["GAUC"] = None
    return report
