"""LLMEncoder: padding does not change embeddings, pooling and layer choice behave, prompt is never truncated;
the real SmolLM2 GGUF gives 576-d embeddings (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from encoders.llm import LLMEncoder, last_token_index

ITEMS = ["Heat", "", "Toy Story (1995). Animation, Children's, Comedy. A cowboy doll meets a spaceman.", "Casino"]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir: Path) -> LLMEncoder:
    return LLMEncoder(str(tiny_llama_dir), batch_size=4)


def test_batched_equals_single_item_encoding(tiny: LLMEncoder) -> None:
    emb, mask = tiny.encode(ITEMS)
    assert mask.tolist() == [True, False, True, True] and not emb[1].any()
    for i in (0, 2, 3):
        np.testing.assert_allclose(tiny.encode([ITEMS[i]]).emb[0], emb[i], atol=1e-5)
    assert not np.allclose(emb[0], emb[3])


def test_last_token_index_for_either_padding_side() -> None:
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert last_token_index(right).tolist() == [2, 3]
    assert last_token_index(left).tolist() == [3, 3]


def test_a_middle_layer_runs_only_the_blocks_below_it_and_equals_the_whole_models_state(tiny_llama_dir: Path) -> None:
    from transformers import AutoModel

    whole = AutoModel.from_pretrained(str(tiny_llama_dir)).eval()
    for layer in (1, -2, 0):  # -2 is block 1 of this 2-block model; 0 the token embeddings
        early = LLMEncoder(str(tiny_llama_dir), layer=layer, pooling="mean")
        assert early.early_exit and len(early.model.layers) == layer % 3
        batch = early.tokenizer([early.prompt(t) for t in ITEMS[2:]], padding=True, return_tensors="pt")
        with torch.no_grad():
            states = whole(**batch, output_hidden_states=True).hidden_states[layer]
        weights = batch["attention_mask"].unsqueeze(-1).float()
        expected = (states * weights).sum(1) / weights.sum(1)
        np.testing.assert_allclose(early.encode(ITEMS[2:]).emb, expected.numpy(), atol=1e-5)
    last = LLMEncoder(str(tiny_llama_dir), layer=-1)
    assert not last.early_exit and len(last.model.layers) == 2  # the final, normed state needs every block


def test_layer_zero_last_token_is_the_token_embedding(tiny_llama_dir: Path) -> None:
    encoder = LLMEncoder(str(tiny_llama_dir), layer=0, template="{text} end")
    emb = encoder.encode(["Heat"]).emb[0]
    ids = encoder.tokenizer("Heat end", return_tensors="pt")["input_ids"][0]
    expected = encoder.model.get_input_embeddings().weight[ids[-1]].detach().numpy()
    np.testing.assert_allclose(emb, expected, atol=1e-6)
    mean = LLMEncoder(str(tiny_llama_dir), layer=0, pooling="mean", template="{text} end").encode(["Heat"]).emb[0]
    all_tokens = encoder.model.get_input_embeddings().weight[ids].detach().numpy().mean(0)
    np.testing.assert_allclose(mean, all_tokens, atol=1e-6)


def test_long_texts_keep_the_instruction(tiny: LLMEncoder) -> None:
    tiny.max_length = 8
    prompt = tiny.prompt("word " * 500)
    tiny.max_length = 256
    assert prompt.endswith("Summarise this item in one word:") and prompt.count("word") < 20
    assert tiny.prompt("Mixed Case, kept") == "Item: Mixed Case, kept\nSummarise this item in one word:"


def test_bad_settings_are_refused(tiny_llama_dir: Path) -> None:
    with pytest.raises(ValueError, match="template"):
        LLMEncoder(str(tiny_llama_dir), template="no placeholder")
    with pytest.raises(ValueError, match="layer"):
        LLMEncoder(str(tiny_llama_dir), layer=7)


@pytest.mark.slow
def test_real_smollm2_gguf_gives_576d_embeddings() -> None:
    encoder = LLMEncoder(batch_size=4)
    texts = ["Toy Story (1995). Animation, Children's, Comedy", "", "GoldenEye (1995). Action, Thriller", "Heat"]
    emb, mask = encoder.encode(texts)
    assert emb.shape == (4, 576) and mask.tolist() == [True, False, True, True]
    assert np.isfinite(emb).all() and not emb[1].any()
    assert not np.allclose(emb[0], emb[2])
    np.testing.assert_allclose(encoder.encode([texts[3]]).emb[0], emb[3], atol=1e-4)
    assert encoder.fingerprint()["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_token_length_sorted_batches_keep_input_order(tiny: LLMEncoder) -> None:
    texts = ["Heat", "A much longer item description with many more words in it", "", "Casino Royale", "x y z w"]
    present = np.array([0, 1, 3, 4])
    rows = np.concatenate(list(tiny.batches(texts, present)))
    assert sorted(rows.tolist()) == present.tolist() and rows[0] == 1
    assert (np.diff(tiny.token_lengths([texts[i] for i in rows])) <= 0).all()
    tiny.batch_size = 2
    emb = tiny.encode(texts).emb
    tiny.batch_size = 4
    with torch.inference_mode():
        unsorted = np.stack([tiny.embed_batch([texts[i]])[0].numpy() for i in present])
    np.testing.assert_allclose(emb[present], unsorted, atol=1e-5)
    assert not emb[2].any()


@pytest.mark.slow
def test_gguf_is_dequantised_once_then_loaded_from_the_float_cache(tmp_path: Path, monkeypatch) -> None:
    """The first load parses the GGUF and writes safetensors; the second never parses it and gives
    bit-identical embeddings."""
    import gguf
    import transformers
    from transformers.integrations.gguf import reader as hf_gguf_reader

    from encoders.gguf_cache import MANIFEST, entry_dir

    texts = ["Toy Story (1995). Genres: Animation, Children's, Comedy.", "Heat", "GoldenEye (1995). Action"]
    cold = LLMEncoder(batch_size=2, weights_cache=tmp_path)
    entry = entry_dir(tmp_path, cold.source.weights_sha256(cold.gguf_file))
    assert cold.weights_cache_hit is False and (entry / MANIFEST).is_file() and (entry / "model.safetensors").is_file()
    assert not [p for p in entry.parent.iterdir() if p.name.endswith(".tmp")]

    def refuse(*args, **kwargs):
        raise AssertionError("the GGUF was parsed again")

    calls: list[dict] = []
    real_model, real_tokenizer = transformers.AutoModel.from_pretrained, transformers.AutoTokenizer.from_pretrained
    monkeypatch.setattr(gguf.GGUFReader, "__init__", refuse)
    monkeypatch.setattr(hf_gguf_reader, "_mapped", refuse)
    monkeypatch.setattr("encoders.gguf_cache.AutoModel.from_pretrained",
                        lambda *a, **k: calls.append(k) or real_model(*a, **k))
    monkeypatch.setattr("encoders.gguf_cache.AutoTokenizer.from_pretrained",
                        lambda *a, **k: calls.append(k) or real_tokenizer(*a, **k))
    cached = LLMEncoder(batch_size=2, weights_cache=tmp_path)
    assert cached.weights_cache_hit is True and len(calls) == 2 and not any("gguf_file" in k for k in calls)
    np.testing.assert_array_equal(cached.encode(texts).emb, cold.encode(texts).emb)
    assert cached.fingerprint() == cold.fingerprint()


def test_a_corrupt_float_cache_entry_is_not_trusted(tmp_path: Path) -> None:
    from encoders.gguf_cache import MANIFEST, _read_entry
    from encoders.hashing import sha256_file

    entry = tmp_path / "abc"
    entry.mkdir()
    (entry / "model.safetensors").write_bytes(b"weights")
    manifest = {"format": 1, "gguf_sha256": "abc", "files": {"model.safetensors": sha256_file(entry / "model.safetensors")}}
    (entry / MANIFEST).write_text(json.dumps(manifest))
    assert _read_entry(entry, "abc")
    assert not _read_entry(entry, "other-gguf")
    (entry / "model.safetensors").write_bytes(b"weightz")
    assert not _read_entry(entry, "abc")
    (entry / MANIFEST).write_text("{not json")
    assert not _read_entry(entry, "abc")
