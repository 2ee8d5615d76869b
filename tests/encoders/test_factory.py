"""build_encoder: recipe sections map onto encoders; mistakes are refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from encoders import LoraSettings, TextEncoder, build_encoder, tune_lora


def test_recipe_section_builds_a_text_encoder(tiny_bert_dir: Path) -> None:
    encoder = build_encoder(
        "text", model=str(tiny_bert_dir), pooling="cls", normalize=True, batch_size=8, tuning="lora", lora={"r": 2}
    )
    assert isinstance(encoder, TextEncoder) and encoder.pooling == "cls" and encoder.batch_size == 8
    assert encoder.lora == LoraSettings(r=2)


def test_default_model_when_model_is_null() -> None:
    encoder = build_encoder("text", model=None, tuning="frozen")
    assert encoder.dim == 384 and encoder.lora is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "audio"}, "unknown encoder kind 'audio'"),
        ({"kind": "text", "tuning": "full"}, "tuning must be one of"),
        ({"kind": "text", "poolin": "mean"}, r"unknown text encoder option\(s\) \['poolin'\]"),
        ({"kind": "text", "tuning": "lora", "lora": {"rank": 4}}, r"unknown lora option\(s\) \['rank'\]"),
    ],
)
def test_mistakes_are_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_encoder(**kwargs)


def test_unknown_precision_is_refused(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="precision must be"):
        build_encoder("text", model=str(tiny_bert_dir), precision="fp16")


def test_saved_adapter_is_loaded_and_merged(tiny_bert_dir: Path, tmp_path: Path) -> None:
    items = ["Heat", "Casino", "Toy Story", "Alien"]
    tuned = TextEncoder(str(tiny_bert_dir))
    settings = LoraSettings(r=2, steps=3, batch_size=4, lr=1e-2, head_hidden=8)
    tune_lora(tuned, items, targets=torch.randn(4, 4), settings=settings, adapter_dir=tmp_path)
    built = build_encoder("text", model=str(tiny_bert_dir), tuning="lora", lora={"adapter": str(tmp_path)})
    np.testing.assert_array_equal(built.encode(items).emb, tuned.encode(items).emb)
