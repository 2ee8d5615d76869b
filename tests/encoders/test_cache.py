"""Embedding cache: hits only on an identical manifest; stale, tampered or corrupt files re-encode loudly."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from encoders.cache import CacheError, EmbeddingCache, cache_key, cached_encode
from encoders.hashing import sha256_file
from encoders.text import TextEncoder

ITEMS = ["Heat", "", "Casino", "Toy Story"]


class Counting(TextEncoder):
    """A TextEncoder that counts real encodes."""

    calls = 0

    def encode(self, items):  # type: ignore[no-untyped-def]
        Counting.calls += 1
        return super().encode(items)


@pytest.fixture
def encoder(tiny_bert_dir: Path) -> Counting:
    Counting.calls = 0
    return Counting(str(tiny_bert_dir))


def test_hit_returns_identical_embeddings_without_encoding(encoder: Counting, tmp_path: Path) -> None:
    first = cached_encode(encoder, ITEMS, tmp_path)
    second = cached_encode(encoder, ITEMS, tmp_path)
    assert Counting.calls == 1
    np.testing.assert_array_equal(first.emb, second.emb)
    np.testing.assert_array_equal(first.mask, second.mask)
    manifest = json.loads((tmp_path / "text.json").read_text())
    assert manifest["dim"] == 32 and manifest["dtype"] == "float32"
    assert {"weights_sha256", "pooling", "lora_adapter_sha256", "items_sha256", "kind", "model"} <= set(manifest["key"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.json", "text.safetensors"]  # no temp files left


def test_any_key_change_re_encodes(encoder: Counting, tmp_path: Path) -> None:
    cached_encode(encoder, ITEMS, tmp_path)
    cached_encode(encoder, ITEMS[:3] + ["Toy Story 2"], tmp_path)
    assert Counting.calls == 2
    encoder.pooling = "cls"
    cls = cached_encode(encoder, ITEMS, tmp_path)
    assert Counting.calls == 3
    encoder.adapter_sha256 = "0" * 64
    cached_encode(encoder, ITEMS, tmp_path)
    assert Counting.calls == 4
    encoder.adapter_sha256 = None
    np.testing.assert_array_equal(cached_encode(encoder, ITEMS, tmp_path).emb, cls.emb)


def test_corrupt_file_is_reported_and_re_encoded(encoder: Counting, tmp_path: Path, caplog) -> None:
    good = cached_encode(encoder, ITEMS, tmp_path)
    data = tmp_path / "text.safetensors"
    data.write_bytes(data.read_bytes()[:-16] + b"\x00" * 16)
    with caplog.at_level(logging.WARNING):
        again = cached_encode(encoder, ITEMS, tmp_path)
    assert Counting.calls == 2 and "content hash differs" in caplog.text and str(data) in caplog.text
    np.testing.assert_array_equal(again.emb, good.emb)


def test_shape_disagreeing_with_manifest_is_never_used(encoder: Counting, tmp_path: Path) -> None:
    cached_encode(encoder, ITEMS, tmp_path)
    data, manifest_path = tmp_path / "text.safetensors", tmp_path / "text.json"
    save_file({"emb": torch.zeros(len(ITEMS), 16), "mask": torch.ones(len(ITEMS), dtype=torch.bool)}, str(data))
    manifest = json.loads(manifest_path.read_text())
    manifest["file_sha256"] = sha256_file(data)  # a consistent hash, so only the shape check can catch it
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match=r"emb is \(4, 16\).*manifest says \(4, 32\)"):
        EmbeddingCache(tmp_path).load("text", cache_key(encoder, ITEMS))
    assert cached_encode(encoder, ITEMS, tmp_path).emb.shape == (4, 32) and Counting.calls == 2


def test_garbage_file_with_matching_hash_is_caught(encoder: Counting, tmp_path: Path) -> None:
    cached_encode(encoder, ITEMS, tmp_path)
    data, manifest_path = tmp_path / "text.safetensors", tmp_path / "text.json"
    data.write_bytes(b"garbage")
    manifest = json.loads(manifest_path.read_text())
    manifest["file_sha256"] = sha256_file(data)
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match="not a readable safetensors file"):
        EmbeddingCache(tmp_path).load("text", cache_key(encoder, ITEMS))
