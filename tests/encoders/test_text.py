"""TextEncoder: agreement with sentence-transformers, masking, order restoration, pooling, Hub ids offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from encoders.text import TextEncoder, pool

TEXTS = [
    "Toy Story (1995). Animation, Children's, Comedy. A cowboy doll is jealous of a new spaceman toy.",
    "",
    "GoldenEye (1995). Action, Adventure, Thriller.",
    "   ",
    "Heat",
    "Sense and Sensibility (1995). Drama, Romance. Two sisters of opposite temperament.",
]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder(batch_size=2)


def test_default_model_matches_sentence_transformers(minilm: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    emb, mask = minilm.encode(TEXTS)
    reference = SentenceTransformer(minilm.source.name, device="cpu").encode([t for t in TEXTS if t.strip()])
    assert minilm.dim == 384 and minilm.pooling == "mean" and minilm.normalize
    np.testing.assert_allclose(emb[mask], reference, atol=1e-5)


def test_empty_texts_are_zero_rows_and_masked(minilm: TextEncoder) -> None:
    emb, mask = minilm.encode(TEXTS)
    assert emb.dtype == np.float32 and emb.shape == (len(TEXTS), 384)
    assert mask.tolist() == [True, False, True, False, True, True]
    assert not emb[~mask].any()
    np.testing.assert_allclose(np.linalg.norm(emb[mask], axis=1), 1.0, atol=1e-5)


def test_length_sorted_batching_restores_input_order(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder(str(tiny_bert_dir), batch_size=2)
    emb, _ = encoder.encode(TEXTS)
    order = [5, 2, 0, 4, 1, 3]
    shuffled, _ = encoder.encode([TEXTS[i] for i in order])
    np.testing.assert_allclose(shuffled, emb[order], atol=1e-5)
    one_by_one = np.stack([encoder.encode([t]).emb[0] for t in TEXTS])
    np.testing.assert_allclose(one_by_one, emb, atol=1e-5)


def test_pooling_ignores_padding_and_cls_takes_first_token() -> None:
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 1.0]]


def test_plain_hf_encoder_by_repo_id_offline(tiny_bert_dir: Path, hub_cache) -> None:
    revision = hub_cache(tiny_bert_dir, "tiny-org/tiny-bert")
    by_id = TextEncoder("tiny-org/tiny-bert", pooling="cls", normalize=False)
    by_path = TextEncoder(str(tiny_bert_dir), pooling="cls", normalize=False)
    assert by_id.dim == 32
    np.testing.assert_array_equal(by_id.encode(TEXTS).emb, by_path.encode(TEXTS).emb)
    fingerprint = by_id.fingerprint()
    assert fingerprint["snapshot"] == revision
    assert fingerprint["weights_sha256"] == by_path.fingerprint()["weights_sha256"]
    mean = TextEncoder("tiny-org/tiny-bert", pooling="mean", normalize=False).encode(TEXTS).emb
    assert not np.allclose(mean, by_id.encode(TEXTS).emb)


def test_bad_pooling_is_refused(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="pooling"):
        TextEncoder(str(tiny_bert_dir), pooling="max")  # type: ignore[arg-type]


def test_batches_run_longest_token_count_first_and_match_unsorted(tiny_bert_dir: Path) -> None:
    encoder = TextEncoder(str(tiny_bert_dir), batch_size=2, normalize=False)
    texts = ["a b c d e f g h", "antidisestablishmentarianism", "x", "", "one two three", "Heat Heat"]
    present = np.array([0, 1, 2, 4, 5])
    rows = np.concatenate(list(encoder.batches(texts, present)))
    assert sorted(rows.tolist()) == present.tolist()
    lengths = encoder.token_lengths([texts[i] for i in rows])
    assert (np.diff(lengths) <= 0).all() and lengths[0] > lengths[-1]
    # The long single word is many word pieces but few characters: character sorting would misplace it.
    assert rows.tolist().index(1) < rows.tolist().index(5)
    sorted_emb = encoder.encode(texts).emb
    unsorted = np.zeros_like(sorted_emb)
    for start in range(0, len(present), 2):  # the same texts batched in input order
        block = present[start : start + 2]
        unsorted[block] = encoder.embed_batch([texts[i] for i in block]).detach().numpy()
    np.testing.assert_allclose(sorted_emb, unsorted, atol=1e-5)
