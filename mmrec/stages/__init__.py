"""The pipeline's stages, listed explicitly in run order (no import-time registration)."""

from __future__ import annotations

from mmrec.pipeline import Stage
from mmrec.stages import align, ctr, encode, pad, prepare, quantize, sequential


def default_stages() -> list[Stage]:
    return [prepare.STAGE, encode.STAGE, quantize.STAGE, sequential.STAGE, align.STAGE, pad.STAGE, ctr.STAGE]
