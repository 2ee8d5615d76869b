"""LoRA settings of an encoder: the adapter's shape and its tuning run (a plain dataclass, read by ``encoders.lora``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoraSettings:
    """LoRA shape (r, alpha, dropout, target modules) and the tuning run; `adapter` loads a saved one instead."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | str | None = None
    steps: int = 200
    batch_size: int = 32
    lr: float = 5e-4
    temperature: float = 0.07
    proj_dim: int = 128
    head_hidden: int = 256
    seed: int = 0
    adapter: str | None = None
