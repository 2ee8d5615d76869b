"""Full-ranking metrics against hand computations on tiny catalogues."""

import math

import numpy as np
import pytest
import torch

from mmrec.eval.metrics import RankingCases, metrics_from_ranks, rank_all, target_ranks


def _ranks(scores, targets, masked=(), ties="optimistic"):
    rows = torch.tensor([r for r, _ in masked], dtype=torch.long)
    items = torch.tensor([i for _, i in masked], dtype=torch.long)
    return target_ranks(torch.tensor(scores, dtype=torch.float), torch.tensor(targets), rows, items, ties).tolist()


def test_rank_counts_strictly_higher_unmasked_items():
    # items 1..4 scored 0.1 0.9 0.5 0.7; target 3 (0.5) is beaten by items 2 and 4
    assert _ranks([[99.0, 0.1, 0.9, 0.5, 0.7]], [3]) == [2]


def test_padding_column_never_counts():
    assert _ranks([[1e9, 0.1, 0.2]], [2]) == [0]


def test_masked_items_are_removed_from_the_ranking():
    # item 2 (0.9) is in the history: only item 4 still beats the target
    assert _ranks([[0.0, 0.1, 0.9, 0.5, 0.7]], [3], masked=[(0, 2)]) == [1]


def test_target_in_the_history_stays_rankable():
    assert _ranks([[0.0, 0.1, 0.9, 0.5, 0.7]], [2], masked=[(0, 2)]) == [0]


@pytest.mark.parametrize("ties, expected", [("optimistic", 0), ("pessimistic", 2)])
def test_ties(ties, expected):
    # target 1 ties with items 2 and 3: optimistic puts it first among them, pessimistic last
    assert _ranks([[0.0, 0.5, 0.5, 0.5, 0.1]], [1], ties=ties) == [expected]


def test_masks_are_per_row():
    scores = [[0.0, 0.9, 0.5, 0.1], [0.0, 0.9, 0.5, 0.1]]
    assert _ranks(scores, [2, 2], masked=[(1, 1)]) == [1, 0]


def test_metric_values_by_hand():
    m = metrics_from_ranks(np.array([0, 1, 4, 10]), [5, 10])
    assert m["HR@5"] == pytest.approx(3 / 4)
    assert m["NDCG@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert m["MRR@5"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)
    assert m["HR@10"] == pytest.approx(3 / 4)  # rank 10 is the 11th place


def test_k_larger_than_the_catalogue_is_a_hit_for_every_case():
    # 3 items, K = 20: every target is somewhere in the top 20
    ranks = _ranks([[0.0, 0.3, 0.2, 0.1]] * 3, [1, 2, 3])
    assert ranks == [0, 1, 2]
    assert metrics_from_ranks(np.array(ranks), [20])["HR@20"] == 1.0


def test_never_seen_target_is_ranked_like_any_item():
    # a brand-new item with an untrained (zero) score is ranked behind the positively scored ones
    assert _ranks([[0.0, 0.3, 0.2, 0.0]], [3]) == [2]


def test_empty_case_set_gives_zeros_not_nan():
    assert metrics_from_ranks(np.zeros(0, dtype=np.int64), [10]) == {"HR@10": 0.0, "NDCG@10": 0.0, "MRR@10": 0.0}


def test_rank_all_batches_agree_with_one_batch():
    rng = np.random.default_rng(0)
    histories = [rng.choice(np.arange(1, 30), size=rng.integers(1, 6), replace=False) for _ in range(37)]
    targets = rng.integers(1, 30, size=37)
    known = [rng.choice(np.arange(1, 30), size=3, replace=False) for _ in range(37)]
    cases = RankingCases.build(histories, targets, known)
    table = torch.randn(30, 8, generator=torch.Generator().manual_seed(0))

    def score(h):
        return table[h].sum(1) @ table.T

    assert np.array_equal(rank_all(score, cases, batch_size=5), rank_all(score, cases, batch_size=1000))
    # brute force for case 0
    s = score(cases.histories[:1])[0].numpy()
    hidden = set(histories[0]) | set(known[0]) | {0}
    expected = sum(1 for i in range(30) if i not in hidden and i != targets[0] and s[i] > s[targets[0]])
    assert rank_all(score, cases)[0] == expected


def test_report_labels_gaps_under_two_std_as_no_difference():
    from mmrec.eval.report import compare

    def model(mean, std=None):
        value = mean if std is None else {"mean": mean, "std": std, "n": 3}
        return {"overall": {"NDCG@10": value}}

    verdict = compare({"a": model(0.100, 0.004), "b": model(0.095, 0.003), "c": model(0.080, 0.002),
                       "d": model(0.100)})
    assert verdict["a"] == "best" and verdict["d"] == "equal to best"
    assert verdict["b"].startswith("no difference")  # gap 0.005 < 2 x 0.004
    assert verdict["c"].startswith("worse")  # gap 0.020 > 2 x 0.004


def test_report_never_claims_significance_from_one_seed():
    """A one-seed summary ({"std": 0, "n": 1}, as CTR rows with one seed are) has no spread: no '> 2 std', no '±'."""
    from mmrec.eval.report import _fmt, compare

    one_seed = {"overall": {"AUC": {"mean": 0.70, "std": 0.0, "n": 1}}}
    verdict = compare({"a": {"overall": {"AUC": {"mean": 0.75, "std": 0.0, "n": 1}}}, "b": one_seed}, metric="AUC")
    assert verdict["b"] == "worse by 0.0500 (single run: no std)"
    assert _fmt({"mean": 0.7, "std": 0.0, "n": 1}) == "0.7000"
    assert _fmt({"mean": 0.7, "std": 0.01, "n": 3}) == "0.7000 ± 0.0100"
