"""The ``fields`` part of the pre-run check: the declared fields' source columns against the events' columns.

Run before any stage (:func:`mmrec.preflight.check_recipe`), reading no event rows: the columns are the loader's
own (ml-100k, Frappe, Criteo) or the header of each events file. A field whose column the data lack is one
error naming the file, the field and the column. An ``embedding`` field whose modality nothing encodes (no
encoder of that name, no ``fields.modalities_dir``) is dropped with a note, as the preflight does for defaults
the data lack, so a recipe that declares text / image / llm vectors still runs where only some are encoded.
"""

from __future__ import annotations

from pathlib import Path

from mmrec.data import DataError, resolve_dataset
from mmrec.data.criteo import COLUMNS as CRITEO_COLUMNS
from mmrec.data.frappe import FIELD_NAMES as FRAPPE_FIELDS
from mmrec.data.ml100k_ctr import COLUMNS as ML100K_COLUMNS
from mmrec.features import parse_fields
from mmrec.fields.events import event_folder, file_columns
from mmrec.fields.training import trainer_config
from mmrec.recipe import RecipeConfig


def source_columns(cfg: RecipeConfig) -> dict[str, list[str]]:
    """``{where: columns}`` of the events the fields stage will read (each file of an events folder)."""
    folder, fmt = resolve_dataset(cfg.data)
    if fmt == "events":
        return {str(path): file_columns(path) for path in event_folder(folder).values()}
    if fmt == "frappe":
        return {str(folder): [*FRAPPE_FIELDS, "label"]}
    if fmt == "criteo":
        return {str(folder / "train.txt"): list(CRITEO_COLUMNS)}
    if fmt == "movielens" and folder.name == "ml-100k":
        return {f"{folder} (ml-100k CTR events, mmrec.data.ml100k_ctr)": list(ML100K_COLUMNS)}
    raise DataError(folder, f"fields.models: the fields stage reads ml-100k, frappe, criteo or a folder of train / "
                            f"valid / test event files; this dataset's format is '{fmt}'")


def _drop_unencoded(cfg: RecipeConfig) -> list[str]:
    directory = cfg.fields.modalities_dir
    kept, notes = [], []
    for entry in cfg.features:
        name = str(entry.get("name"))
        if entry.get("type") == "embedding":
            if directory is not None and not (Path(directory).expanduser() / f"{name}.safetensors").is_file():
                raise DataError(Path(directory).expanduser() / f"{name}.safetensors",
                                f"missing: embedding field '{name}' reads it (fields.modalities_dir)")
            if directory is None and name not in cfg.encode.encoders:
                notes.append(f"features: embedding field '{name}' skipped (no '{name}' encoder in encode.encoders and "
                             "no fields.modalities_dir)")
                continue
        kept.append(entry)
    cfg.features = kept
    return notes


def check_fields(cfg: RecipeConfig, planned: set[str]) -> list[str]:
    """Adjust / check ``cfg`` for the fields stage when it is planned with models; returns its notes."""
    if "fields" not in planned or not cfg.fields.models:
        return []
    notes = _drop_unencoded(cfg)
    for name in cfg.fields.models:
        trainer_config(cfg.fields, name, cfg.seeds[0])  # an unknown fields.train_overrides key stops here
    fields = parse_fields(cfg.features, "features")
    for where, columns in source_columns(cfg).items():
        for field in fields:
            for column in field.columns():
                if column not in columns:
                    raise DataError(where, f"features: field '{field.name}' reads column '{column}', which the events "
                                           f"lack (columns: {', '.join(columns)})", column=column)
    return notes
