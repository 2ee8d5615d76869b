"""PAD and its aligned tower on the Hub mixin: save_pretrained / load_model from a folder or a cached repo id give
identical scores (never-seen items and the gate's frequency bins included) with no training data at hand."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pad_models import N_ITEMS, backbone_config, build_tower, new_backbone

from mmrec.hub import load_model
from mmrec.pad.config import PADConfig
from mmrec.pad.model import PAD
from mmrec.pad.tower import AlignedTower

REPO = Path(__file__).resolve().parents[2]
NEVER_SEEN = [N_ITEMS - 3, N_ITEMS - 1]
HISTORIES = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 6], [0, 0, 0, 7, NEVER_SEEN[0]], [0, 0, 0, 0, NEVER_SEEN[1]]])


def _perturbed(model):
    """Every parameter moved off its initial value, so each saved tensor (gate logits, user gate) matters."""
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()


@pytest.mark.parametrize("kind, gate", [("sasrec", "frequency"), ("gru4rec", "frequency"), ("sasrec", "user"),
                                        ("sasrec", "uniform")])
def test_pad_round_trips_with_identical_scores(make_pad, tmp_path, kind, gate):
    pad = _perturbed(make_pad(kind, gate=gate, n_bins=4))
    pad.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "README.md"} <= set(os.listdir(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "pad" and config["item_repr"] is None
    assert config["config"]["backbone"] == kind and config["config"]["gate"] == gate
    loaded = load_model(tmp_path)  # nothing but the folder: no split, no content
    assert type(loaded) is PAD and not loaded.training
    assert torch.equal(loaded.item_counts, pad.item_counts) and torch.equal(loaded.never_seen, pad.never_seen)
    with torch.no_grad():
        scores, again = pad.score(HISTORIES), loaded.score(HISTORIES)
    assert torch.equal(again, scores)
    assert (scores[:, NEVER_SEEN] != 0).all()  # never-seen items are scored (aligned + content experts)
    if gate != "user":
        assert torch.equal(loaded.expert_weights(), pad.expert_weights())
        assert torch.equal(loaded.item_repr.gate.positions, pad.item_repr.gate.positions)
        assert (loaded.expert_weights()[NEVER_SEEN, 0] == 0).all()  # the never-seen bin: no ID weight
    else:
        users = torch.randn(3, loaded.item_repr.expert_dim)
        assert torch.equal(loaded.user_gate(users), pad.user_gate(users))


def test_the_gate_bins_come_from_the_saved_item_counts(make_pad, tmp_path):
    """The bins are cut from item_counts, a buffer: a loaded PAD recomputes the same gate positions from it."""
    pad = make_pad(n_bins=4)
    pad.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    rebuilt = PAD(loaded.config, loaded.architecture, loaded.item_counts)
    assert torch.equal(rebuilt.item_repr.gate.positions, pad.item_repr.gate.positions)
    assert rebuilt.item_repr.gate.logits.shape == pad.item_repr.gate.logits.shape


def test_aligned_tower_round_trips(split, content, tmp_path):
    cfg = backbone_config("gru4rec")
    anchor = new_backbone("gru4rec", cfg)
    tower = _perturbed(build_tower(anchor, "gru4rec", content, split, PADConfig(mmd_weight=0.3)))
    tower.save_pretrained(tmp_path)
    loaded = AlignedTower.from_pretrained(tmp_path)
    assert loaded.mmd_weight == 0.3 and torch.equal(loaded.never_seen, tower.never_seen)
    with torch.no_grad():
        assert torch.equal(loaded.score(HISTORIES), tower.score(HISTORIES))


def test_pad_by_repo_id_offline_and_mmrec_score(make_pad, tmp_path, hf_cache):
    pad = _perturbed(make_pad())
    pad.item_ids = [f"m{i}" for i in range(1, N_ITEMS + 1)]
    pad.save_pretrained(tmp_path / "saved")
    cache = hf_cache(tmp_path / "saved", "mmrec-test/tiny-pad")
    loaded = load_model("mmrec-test/tiny-pad", cache_dir=cache, local_files_only=True)
    with torch.no_grad():
        assert torch.equal(loaded.score(HISTORIES), pad.score(HISTORIES))
    assert loaded.item_ids == pad.item_ids
    # as a user would: a fresh process, the repo id, HF_HUB_OFFLINE, a history that ends on a never-seen item
    history = [3, 4, NEVER_SEEN[0]]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "mmrec", "score", "mmrec-test/tiny-pad", "--history",
                          *[f"m{i}" for i in history], "--top", "5", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with torch.no_grad():
        scores = pad.score(torch.tensor([history]))[0]
    scores[[0, *history]] = -torch.inf
    expected = torch.topk(scores, 5)
    top = json.loads(out.stdout)
    assert [t["item_id"] for t in top] == [f"m{i}" for i in expected.indices.tolist()]
    assert [t["score"] for t in top] == pytest.approx(expected.values.tolist(), rel=1e-5)
