"""PAD's cold path is trained: items dropped by ``cold_dropout`` go through the never-seen gate position with
their ID rows hidden, and fine-tuning with the default settings moves that position's logits (at cold dropout 0
they get no gradient at all, so they stay at their initialisation)."""

import torch
from pad_models import backbone_config, build_tower, pretrain

from mmrec.items.gate import initial_gate_logits
from mmrec.pad.config import PADConfig
from mmrec.pad.train import train_pad
from mmrec.train.config import TrainConfig


def test_dropped_warm_items_are_served_as_never_seen(make_pad):
    pad = make_pad(cold_dropout=0.3)
    pad.train()
    torch.manual_seed(3)
    pad(torch.tensor([[1, 2, 3]]))
    dropped = pad.item_repr.cold & ~pad.never_seen
    dropped[0] = False
    gate = pad.item_repr.gate
    assert dropped.sum() > 0 and (gate.positions[dropped] != gate.cold_position).all()  # warm bins, yet cold
    items = torch.nonzero(dropped).flatten()
    for expert in pad.experts:  # no projector dropout in the comparisons; the PAD's masks stay the training ones
        expert.eval()
    with torch.no_grad():
        w = pad.item_repr.weights(items)
        s = torch.sigmoid(gate.logits[:, gate.cold_position]) * torch.tensor([0.0, 1.0, 1.0])
        assert torch.allclose(w, (s / s.sum()).expand_as(w))  # the never-seen position's weights, no ID share
        id_expert, aligned_expert, _ = pad.experts
        assert (id_expert.item_repr(items) == 0).all()  # ID row hidden
        before = aligned_expert.item_repr(items)
        aligned_expert.item_repr.aligned.ids.weight[items] += 10.0  # the aligned expert's ID copy is not read
        assert torch.allclose(aligned_expert.item_repr(items), before)
        warm = torch.nonzero(~pad.item_repr.cold).flatten()[1:4]
        assert (pad.item_repr.weights(warm)[:, 0] > 0).all()  # kept items still use their own bin and ID


def _never_seen_column(split, content, settings):
    """(trained, initial) logits of the never-seen gate position after a short fine-tuning."""
    optim = TrainConfig(epochs=1, batch_size=16, patience=1, progress=False)
    anchor = pretrain("sasrec", backbone_config("sasrec"), split, optim, seed=0)
    tower = build_tower(anchor, "sasrec", content, split, settings)
    pad = train_pad(anchor, tower, content, split, settings, optim, seed=0)
    logits = pad.item_repr.gate.logits.detach()
    return logits[:, -1], initial_gate_logits(logits.shape[1])[:, -1]


def test_finetuning_moves_the_never_seen_gate_logits_by_default(split, content):
    trained, initial = _never_seen_column(split, content, PADConfig(n_bins=3, finetune_epochs=2))
    assert (trained - initial).abs().max() > 1e-3  # the default cold dropout trains it
    trained, initial = _never_seen_column(split, content, PADConfig(n_bins=3, finetune_epochs=2, cold_dropout=0.0))
    assert torch.equal(trained, initial)  # without cold dropout no gradient reaches it


def test_cold_dropout_search_gives_one_candidate_per_value():
    cfg = PADConfig(cold_dropout_search=[0.0, 0.1, 0.2])
    assert [(c.cold_dropout, c.cold_dropout_search) for c in cfg.candidates()] == [(0.0, []), (0.1, []), (0.2, [])]
    assert PADConfig(cold_dropout=0.2).candidates() == [PADConfig(cold_dropout=0.2)]


def test_never_seen_share_sets_the_never_seen_position_exactly_and_puts_the_learned_column_back(make_pad):
    pad = make_pad()
    gate = pad.item_repr.gate
    learned = gate.logits[:, gate.cold_position].detach().clone()
    pad.set_never_seen_share(0.3)
    w = pad.expert_weights()[pad.never_seen]
    torch.testing.assert_close(w, torch.tensor([0.0, 0.3, 0.7]).expand_as(w))
    assert pad.config.never_seen_share == 0.3
    warm = pad.expert_weights()[~pad.never_seen][1:]
    pad.set_never_seen_share(None, learned)
    assert torch.equal(gate.logits[:, gate.cold_position], learned) and pad.config.never_seen_share is None
    torch.testing.assert_close(pad.expert_weights()[~pad.never_seen][1:], warm)  # warm bins never touched


def test_the_never_seen_mix_is_chosen_on_validation_where_it_has_never_seen_targets(make_pad, split):
    import numpy as np

    from mmrec.eval.config import EvalConfig
    from mmrec.eval.evaluate import evaluate
    from mmrec.eval.metrics import RankingCases
    from mmrec.pad.stage import choose_never_seen_share

    counts = split.item_train_counts()
    new = np.flatnonzero(counts == 0)[1:]  # never-seen items (0 is padding)
    rng = np.random.default_rng(0)
    targets = rng.choice(new, 40)
    histories = [rng.choice(np.flatnonzero(counts > 0), 4) for _ in targets]
    valid, settings = RankingCases.build(histories, targets), EvalConfig()
    pad = make_pad(never_seen_search=[0.1, 0.5, 0.9])
    by_share = {}
    for share in pad.config.never_seen_search:
        pad.set_never_seen_share(share)
        by_share[share] = evaluate(pad, valid, counts, settings)["overall"]["NDCG@10"]
    fresh = make_pad(never_seen_search=[0.1, 0.5, 0.9])
    learned = evaluate(fresh, valid, counts, settings)["overall"]["NDCG@10"]
    best = choose_never_seen_share(fresh, valid, counts, settings)
    assert best == max(learned, *by_share.values())
    assert fresh.config.never_seen_share == (None if best == learned else max(by_share, key=by_share.get))
    assert evaluate(fresh, valid, counts, settings)["overall"]["NDCG@10"] == best  # the model keeps the choice
    warm = RankingCases.build(split.valid.histories, split.valid.targets)  # leave-one-out: warm, nothing to choose
    assert choose_never_seen_share(fresh, warm, counts, settings) is None
