"""benchmarks/bench_pad.py selects the new-items anchor on a warm hold-out (its own validation is all new items)."""

import numpy as np

from benchmarks.bench_pad import warm_holdout
from mmrec.data.splits import new_items
from mmrec.eval.evaluate import ranking_cases


def test_warm_holdout_by_hand():
    seqs = [np.zeros(0, dtype=np.int64)] + [np.arange(1, 11) + u for u in range(6)]
    split = new_items(seqs, n_items=20, fraction=0.3, min_user_interactions=3, seed=0)
    held = warm_holdout(split)
    new = set(split.new_items.tolist())
    assert not new & set(held.valid.targets.tolist())  # every hold-out target is warm, so an ID model can score it
    for u, hist, target in zip(held.valid.users, held.valid.histories, held.valid.targets):
        assert held.train[u].tolist() == split.train[u][:-1].tolist() == hist.tolist()
        assert target == split.train[u][-1] and target not in held.train[u]
    assert held.test is split.test and (held.new_items == split.new_items).all()
    cases = ranking_cases(held, "valid")  # what the trainer selects on: the target itself is not masked
    assert len(cases) == len(held.valid)
