"""Check a recipe against its dataset's columns and against itself before any stage runs.

A run that stops after 40 minutes on a column the data never had, or on a model reading a modality nothing
encodes, loses every finished stage's time; so each such mismatch is found here, up front. A field the recipe left
at its default (the defaults are ml-100k's names: ``title, genres``, ``image``, ``age, gender, occupation``) that
the data lack is skipped and noted (the notes reach the report); a field the recipe names itself that the data
lack is one clear error naming the file and the column.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mmrec import catalogue
from mmrec.core.config import ConfigError
from mmrec.ctr.config import CTRConfig
from mmrec.data import detect_format
from mmrec.data.config import DataConfig
from mmrec.data.errors import DataError
from mmrec.fields.checks import check_fields
from mmrec.recipe import RecipeConfig


def check_recipe(cfg: RecipeConfig, planned: set[str]) -> list[str]:
    """Adjust ``cfg`` in place where a default does not fit the data, checking what the ``planned`` stages read;
    returns one note per adjustment."""
    notes = _check_columns(cfg, "ctr" in planned)
    notes += _check_modalities(cfg, planned)
    notes += check_fields(cfg, planned)  # the declared features' columns against the events
    return notes


def header(root: Path, stem: str) -> tuple[Path, list[str]] | None:
    """(file, column names) of table ``stem`` of a dataset directory, reading no rows; None if it is absent."""
    for suffix in (".parquet", ".csv"):
        path = root / f"{stem}{suffix}"
        if not path.is_file():
            continue
        try:
            names = pq.read_schema(path).names if suffix == ".parquet" else pd.read_csv(path, nrows=0).columns
        except pd.errors.EmptyDataError:
            raise DataError(path, "file is empty") from None
        except Exception as exc:  # noqa: BLE001 - pandas / pyarrow parser errors are many types
            raise DataError(path, f"cannot parse the header: {exc}") from None
        return path, [str(c).strip() for c in names]
    return None


def _directory(data: DataConfig) -> Path | None:
    """The dataset folder when it is a bring-your-own directory (built-in loaders know their own columns)."""
    root = Path(data.dataset).expanduser()
    if not root.is_dir():
        return None
    return root if (data.format if data.format != "auto" else detect_format(root)) == "directory" else None


def _check_columns(cfg: RecipeConfig, ctr_planned: bool) -> list[str]:
    root = _directory(cfg.data)
    if root is None:
        return []
    defaults, notes = DataConfig(), []
    items = header(root, "items")
    if items is None:
        raise DataError(root / "items.csv", "missing: the dataset directory needs items.csv or items.parquet")
    items_file, columns = items
    missing = [f for f in cfg.data.text_fields if f not in columns]
    if missing and cfg.data.text_fields != defaults.text_fields:
        raise DataError(items_file, f"data.text_fields names {missing}, not columns of this table "
                                    f"(columns: {', '.join(columns)})", column=missing[0])
    if missing:
        cfg.data.text_fields = [f for f in cfg.data.text_fields if f in columns]
        notes.append(f"data.text_fields: default column(s) {missing} not in {items_file.name}; item text from "
                     f"{cfg.data.text_fields or 'no column'}")
    if cfg.data.image_field is not None and cfg.data.image_field not in columns:
        if cfg.data.image_field != defaults.image_field:
            raise DataError(items_file, f"data.image_field names a column this table lacks (columns: "
                                        f"{', '.join(columns)})", column=cfg.data.image_field)
        cfg.data.image_field = None
        notes.append(f"data.image_field: no '{defaults.image_field}' column in {items_file.name}; no images")
    if cfg.data.image_field is None:
        images = [n for n, spec in cfg.encode.encoders.items() if spec.kind == "image"]
        for name in images:
            del cfg.encode.encoders[name]
        if images:
            notes.append(f"encode.encoders: {images} skipped (the items have no image column)")
    if ctr_planned and cfg.ctr.models:
        notes += _check_user_fields(cfg, root)
    return notes


def _check_user_fields(cfg: RecipeConfig, root: Path) -> list[str]:
    users = header(root, "users")
    columns = users[1] if users else []
    missing = [f for f in cfg.ctr.user_fields if f not in columns]
    if not missing:
        return []
    where = users[0].name if users else "the dataset (no users table)"
    if cfg.ctr.user_fields != CTRConfig().user_fields:
        raise DataError(users[0] if users else root / "users.csv",
                        f"ctr.user_fields names {missing}, not columns of {where}", column=missing[0])
    cfg.ctr.user_fields = [f for f in cfg.ctr.user_fields if f in columns]
    return [f"ctr.user_fields: default field(s) {missing} not in {where}; CTR models use "
            f"{cfg.ctr.user_fields or 'no user fields'}"]


def _check_modalities(cfg: RecipeConfig, planned: set[str]) -> list[str]:
    """Every modality a planned stage reads is one the recipe encodes (or reads from a folder), named per model."""
    encoded, notes = set(cfg.encode.encoders), []
    ctr = cfg.ctr
    if "ctr" not in planned:
        ctr = dataclasses.replace(ctr, models=[])  # nothing of the ctr section is read in this run
    if ctr.models and "ctr" not in cfg.split.kinds:
        raise ConfigError(f"ctr.models {ctr.models} need the ctr split: add 'ctr' to split.kinds")
    if ctr.models and ctr.modalities_dir is None:
        absent = [m for m in ctr.modalities if m not in encoded]
        if absent and ctr.modalities != CTRConfig().modalities:
            raise ConfigError(f"ctr.modalities: {absent} not encoded (encode.encoders: {sorted(encoded) or 'none'})")
        if absent:
            ctr.modalities = [m for m in ctr.modalities if m in encoded]
            notes.append(f"ctr.modalities: default {absent} not encoded by this recipe; CTR reads {ctr.modalities}")
    for name in ctr.models:
        notes += _check_ctr_model(cfg, name, encoded)
    if "align" in planned and cfg.pad.enabled and cfg.pad.content_dir is None:
        for modality in cfg.pad.content:
            if modality not in encoded:
                raise ConfigError(f"pad.content: '{modality}' is not encoded (encode.encoders: "
                                  f"{sorted(encoded) or 'none'}); add an encoder or set pad.content_dir")
    source = cfg.quantize.source
    concat = source == "concat" and encoded
    if "quantize" in planned and cfg.quantize.modalities_dir is None and source not in encoded and not concat:
        raise ConfigError(f"quantize.source: '{source}' is not encoded (encode.encoders: {sorted(encoded) or 'none'})"
                          "; the semantic-ID codes are fitted on it")
    return notes


def _check_ctr_model(cfg: RecipeConfig, name: str, encoded: set[str]) -> list[str]:
    """A CTR model's modalities: left at the model's default, they narrow to ``ctr.modalities``; set, they must fit."""
    ctr, notes = cfg.ctr, []
    params = ctr.model_overrides.get(name, {})
    config = catalogue.model_config(name, params, f"ctr.model_overrides.{name}", ctr.shared_fields())
    needed = catalogue.lookup(name).model_class.modalities_needed(config)
    missing = [m for m in needed if m not in ctr.modalities]
    has_field = "modalities" in {f.name for f in dataclasses.fields(config)}
    defaulted = has_field and "modalities" not in params and config.modalities == type(config)().modalities
    if missing and defaulted and any(m in ctr.modalities for m in needed):
        kept = [m for m in needed if m in ctr.modalities]
        ctr.model_overrides[name] = {**params, "modalities": kept}
        notes.append(f"ctr model '{name}': reads {kept} (ctr.modalities), not its default {needed}")
    elif missing:
        raise ConfigError(f"ctr model '{name}' needs the {missing} modality, which ctr.modalities "
                          f"{ctr.modalities or '[]'} does not provide; add it there (and an encoder), or drop '{name}'")
    if catalogue.resolve(name)[1].triple_items and ctr.modalities_dir is None and ctr.item_side.content not in encoded:
        raise ConfigError(f"ctr model '{name}': its aligned expert reads ctr.item_side.content "
                          f"'{ctr.item_side.content}', which is not encoded (encode.encoders: {sorted(encoded) or 'none'})")
    return notes
