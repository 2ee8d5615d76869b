"""The pipeline's stages, listed explicitly in run order (no import-time registration)."""

from __future__ import annotations

from mmrec.ctr import stage as ctr
from mmrec.fields import stage as fields
from mmrec.pad import stage as pad
from mmrec.pipeline import Stage
from mmrec.stages import encode, prepare, quantize, sequential


def default_stages() -> list[Stage]:
    return [prepare.STAGE, encode.STAGE, quantize.STAGE, sequential.STAGE, pad.ALIGN, pad.PAD_STAGE, ctr.STAGE,
            fields.STAGE]
