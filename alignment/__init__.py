"""PAD's recommendation-anchored alignment: multi-kernel MMD and the aligned item embedding. Never imports mmrec."""

from alignment.align import (AlignedItems, ContentItems, ContentProjector, ProjectorConfig, alignment_loss,
                             alignment_mmd)
from alignment.mmd import DEFAULT_MULTIPLIERS, distinct_items, mk_mmd, multi_kernel, squared_distances

__all__ = ["AlignedItems", "ContentItems", "ContentProjector", "DEFAULT_MULTIPLIERS", "ProjectorConfig",
           "alignment_loss", "alignment_mmd", "distinct_items", "mk_mmd", "multi_kernel", "squared_distances"]
