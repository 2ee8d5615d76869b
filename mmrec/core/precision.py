"""The dtype a sequential backbone's matmuls run in: ``fp32`` (the default) or ``bf16`` mixed precision.

bf16 is ``torch.autocast``: weights, optimizer state, layer norms, softmaxes, losses and scores stay fp32, the
matmuls and attention take bf16 inputs. It pays where the CPU multiplies bf16 natively: on a 2-core Xeon with AMX a
(3200, 64) x (64, 1682) matmul runs 756 GFLOP/s against 49 in fp32 (a whole SASRec training step 1.3x, scoring
1.4x, the rest being elementwise work); on CPUs without AMX it may be slower than fp32. The same seed draws the same
initial weights and dropout masks in both; only rounding differs.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

from mmrec.core.config import ConfigError

Precision = Literal["fp32", "bf16"]
PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str, where: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"{where}: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def autocast(precision: Precision, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` for ``bf16``; a no-op context for ``fp32``."""
    check_precision(precision, "autocast")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
