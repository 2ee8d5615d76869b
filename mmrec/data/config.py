"""The recipe's ``data`` and ``split`` sections: which dataset to load and which evaluation splits to build."""

from __future__ import annotations

import dataclasses
from typing import Literal

from mmrec.core.config import ConfigError


@dataclasses.dataclass
class DataConfig:
    """Which dataset to load and how to build item text and images from it."""

    dataset: str = "ml-100k"  # a built-in name (looked up under $MMREC_DATA or downloaded) or a directory
    format: Literal["auto", "movielens", "movielens-1m", "movielens-20m", "amazon-2018", "amazon-2023", "criteo",
                    "frappe", "events", "directory"] = "auto"  # auto: told apart by the files in the folder
    # (frappe: the BARS x1 libsvm parts; events: train / valid / test .csv or .parquet CTR events)
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
