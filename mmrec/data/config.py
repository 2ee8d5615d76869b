"""The recipe's ``data`` and ``split`` sections: which dataset to load and which evaluation splits to build."""

from __future__ import annotations

import dataclasses
from typing import Literal

from mmrec.core.config import ConfigError


@dataclasses.dataclass
class DataConfig:
    """Which dataset to load and how to build item text and images from it."""

    dataset: str = "ml-100k"  # a built-in name (looked up under $MMREC_DATA or downloaded) or a directory
    format: Literal["auto", "movielens", "directory"] = "auto"
    text_fields: list[str] = dataclasses.field(default_factory=lambda: ["title", "genres"])
    image_field: str | None = "image"
    min_user_interactions: int = 3
    cache_dir: str | None = None  # where downloaded datasets go; default ~/.cache/mmrec/datasets


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
