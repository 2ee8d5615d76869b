"""FLOP counts: the analytic transformer count agrees with torch's flop counter on BERT and Llama (eager
attention, so the attention matmuls are visible to the counter)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from encoders.flops import module_flops, transformer_flops


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_llama_dir"])
def test_analytic_count_matches_the_flop_counter(fixture: str, request: pytest.FixtureRequest) -> None:
    folder: Path = request.getfixturevalue(fixture)
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    batch, length = 3, 17
    ids = torch.randint(5, 1000, (batch, length))
    counted = module_flops(model, ids)
    expected = transformer_flops(model.config, batch, length)
    # Llama's rotary embedding adds a (head_dim / 2) x length outer product per row, 0.1 % of this tiny model.
    assert counted == pytest.approx(expected, rel=1e-3)
    assert transformer_flops(model.config, batch, 2 * length) > 2 * expected  # attention grows with length^2

