"""PAD's one configuration: the recipe's ``pad`` section, which is also what a saved PAD or aligned tower holds.

The architecture beyond these settings comes from elsewhere and is passed beside the config: the backbone's own
config (``train.models[<backbone>]``, e.g. a :class:`~mmrec.models.sasrec.SASRecConfig`) and the width of the
content table (from the ``encode`` artifact).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from alignment.align import ProjectorConfig
from mmrec.core.config import ConfigError

ABLATION_NAMES = ("no_mmd", "uniform_gate", "user_gate", "text", "image", "llm", "concat")


@dataclasses.dataclass
class PADConfig:
    """PAD (METHODS.md §1): pre-train an ID backbone, align content to it, mix ID / aligned / content experts."""

    enabled: bool = False  # run the align and pad stages (needs the content modalities from encode)
    backbone: Literal["sasrec", "gru4rec"] = "sasrec"
    content: list[Literal["text", "image", "llm"]] = dataclasses.field(default_factory=lambda: ["text"])
    # the content expert's own input (None: the same as ``content``); "tfidf" is the sparse TF-IDF of the items'
    # text that content_knn builds (its train.models settings), densified; several sources are concatenated after
    # per-row L2 normalisation. The aligned tower always reads ``content``.
    content_expert: list[Literal["text", "image", "llm", "tfidf"]] | None = None
    content_dir: str | None = None  # use this folder of <modality>.safetensors instead of the encode stage's
    mmd_weight: float = 0.2  # λ of L_rec + λ · MK-MMD; 0 = the no-MMD ablation
    projector_layers: int = 2  # content projector: d_content -> d, then (layers - 1) x d -> d
    projector_dropout: float = 0.1
    n_bins: int = 10  # frequency bins of equal interaction mass, plus one for never-seen items
    gate: Literal["frequency", "uniform", "user"] = "frequency"  # user: also sees the user (slower scoring)
    gate_hidden: int = 64  # width of the user-aware gate's MLP
    # share of warm items served as never-seen at each training step (ID hidden, the gate's never-seen position):
    # without it that position gets no gradient and keeps its initial weights. 0.1 by default; the pad stage
    # fine-tunes once per value of ``cold_dropout_search`` (if set) and keeps the best on validation NDCG@10.
    # Measured (ml-100k new-items, seed 0, content expert text + tfidf): valid NDCG@10 0.0565 / 0.0524 / 0.0531
    # at 0.0 / 0.1 / 0.2, so search rather than trust the default
    cold_dropout: float = 0.1
    cold_dropout_search: list[float] = dataclasses.field(default_factory=list)
    # the never-seen gate position's mix, chosen on validation after fine-tuning (the aligned expert's share of
    # aligned + content; the ID expert has none there). No training event reaches that position: never-seen items
    # are outside the training catalogue, and cold dropout trains it on warm items served as cold, which calibrates
    # new items against warm ones (ml-100k new-items, seed 0: valid NDCG@10 0.0532 at cold dropout 0, 0.0026 at
    # 0.2). The learned column is a candidate too; searched only where validation has at least a readable bin of
    # never-seen targets (the new-items split), with the frequency gate. Empty: keep the learned column.
    never_seen_search: list[float] = dataclasses.field(
        default_factory=lambda: [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 0.95])
    never_seen_share: float | None = None  # the share validation chose (None: the learned column)
    align_lr: float = 1e-3
    finetune_lr: float = 5e-4
    align_epochs: int = 10  # the rest of the optimisation (batch size, patience, loss) is the train section's
    finetune_epochs: int = 10
    ablations: list[Literal["no_mmd", "uniform_gate", "user_gate", "text", "image", "llm", "concat"]] = dataclasses.field(
        default_factory=list)  # extra rows pad_<name> (catalogue variants of `pad`), each changing one setting

    def validate(self) -> None:
        if not self.content:
            raise ConfigError("pad.content must name at least one modality (text, image, llm)")
        if self.mmd_weight < 0 or self.projector_layers < 1:
            raise ConfigError("pad: mmd_weight must be >= 0, projector_layers >= 1")
        if any(not 0.0 <= p < 1.0 for p in [self.cold_dropout, *self.cold_dropout_search]):
            raise ConfigError(f"pad: cold_dropout ({self.cold_dropout}) and cold_dropout_search "
                              f"({self.cold_dropout_search}) must lie in [0, 1)")
        if any(not 0.0 < p < 1.0 for p in self.never_seen_search):
            raise ConfigError(f"pad.never_seen_search ({self.never_seen_search}): each share must lie in (0, 1)")
        if self.content_expert is not None and not self.content_expert:
            raise ConfigError("pad.content_expert must name at least one source (text, image, llm, tfidf) or be null")
        if self.n_bins < 1 or self.gate_hidden < 1:
            raise ConfigError(f"pad: n_bins ({self.n_bins}) and gate_hidden ({self.gate_hidden}) must be >= 1")

    def projector(self, content_dim: int, dim: int) -> ProjectorConfig:
        """The content projector P: content_dim -> dim, then (layers - 1) x dim -> dim."""
        return ProjectorConfig(content_dim, dim, self.projector_layers, self.projector_dropout)

    def content_expert_sources(self) -> list[str]:
        """What the content expert reads: ``content_expert``, or ``content`` when that is unset."""
        return list(self.content_expert or self.content)

    def candidates(self) -> list["PADConfig"]:
        """The fine-tuning settings to choose among on validation: one per ``cold_dropout_search`` value."""
        return [dataclasses.replace(self, cold_dropout=p, cold_dropout_search=[]) for p in self.cold_dropout_search] \
            or [self]

    def tower_key(self) -> str:
        """Names an aligned tower by what shapes it; PAD rows with the same key share one tower."""
        return (f"{'+'.join(self.content)}-mmd{self.mmd_weight:g}-p{self.projector_layers}"
                f"x{self.projector_dropout:g}-cd{self.cold_dropout:g}-lr{self.align_lr:g}-e{self.align_epochs}")
