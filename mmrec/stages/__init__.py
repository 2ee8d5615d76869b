"""The pipeline's stages, listed explicitly in run order (no import-time registration)."""

from __future__ import annotations

from mmrec.ctr import stage as ctr
from mmrec.fields import stage as fields
from mmrec.fields.events import is_ctr_log
from mmrec.pad import stage as pad
from mmrec.pipeline import Stage
from mmrec.recipe import RecipeConfig
from mmrec.stages import encode, prepare, quantize, sequential


def default_stages(cfg: RecipeConfig | None = None) -> list[Stage]:
    """Every stage; with ``cfg``, the recipe's: a CTR log (Frappe, Criteo, event files) has the fields stage alone,
    and a recipe without ``fields.models`` has no fields stage (it would have nothing to do)."""
    stages = [prepare.STAGE, encode.STAGE, quantize.STAGE, sequential.STAGE, pad.ALIGN, pad.PAD_STAGE, ctr.STAGE,
              fields.STAGE]
    if cfg is not None and is_ctr_log(cfg):
        return [fields.STAGE]
    if cfg is not None and not cfg.fields.models:
        return [s for s in stages if s is not fields.STAGE]
    return stages
