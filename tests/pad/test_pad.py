"""PAD's triple experts: gate initialisation and weights, exact score factorisation, cold items, both backbones,
and the align step leaving the pre-trained anchor bit-identical."""

import numpy as np
import pytest
import torch
from pad_models import N_ITEMS, backbone_config, build_pad, build_tower, new_backbone, pretrain

from mmrec.items.content import ColdIDItems
from mmrec.items.gate import FrequencyGate, gate_positions, initial_gate_logits
from mmrec.pad.config import PADConfig
from mmrec.pad.train import align, train_pad
from mmrec.train.config import TrainConfig


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
def test_score_is_gate_weighted_sum_of_expert_scores(make_pad, kind):
    pad = make_pad(kind)
    histories = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 6]])
    with torch.no_grad():
        scores = pad.score(histories)
        w = pad.expert_weights()
        manual = sum(w[:, k] * (e.encode_history(histories) @ e.item_repr.all_items().T)
                     for k, e in enumerate(pad.experts))
    assert scores.shape == (2, N_ITEMS + 1)
    assert torch.allclose(scores, manual, atol=1e-5)


@pytest.mark.parametrize("kind", ["sasrec", "gru4rec"])
def test_user_aware_gate_starts_as_the_bin_gate_and_factorises_exactly(make_pad, kind):
    bin_gate = make_pad(kind)
    user_gate = make_pad(kind, gate="user")
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


def test_never_seen_items_do_not_depend_on_their_id_rows(make_pad):
    pad = make_pad()
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


def test_cold_dropout_resamples_in_training_and_resets_in_eval(make_pad):
    pad = make_pad(cold_dropout=0.5)
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


def test_align_and_finetune_keep_the_anchor_bit_identical(split, content):
    cfg = backbone_config("sasrec")
    optim = TrainConfig(epochs=1, batch_size=16, patience=1, progress=False)
    anchor = pretrain("sasrec", cfg, split, optim, seed=0)
    before = {k: v.clone() for k, v in anchor.state_dict().items()}
    settings = PADConfig(cold_dropout=0.2, align_epochs=1, finetune_epochs=1)
    tower = align(anchor, content, split, settings, optim, seed=0)
    pad = train_pad(anchor, tower, content, split, settings, optim, seed=0)
    assert all(torch.equal(v, before[k]) for k, v in anchor.state_dict().items())
    moved = tower.item_repr.aligned.ids.weight.detach()
    assert not torch.equal(moved, before["item_repr.weight.weight"])  # the copy trained
    assert pad.score(torch.tensor([[1, 2]])).shape == (1, N_ITEMS + 1)


def test_no_mmd_setting_adds_no_auxiliary_loss(split, content):
    cfg = backbone_config("sasrec")
    anchor = new_backbone("sasrec", cfg)
    windows = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    def tower(mmd_weight):
        return build_tower(anchor, "sasrec", content, split, PADConfig(mmd_weight=mmd_weight))

    assert tower(0.0).auxiliary_loss(windows) is None
    aux = tower(0.2).auxiliary_loss(windows)
    assert aux.ndim == 0 and torch.isfinite(aux)


def test_tower_and_experts_start_from_the_anchor_and_the_content(split, content):
    torch.manual_seed(0)
    cfg = backbone_config("sasrec")
    anchor = new_backbone("sasrec", cfg)
    tower = build_tower(anchor, "sasrec", content, split, PADConfig())
    table = anchor.item_repr.all_items()
    assert torch.equal(tower.item_repr.aligned.ids.weight, table)
    assert torch.equal(tower.item_repr.aligned.content.content, content)
    assert torch.equal(tower.backbone.positions.weight, anchor.positions.weight)
    never_seen = torch.from_numpy(split.item_train_counts() == 0) & (torch.arange(N_ITEMS + 1) > 0)
    assert torch.equal(tower.never_seen, never_seen)
    pad = build_pad(anchor, tower, "sasrec", content, split, PADConfig())
    id_expert, aligned_expert, content_expert = pad.experts
    assert torch.equal(id_expert.item_repr.weight.weight, table)
    assert torch.equal(id_expert.blocks[0].qkv.weight, anchor.blocks[0].qkv.weight)
    assert all(torch.equal(v, tower.backbone.state_dict()[k]) for k, v in aligned_expert.state_dict().items())
    assert torch.equal(content_expert.item_repr.content.content, content)
    assert not torch.equal(content_expert.blocks[0].qkv.weight, anchor.blocks[0].qkv.weight)  # a fresh encoder
