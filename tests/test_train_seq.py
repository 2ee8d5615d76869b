"""The sequential trainer: window construction, learning, determinism, resuming from a checkpoint."""

import dataclasses

import numpy as np
import pytest
import torch

from mmrec.core.config import ConfigError
from mmrec.eval.metrics import RankingCases
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.train.config import TrainConfig
from mmrec.train.sequential import SequentialTrainer, learning_rate, training_windows, window_targets

N_ITEMS = 40


def test_windows_cover_every_target_once_from_the_end():
    train = [np.zeros(0, np.int64), np.array([1, 2, 3, 4, 5, 6, 7]), np.array([8]), np.array([9, 10])]
    w = training_windows(train, max_len=3)
    # user 1 (7 items): windows end at 7 and 4, the second left-padded; user 2 has no target; user 3 one window
    assert w.tolist() == [[4, 5, 6, 7], [1, 2, 3, 4], [0, 0, 9, 10]]
    inputs, targets = window_targets(w)
    assert sorted(targets[targets > 0].tolist()) == [2, 3, 4, 5, 6, 7, 10]  # every non-first item exactly once
    assert ((targets > 0) <= (inputs > 0)).all()  # never a target without an input
    assert training_windows(train, max_len=3, stride=1).shape == (7, 4)


def _cyclic_data(n_users=60, length=10, seed=0):
    """Each user walks the catalogue in steps of +1 (mod N) from a random start: the next item is learnable."""
    rng = np.random.default_rng(seed)
    seqs = [np.zeros(0, np.int64)]
    for _ in range(n_users):
        start = rng.integers(0, N_ITEMS)
        seqs.append((start + np.arange(length)) % N_ITEMS + 1)
    train = [s[:-1] for s in seqs]
    valid = RankingCases.build([s[:-1] for s in seqs[1:]], np.array([s[-1] for s in seqs[1:]]), None)
    return train, valid


def _trainer(model_cls, cfg, tmp=None, epochs=3, **kw):
    train, valid = _cyclic_data()
    torch.manual_seed(0)
    model = model_cls(cfg)
    opt = TrainConfig(models={}, epochs=epochs, batch_size=8, lr=5e-3, patience=50, progress=False, **kw)
    return SequentialTrainer(model, train, valid, opt, seed=3, checkpoint_dir=tmp)


SAS = SASRecConfig(n_items=N_ITEMS, dim=16, n_layers=1, n_heads=2, max_len=8, dropout=0.1)
GRU = GRU4RecConfig(n_items=N_ITEMS, dim=16, hidden=16, max_len=8, dropout=0.1)


@pytest.mark.parametrize("cls, cfg, loss", [(SASRec, SAS, "ce"), (SASRec, SAS, "bce"), (GRU4Rec, GRU, "ce")])
def test_learns_a_deterministic_next_item_rule(cls, cfg, loss):
    trainer = _trainer(cls, cfg, epochs=25, loss=loss)
    untrained = trainer.validate()
    early = trainer.fit()
    assert untrained < 0.3
    assert early.best > 0.8  # chance level is ~0.1


def test_same_seed_same_run():
    a, b = _trainer(SASRec, SAS), _trainer(SASRec, SAS)
    a.fit(), b.fit()
    assert [h.loss for h in a.history] == [h.loss for h in b.history]


def test_resume_from_the_last_checkpoint_replays_the_same_run(tmp_path):
    straight = _trainer(SASRec, SAS, epochs=4)
    straight.fit()
    first = _trainer(SASRec, SAS, tmp=tmp_path, epochs=2)
    first.fit()
    resumed = _trainer(SASRec, SAS, tmp=tmp_path, epochs=4)
    resumed.fit()
    assert [h.epoch for h in resumed.history] == [0, 1, 2, 3]
    assert [h.loss for h in resumed.history] == pytest.approx([h.loss for h in straight.history], rel=1e-6)


def test_learning_rate_schedules_by_hand():
    def lrs(schedule, warmup):
        cfg = TrainConfig(models={}, epochs=2, lr=0.1, lr_schedule=schedule, warmup_epochs=warmup)
        return [learning_rate(cfg, step, steps_per_epoch=5) for step in range(10)]

    assert lrs("constant", 0) == [0.1] * 10
    assert lrs("constant", 0.4) == pytest.approx([0.05, 0.1] + [0.1] * 8)  # 2 warm-up steps: 1/2, 2/2 of lr
    # linear: after 2 warm-up steps, 8 steps from lr down by lr / 8 each
    assert lrs("linear", 0.4) == pytest.approx([0.05, 0.1, 0.1, 0.0875, 0.075, 0.0625, 0.05, 0.0375, 0.025, 0.0125])
    cosine = lrs("cosine", 0)
    assert cosine[0] == pytest.approx(0.1) and cosine[5] == pytest.approx(0.05)  # half way: half the lr
    assert all(a > b for a, b in zip(cosine, cosine[1:]))
    assert cosine[-1] == pytest.approx(0.1 * 0.5 * (1 + np.cos(0.9 * np.pi)))
    with pytest.raises(ConfigError, match="warmup_epochs"):
        TrainConfig(models={}, epochs=2, warmup_epochs=2).validate()


def test_a_run_killed_mid_schedule_resumes_on_the_schedule(tmp_path, monkeypatch):
    kw = dict(epochs=4, lr_schedule="linear", warmup_epochs=0.5)
    straight = _trainer(SASRec, SAS, **kw)
    straight.fit()
    constant = _trainer(SASRec, SAS, epochs=4)
    constant.fit()
    assert straight.history[-1].loss != pytest.approx(constant.history[-1].loss, rel=1e-3)  # the schedule acts
    calls = {"n": 0}
    validate = SequentialTrainer.validate

    def dies_in_the_third_epoch(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # after epochs 0 and 1 were checkpointed
        return validate(self)

    with monkeypatch.context() as patch:
        patch.setattr(SequentialTrainer, "validate", dies_in_the_third_epoch)
        with pytest.raises(KeyboardInterrupt):
            _trainer(SASRec, SAS, tmp=tmp_path, **kw).fit()
    resumed = _trainer(SASRec, SAS, tmp=tmp_path, **kw)
    resumed.fit()
    assert [h.epoch for h in resumed.history] == [0, 1, 2, 3]
    assert [h.loss for h in resumed.history] == pytest.approx([h.loss for h in straight.history], rel=1e-6)


def test_best_validation_weights_are_kept(tmp_path):
    trainer = _trainer(SASRec, SAS, tmp=tmp_path, epochs=3)
    early = trainer.fit()
    assert trainer.validate() == pytest.approx(early.best)


def test_stop_at_ends_training_once_reached():
    train, valid = _cyclic_data()
    model = SASRec(dataclasses.replace(SAS))
    opt = TrainConfig(models={}, epochs=25, batch_size=8, lr=5e-3, progress=False)
    trainer = SequentialTrainer(model, train, valid, opt, seed=0, stop_at=0.0)
    trainer.fit()
    assert len(trainer.history) == 1
