"""LoRA tuning: loss falls, only adapter + head parameters change, adapters round-trip bit-exactly,
and all three encoder kinds can be tuned (tiny models built from configs keep this fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from encoders.image import ImageEncoder
from encoders.llm import LLMEncoder
from encoders.lora import LoraSettings, info_nce, load_adapter, merge_lora, tune_lora
from encoders.text import TextEncoder

WORDS = ["cats", "dogs", "space", "war", "love", "money", "cars", "food", "ships", "music", "ghosts", "trains"]
ITEMS = [f"a film about {w} and {v}" for w, v in zip(WORDS, WORDS[3:] + WORDS[:3])] + [""]
FAST = LoraSettings(r=4, alpha=8, dropout=0.0, steps=25, batch_size=12, lr=1e-2, head_hidden=32, seed=0)


def _targets(n: int, dim: int = 8) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(1))


def _start_end(losses: list[float]) -> tuple[float, float]:
    return float(np.mean(losses[:3])), float(np.mean(losses[-3:]))


def test_info_nce_rewards_matching_rows() -> None:
    keys = torch.eye(4)
    assert info_nce(keys, keys, 0.1) < info_nce(keys, keys.roll(1, 0), 0.1)


def test_text_lora_changes_only_adapters_and_round_trips(tiny_bert_dir: Path, tmp_path: Path) -> None:
    encoder = TextEncoder(str(tiny_bert_dir))
    frozen = encoder.encode(ITEMS).emb
    before = {n: p.detach().clone() for n, p in encoder.model.named_parameters()}
    result = tune_lora(encoder, ITEMS, targets=_targets(len(ITEMS)), settings=FAST, adapter_dir=tmp_path, merge=False)
    start, end = _start_end(result.losses)
    print(f"text LoRA InfoNCE: {start:.3f} -> {end:.3f}")
    assert end < 0.5 * start

    lora_b = []
    for name, param in encoder.model.named_parameters():
        if "lora_" in name:
            if "lora_B" in name:
                lora_b.append(bool(param.abs().sum() > 0))  # initialised at zero, so non-zero = trained
        else:
            original = name.removeprefix("base_model.model.").replace(".base_layer", "")
            assert torch.equal(param, before[original]), f"base weight {name} changed"
    assert lora_b and all(lora_b)

    merge_lora(encoder)
    tuned = encoder.encode(ITEMS).emb
    assert np.abs(tuned - frozen)[:-1].max() > 1e-3 and not tuned[-1].any()

    reloaded = TextEncoder(str(tiny_bert_dir))
    head = load_adapter(reloaded, tmp_path)
    np.testing.assert_array_equal(reloaded.encode(ITEMS).emb, tuned)
    assert reloaded.adapter_sha256 == encoder.adapter_sha256 is not None
    assert reloaded.fingerprint() != TextEncoder(str(tiny_bert_dir)).fingerprint()
    for name, value in head.state_dict().items():
        assert torch.equal(value, result.head.state_dict()[name])  # type: ignore[union-attr]
    assert (tmp_path / "adapter_model.safetensors").is_file() and (tmp_path / "adapter_config.json").is_file()


def test_pairs_are_the_fallback_without_targets(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder(str(tiny_bert_dir))
    pairs = np.array([[i, (i + 1) % 12] for i in range(12)] + [[0, 12]])  # the last pair has an empty text
    result = tune_lora(encoder, ITEMS, pairs=pairs, settings=FAST)
    start, end = _start_end(result.losses)
    print(f"pair LoRA InfoNCE: {start:.3f} -> {end:.3f}")
    assert end < start
    with pytest.raises(ValueError, match="collaborative target"):
        tune_lora(TextEncoder(str(tiny_bert_dir)), ITEMS, settings=FAST)


def test_image_lora_on_a_vision_transformer(tiny_vit_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = []
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        names.append(f"{i}.png")
    encoder = ImageEncoder(str(tiny_vit_dir), root=tmp_path, num_workers=0)
    settings = LoraSettings(r=4, alpha=8, dropout=0.0, steps=20, batch_size=8, lr=1e-2, head_hidden=32)
    result = tune_lora(encoder, names, targets=_targets(8), settings=settings)
    start, end = _start_end(result.losses)
    assert end < start and encoder.adapter_sha256


def test_llm_lora_on_a_causal_lm(tiny_llama_dir: Path) -> None:
    encoder = LLMEncoder(str(tiny_llama_dir))
    result = tune_lora(encoder, ITEMS, targets=_targets(len(ITEMS)), settings=FAST)
    start, end = _start_end(result.losses)
    assert end < start
    np.testing.assert_allclose(encoder.encode(ITEMS[:1]).emb[0], encoder.encode(ITEMS[:3]).emb[0], atol=1e-5)


def test_efficientnet_default_targets_are_found() -> None:
    from peft import LoraConfig, get_peft_model

    encoder = ImageEncoder(num_workers=0)
    peft_model = get_peft_model(encoder.model, LoraConfig(r=2, target_modules=encoder.default_lora_targets()))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert 0 < trainable < 0.2 * sum(p.numel() for p in peft_model.parameters())
