"""The recipe's ``ctr`` section: which CTR models to train, their shared settings, and the triple-expert item side."""

from __future__ import annotations

import dataclasses
from typing import Any

from mmrec.core.config import ConfigError


@dataclasses.dataclass
class CTRItemSideConfig:
    """The triple-expert item side of the ``*_te`` CTR models: ID, aligned content and MoC codes, mixed per
    item-frequency bin by PAD's gate (``mmrec.items.triple``)."""

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
    """The ``ctr`` stage: which CTR models to train (catalogue names, ``mmrec.catalogue``) and how.

    ``model_overrides`` maps a model name to config fields of that model; names and fields are checked against
    the catalogue when the recipe loads.
    """

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
    # embedding tables with at least this many rows get row-sparse gradients and lazy AdamW updates (a step costs
    # the rows it touched; mmrec.train.lazy_adam); null: every table dense (AdamW)
    sparse_min_rows: int | None = 100_000
    modalities: list[str] = dataclasses.field(default_factory=lambda: ["text", "image"])  # encode outputs used
    modalities_dir: str | None = None  # use these modality tables instead of the encode stage's
    model_overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # per model key
    item_side: CTRItemSideConfig = dataclasses.field(default_factory=CTRItemSideConfig)  # of the *_te models

    def validate(self) -> None:
        if min(self.max_history, self.embed_dim, self.batch_size, self.eval_batch_size, self.max_epochs) < 1:
            raise ConfigError("ctr.max_history, embed_dim, batch_size, eval_batch_size and max_epochs must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.patience < 1:
            raise ConfigError("ctr.lr must be > 0, ctr.weight_decay >= 0 and ctr.patience >= 1")
        if self.sparse_min_rows is not None and self.sparse_min_rows < 1:
            raise ConfigError(f"ctr.sparse_min_rows must be >= 1 or null, got {self.sparse_min_rows}")

    def shared_fields(self) -> dict[str, Any]:
        """Settings of this section that every CTR model takes where its config has the field (``embed_dim``)."""
        return {"embed_dim": self.embed_dim}
