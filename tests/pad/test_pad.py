"""PAD's triple experts: gate initialisation and weights, exact score factorisation, cold items, both backbones,
and the align step leaving the pre-trained anchor bit-identical."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from alignment.align import ProjectorConfig
from mmrec.config import PADSection, TrainConfig
from mmrec.data.splits import leave_one_out
from mmrec.models.aligned_tower import AlignedTower
from mmrec.models.content_items import AlignedContentItems, ColdIDItems
from mmrec.models.gru4rec import GRU4RecConfig
from mmrec.models.pad import FrequencyGate, gate_positions, initial_gate_logits, never_seen_mask
from mmrec.models.sasrec import SASRecConfig
from mmrec.train import pad as P

N_ITEMS = 40


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread avoids OpenMP spin-waits on shared CPUs (minutes -> seconds here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    popular = rng.permutation(np.arange(1, N_ITEMS - 4))  # items N-4..N never occur: never seen
    sequences = [np.zeros(0, np.int64)] + [rng.choice(popular, size=rng.integers(5, 15), p=_zipf(len(popular)))
                                           for _ in range(30)]
    return leave_one_out(sequences, N_ITEMS)


def _zipf(n):
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


@pytest.fixture(scope="module")
def content():
    c = torch.randn(N_ITEMS + 1, 12, generator=torch.Generator().manual_seed(1))
    c[0] = 0
    return c


def _configs(kind):
    if kind == "sasrec":
        return SASRecConfig(dim=16, n_layers=1, n_heads=2, max_len=10, dropout=0.1)
    return GRU4RecConfig(dim=16, hidden=16, max_len=10, dropout=0.1)


def _pad(split, content, kind="sasrec", **settings):
    torch.manual_seed(0)
    cfg = _configs(kind)
    anchor = P.backbone(kind, cfg, N_ITEMS)
    settings = PADSection(projector_layers=2, **settings)
    tower = AlignedTower(P.copy_encoder(anchor, P.backbone(kind, cfg, N_ITEMS, AlignedContentItems(
        anchor.item_repr.all_items().detach(), content, ProjectorConfig(12, 16)))),
        never_seen_mask(split.item_train_counts()))
    return P.build_pad(anchor, tower, kind, cfg, content, split, settings).eval()


def test_gate_initialisation_favours_id_when_popular_and_content_when_cold():
    logits = initial_gate_logits(11)
    assert torch.allclose(logits[:, 0], torch.tensor([1.0, -4.0, 0.0]))
    assert torch.allclose(logits[:, -1], torch.tensor([0.0, -5.0, 1.0]))
    counts = np.array([0, 50, 40, 30, 3, 2, 1, 0, 0])
    positions, n = gate_positions(counts, 3)
    gate = FrequencyGate(positions, n)
    cold = torch.zeros(len(counts), dtype=torch.bool)
    w = gate(torch.arange(len(counts)), cold)
    assert torch.allclose(w.sum(-1), torch.ones(len(counts)))
    assert w[1, 0] > w[1, 2] and w[7, 2] > w[7, 0]  # popular: ID; never seen: content
    assert positions[1] == 0 and positions[7] == n - 1  # most popular first, never-seen last
    assert (np.diff(positions[1:7].numpy()) >= 0).all()  # rarer items sit further toward the tail
    cold[7] = True
    assert gate(torch.tensor([7]), cold)[0, 0] == 0  # no ID weight for a cold item
    uniform = FrequencyGate(positions, n, learnable=False)
    assert torch.allclose(uniform(torch.tensor([1, 5]), torch.zeros(9, dtype=torch.bool)), torch.full((2, 3), 1 / 3))
    assert not uniform.logits.requires_grad


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_score_is_gate_weighted_sum_of_expert_scores(split, content, kind):
    pad = _pad(split, content, kind)
    histories = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 6]])
    with torch.no_grad():
        scores = pad.score(histories)
        w = pad.expert_weights()
        manual = sum(w[:, k] * (e.encode_history(histories) @ e.item_repr.all_items().T)
                     for k, e in enumerate(pad.experts))
    assert scores.shape == (2, N_ITEMS + 1)
    assert torch.allclose(scores, manual, atol=1e-5)


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_user_aware_gate_starts_as_the_bin_gate_and_factorises_exactly(split, content, kind):
    bin_gate = _pad(split, content, kind)
    user_gate = _pad(split, content, kind, gate="user")
    histories = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 6]])
    with torch.no_grad():
        assert torch.allclose(user_gate.score(histories), bin_gate.score(histories), atol=1e-5)
        for p in user_gate.user_gate.out.parameters():  # move the MLP off zero: weights now depend on the user
            p.normal_(std=0.5)
        scores = user_gate.score(histories)
        users = [e.encode_history(histories) for e in user_gate.experts]
        w = user_gate.user_gate(torch.cat(users, dim=-1))  # (B, P, 3)
        items = torch.arange(N_ITEMS + 1)
        pos = torch.where(user_gate.never_seen, w.shape[1] - 1, user_gate.item_repr.positions)
        manual = sum(w[:, pos, k] * (u @ e.item_repr(items).T) for k, (u, e) in enumerate(zip(users, user_gate.experts)))
    assert not torch.allclose(w[0], w[1])
    assert torch.allclose(scores, manual, atol=1e-4)
    assert (w[:, -1, 0] == 0).all()  # never-seen position: no ID weight


def test_never_seen_items_do_not_depend_on_their_id_rows(split, content):
    pad = _pad(split, content)
    never = torch.nonzero(pad.never_seen).flatten()
    assert len(never) >= 4
    histories = torch.tensor([[0, 1, 2, 3]])
    with torch.no_grad():
        before = pad.score(histories)
        for e in pad.experts[:2]:  # ID table and the aligned expert's ID copy
            table = e.item_repr.weight.weight if isinstance(e.item_repr, ColdIDItems) else e.item_repr.aligned.ids.weight
            table[never] += 10.0
        after = pad.score(histories)
    assert torch.allclose(before[:, never], after[:, never], atol=1e-5)
    assert (pad.expert_weights()[never, 0] == 0).all()


def test_cold_dropout_resamples_in_training_and_resets_in_eval(split, content):
    pad = _pad(split, content, cold_dropout=0.5)
    pad.train()
    pad(torch.tensor([[1, 2, 3]]))
    assert pad.item_repr.cold.sum() > pad.never_seen.sum()
    assert all(torch.equal(pad.item_repr.cold, e.item_repr.cold) for e in pad.experts)
    # in training, never-seen items are outside the catalogue: zero vectors, so never learned as negatives
    never = torch.nonzero(pad.never_seen).flatten()
    assert (pad.item_repr.all_items()[never] == 0).all()
    pad.eval()
    assert torch.equal(pad.item_repr.cold, pad.never_seen)
    assert all(torch.equal(e.item_repr.cold, pad.never_seen) for e in pad.experts)
    assert (pad.item_repr.all_items()[never] != 0).any(dim=1).all()


def test_state_dict_saves_as_safetensors(split, content, tmp_path):
    pad = _pad(split, content)
    save_file({k: v.contiguous() for k, v in pad.state_dict().items()}, str(tmp_path / "pad.safetensors"))
    restored = _pad(split, content)
    restored.load_state_dict(load_file(str(tmp_path / "pad.safetensors")))
    h = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.equal(pad.score(h), restored.score(h))


def test_align_and_finetune_keep_the_anchor_bit_identical(split, content):
    cfg = _configs("sasrec")
    optim = TrainConfig(epochs=1, batch_size=16, patience=1, progress=False)
    anchor = P.pretrain("sasrec", cfg, split, optim, seed=0)
    before = {k: v.clone() for k, v in anchor.state_dict().items()}
    settings = PADSection(cold_dropout=0.2, align_epochs=1, finetune_epochs=1)
    tower = P.align(anchor, "sasrec", cfg, content, split, settings, optim, seed=0)
    pad = P.train_pad(anchor, tower, "sasrec", cfg, content, split, settings, optim, seed=0)
    assert all(torch.equal(v, before[k]) for k, v in anchor.state_dict().items())
    moved = tower.item_repr.aligned.ids.weight.detach()
    assert not torch.equal(moved, before["item_repr.weight.weight"])  # the copy trained
    assert pad.score(torch.tensor([[1, 2]])).shape == (1, N_ITEMS + 1)


def test_no_mmd_setting_adds_no_auxiliary_loss(split, content):
    cfg = _configs("sasrec")
    anchor = P.backbone("sasrec", cfg, N_ITEMS)
    tower_backbone = P.copy_encoder(anchor, P.backbone("sasrec", cfg, N_ITEMS, AlignedContentItems(
        anchor.item_repr.all_items().detach(), content, ProjectorConfig(12, 16))))
    never = never_seen_mask(split.item_train_counts())
    windows = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    assert AlignedTower(tower_backbone, never, mmd_weight=0.0).auxiliary_loss(windows) is None
    aux = AlignedTower(tower_backbone, never, mmd_weight=0.2).auxiliary_loss(windows)
    assert aux.ndim == 0 and torch.isfinite(aux)

