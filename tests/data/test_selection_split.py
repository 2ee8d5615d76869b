"""Selection on the new-items split: an ID-only model trains and early-stops on a warm hold-out (each user's last
training item), since every validation target there is never seen and it would score 0 at every epoch."""

import numpy as np

from mmrec.data.splits import leave_one_out, new_items, selection_split, warm_holdout
from mmrec.eval.evaluate import ranking_cases
from mmrec.models.content_knn import ContentKNN
from mmrec.models.sasrec import SASRec
from mmrec.models.semantic_sasrec import SemanticSASRec
from mmrec.pad.model import PAD
from mmrec.pad.tower import AlignedTower


def _sequences():
    return [np.zeros(0, dtype=np.int64)] + [np.arange(1, 11) + u for u in range(6)]


def test_warm_holdout_by_hand():
    split = new_items(_sequences(), n_items=20, fraction=0.3, min_user_interactions=3, seed=0)
    held = warm_holdout(split)
    new = set(split.new_items.tolist())
    assert not new & set(held.valid.targets.tolist())  # every hold-out target is warm, so an ID model can score it
    for u, hist, target in zip(held.valid.users, held.valid.histories, held.valid.targets):
        assert held.train[u].tolist() == split.train[u][:-1].tolist() == hist.tolist()
        assert target == split.train[u][-1] and target not in held.train[u]
    assert held.test is split.test and (held.new_items == split.new_items).all()
    cases = ranking_cases(held, "valid")  # what the trainer selects on: the target itself is not masked
    assert len(cases) == len(held.valid)


def test_selection_split_only_replaces_an_all_never_seen_validation_for_id_only_models():
    new = new_items(_sequences(), n_items=20, fraction=0.3, min_user_interactions=3, seed=0)
    assert (new.item_train_counts()[new.valid.targets] == 0).all()
    held = selection_split(new, scores_unseen_items=False)
    assert held is not new and (held.valid.targets == warm_holdout(new).valid.targets).all()
    assert selection_split(new, scores_unseen_items=True) is new  # content / codes models select on new items
    loo = leave_one_out(_sequences(), n_items=20)
    assert selection_split(loo, scores_unseen_items=False) is loo  # warm validation: kept


def test_which_models_score_never_seen_items():
    assert not SASRec.scores_unseen_items and not AlignedTower.scores_unseen_items
    assert SemanticSASRec.scores_unseen_items and ContentKNN.scores_unseen_items and PAD.scores_unseen_items
