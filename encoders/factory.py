"""Build an encoder from a recipe section, e.g.
`{kind: text, model: null, pooling: mean, normalize: true, batch_size: 64, tuning: frozen, lora: {...}}`.

`model: null` means the offline default of that kind. With `tuning: lora` the LoRA settings are attached to
the encoder; a saved adapter (`lora.adapter`) is loaded and merged at once, otherwise the pipeline calls
`encoders.tune_lora(encoder, items, targets=... | pairs=...)`. Unknown keys are refused by name.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

from encoders.base import Encoder
from encoders.image import ImageEncoder
from encoders.llm import LLMEncoder
from encoders.lora import LoraSettings, load_adapter
from encoders.text import TextEncoder

ENCODERS: dict[str, type[Encoder]] = {"text": TextEncoder, "image": ImageEncoder, "llm": LLMEncoder}
TUNING = ("frozen", "lora")


def build_encoder(kind: str, *, tuning: str = "frozen", lora: Mapping[str, Any] | None = None, **options: Any) -> Encoder:
    """An encoder of `kind` ('text' | 'image' | 'llm') configured by the remaining recipe keys."""
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder kind {kind!r}; expected one of {sorted(ENCODERS)}")
    if tuning not in TUNING:
        raise ValueError(f"encoder tuning must be one of {TUNING}, got {tuning!r}")
    cls = ENCODERS[kind]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {kind} encoder option(s) {unknown}; allowed: {allowed + ['tuning', 'lora']}")
    settings = lora_settings(lora) if tuning == "lora" else None
    encoder = cls(**options)
    encoder.lora = settings
    if settings is not None and settings.adapter:
        load_adapter(encoder, settings.adapter)
    return encoder


def lora_settings(section: Mapping[str, Any] | None) -> LoraSettings:
    """LoraSettings from a recipe's `lora:` mapping, refusing unknown keys."""
    section = dict(section or {})
    names = {f.name for f in dataclasses.fields(LoraSettings)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise ValueError(f"unknown lora option(s) {unknown}; allowed: {sorted(names)}")
    return LoraSettings(**section)
