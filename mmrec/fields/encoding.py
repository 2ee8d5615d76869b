"""Fit the feature map on the train events only, encode every split, and gather the frozen item tables.

Embedding fields (``type: embedding``, named after a modality: text / image / llm) read ``<name>.safetensors`` of
the encode stage's artifact (or ``fields.modalities_dir``): row k is item k of the dataset's item table, row 0
the "no vector" row, so the feature map learns the item IDs in row order and the model gets the table frozen.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from mmrec.core.config import ConfigError
from mmrec.core.modalities import load_modalities
from mmrec.data.tables import Tables
from mmrec.features import FeatureError, FeatureMap
from mmrec.features.schema import Embedding, Field
from mmrec.fields.events import EventSource

log = logging.getLogger("mmrec")


def embedding_fields(fields: list[Field]) -> list[str]:
    return [f.name for f in fields if isinstance(f, Embedding)]


def frozen_tables(fields: list[Field], directory: Path | None, tables: Tables | None
                  ) -> tuple[dict[str, tuple[list[str], int]], dict[str, torch.Tensor]]:
    """``(embeddings for FeatureMap.fit, pretrained tables for the models)`` of the embedding fields."""
    names = embedding_fields(fields)
    if not names:
        return {}, {}
    if tables is None or directory is None:
        raise ConfigError(f"embedding fields {names} need the dataset's item table and its encoded vectors "
                          "(a dataset the prepare stage reads, with encode.encoders or fields.modalities_dir)")
    try:
        loaded = load_modalities(directory, names)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"features: embedding field: {exc}") from None
    ids = [str(i) for i in tables.items["item_id"]]
    for name, (table, _) in loaded.items():
        if table.shape[0] != len(ids) + 1:
            raise ConfigError(f"features: embedding field '{name}': {directory / (name + '.safetensors')} has "
                              f"{table.shape[0]} rows, the item table {len(ids)} items (+ row 0); it was encoded "
                              "for another catalogue")
    return ({name: (ids, int(t.shape[1])) for name, (t, _) in loaded.items()},
            {name: t for name, (t, _) in loaded.items()})


def fit_and_encode(fields: list[Field], sources: dict[str, EventSource],
                   embeddings: dict[str, tuple[list[str], int]]) -> tuple[FeatureMap, dict[str, dict[str, torch.Tensor]]]:
    """The feature map fitted on ``sources["train"]`` (one pass), then every split encoded (a second pass)."""
    start = time.perf_counter()
    try:
        feature_map = FeatureMap.fit(fields, sources["train"].chunks(), embeddings)
    except FeatureError as exc:
        if "empty split" in str(exc):
            raise FeatureError(f"{sources['train'].name}: split 'train' has no rows to fit the feature map on") \
                from None
        raise
    log.info("fields: feature map fitted on train in %.1fs (%s)", time.perf_counter() - start,
             ", ".join(f"{k} {v}" for k, v in feature_map.sizes().items()))
    encoded = {}
    for split, source in sources.items():
        start = time.perf_counter()
        try:
            encoded[split] = feature_map.encode_chunks(source.chunks(), split)
        except FeatureError as exc:
            if f"split '{split}' has no rows" in str(exc):
                raise FeatureError(f"{source.name}: split '{split}' has no rows") from None
            raise
        rows = len(next(iter(encoded[split].values())))
        log.info("fields: encoded %s: %d events in %.1fs", split, rows, time.perf_counter() - start)
    return feature_map, encoded


def check_labels(feature_map: FeatureMap, data: dict[str, dict[str, torch.Tensor]], sources: dict[str, EventSource],
                 monitor: str) -> None:
    """Early stopping on validation AUC needs both classes in the validation split: otherwise one clear error."""
    if monitor != "AUC":
        return
    for label in feature_map.labels:
        values = torch.unique(data["valid"][label]).tolist()
        if len(values) < 2:
            raise FeatureError(f"{sources['valid'].name}: split 'valid', field '{label}': every event has label "
                               f"{values[0]:g}; early stopping on validation AUC needs clicks and non-clicks "
                               "(more events, or fields.train.monitor: LogLoss)")

