"""Full-ranking metrics against hand computations on tiny catalogues."""

import math

import numpy as np
import pytest
import torch

from mmrec.eval.config import EvalConfig
from mmrec.eval.evaluate import evaluate
from mmrec.eval.metrics import RankingCases, count_with_numpy, metrics_from_ranks, rank_all, target_ranks
from mmrec.models.popularity import Popularity


def _ranks(scores, targets, masked=(), ties="expected"):
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


def test_target_scored_minus_inf_ties_only_with_candidates():
    # target 1 and item 4 scored -inf, item 2 above them, item 3 masked (also -inf): the padding column and item 3
    # are no candidates, so the target ties with item 4 alone -> expected rank 1 + 0.5
    inf = float("-inf")
    assert _ranks([[0.0, inf, 0.5, inf, inf]], [1], masked=[(0, 3)]) == [1.5]


@pytest.mark.parametrize("ties, expected", [("optimistic", 0), ("pessimistic", 2), ("expected", 1)])
def test_ties(ties, expected):
    # target 1 ties with items 2 and 3: optimistic puts it first among them, pessimistic last, expected between
    assert _ranks([[0.0, 0.5, 0.5, 0.5, 0.1]], [1], ties=ties) == [expected]


# case 0: items 1..5 scored 0.9 0.5 0.5 0.5 0.1, target 3 (0.5): item 1 beats it, items 2 and 4 tie with it
#         -> rank 1 (optimistic), 3 (pessimistic), 2 (expected); item 4 masked -> 1, 2, 1.5
# case 1: no tie, target 1 on top -> rank 0 in every mode
TIED = [[0.0, 0.9, 0.5, 0.5, 0.5, 0.1], [0.0, 0.9, 0.5, 0.5, 0.5, 0.1]]


@pytest.mark.parametrize("ties, rank", [("optimistic", 1), ("pessimistic", 3), ("expected", 2)])
def test_tied_hand_case_metrics(ties, rank):
    ranks = _ranks(TIED, [3, 1], ties=ties)
    assert ranks == [rank, 0]
    m = metrics_from_ranks(np.array(ranks), [2, 5])
    assert m["HR@2"] == pytest.approx({"optimistic": 2 / 2, "pessimistic": 1 / 2, "expected": 1 / 2}[ties])
    assert m["NDCG@5"] == pytest.approx((1 / math.log2(rank + 2) + 1) / 2)
    assert m["MRR@5"] == pytest.approx((1 / (rank + 1) + 1) / 2)


def test_expected_rank_of_an_odd_tie_is_fractional_and_read_as_is():
    ranks = _ranks(TIED, [3, 1], masked=[(0, 4)])
    assert ranks == [1.5, 0]
    m = metrics_from_ranks(np.array(ranks), [2])
    assert m["HR@2"] == 1.0  # 1.5 < 2
    assert m["NDCG@2"] == pytest.approx((1 / math.log2(3.5) + 1) / 2)
    assert m["MRR@2"] == pytest.approx((1 / 2.5 + 1) / 2)


def test_expected_rank_is_the_default_everywhere():
    assert EvalConfig().ties == "expected"
    assert _ranks(TIED, [3, 1]) == [2, 0]
    cases = RankingCases.build([np.array([5])], np.array([3]))
    assert rank_all(lambda h: torch.tensor(TIED[:1]).expand(len(h), -1), cases).tolist() == [2.0]


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


@pytest.mark.parametrize("ties", ["optimistic", "pessimistic", "expected"])
def test_rank_all_chunked_equals_unchunked_and_brute_force(ties):
    rng = np.random.default_rng(0)
    histories = [rng.choice(np.arange(1, 30), size=rng.integers(1, 6), replace=False) for _ in range(37)]
    targets = rng.integers(1, 30, size=37)
    known = [rng.choice(np.arange(1, 30), size=3, replace=False) for _ in range(37)]
    cases = RankingCases.build(histories, targets, known)
    table = torch.randint(-2, 3, (30, 4), generator=torch.Generator().manual_seed(0)).float()  # many exact ties
    table[0] = 0  # padding is no item: chunks pad to their own longest history

    def score(h):
        return table[h].sum(1) @ table.T

    whole = rank_all(score, cases, batch_size=1000, ties=ties)
    assert np.array_equal(rank_all(score, cases, batch_size=5, ties=ties), whole)
    share = {"optimistic": 0.0, "expected": 0.5, "pessimistic": 1.0}[ties]
    n_tied = 0
    for c in range(len(cases)):
        s = score(cases.histories(c, c + 1))[0].numpy()
        t = targets[c]
        candidates = [i for i in range(1, 30) if i not in set(histories[c]) | set(known[c]) and i != t]
        tied = sum(s[i] == s[t] for i in candidates)
        n_tied += tied > 0
        assert whole[c] == sum(s[i] > s[t] for i in candidates) + share * tied
    assert n_tied > 5  # the case really exercises ties


def test_numpy_counts_match_torch_counts():
    """CPU ranks count with numpy; the torch expression (used on GPU) must give the same counts."""
    scores = torch.randint(0, 4, (50, 300)).float()
    threshold = scores[:, 7]
    above, equal = count_with_numpy(scores, threshold)
    assert torch.equal(above, (scores > threshold[:, None]).sum(1))
    assert torch.equal(equal, (scores == threshold[:, None]).sum(1))


def test_evaluate_chunked_equals_unchunked_and_states_the_tie_rule():
    rng = np.random.default_rng(1)
    counts = np.r_[0, rng.integers(0, 4, size=40)]  # popularity with many equal counts: many ties
    histories = [rng.choice(np.arange(1, 41), size=rng.integers(1, 8), replace=False) for _ in range(60)]
    cases = RankingCases.build(histories, rng.integers(1, 41, size=60))
    model = Popularity(torch.from_numpy(counts))
    small, whole = (evaluate(model, cases, counts, EvalConfig(batch_size=b)) for b in (7, 1000))
    small.pop("eval_seconds"), whole.pop("eval_seconds")
    assert small == whole and whole["ties"] == "expected"
    optimistic = evaluate(model, cases, counts, EvalConfig(ties="optimistic"))
    assert optimistic["ties"] == "optimistic" and optimistic["overall"]["MRR@20"] > whole["overall"]["MRR@20"]


def test_cases_pad_each_chunk_like_the_whole_and_cut_to_max_len():
    histories = [np.array([4, 2, 7]), np.array([1]), np.array([3, 5])]
    cases = RankingCases.build(histories, np.array([1, 2, 3]))
    assert cases.histories().tolist() == [[4, 2, 7], [0, 0, 1], [0, 3, 5]]
    assert cases.histories(1, 3).tolist() == [[0, 0, 1], [0, 3, 5]]
    assert cases.with_max_len(2).histories(0, 1).tolist() == [[2, 7]]
    assert cases.mask_items.tolist() == [2, 4, 7, 1, 3, 5] and cases.mask_offsets.tolist() == [0, 3, 4, 6]


def test_chunks_take_cases_by_length_pad_to_their_own_longest_and_ranks_come_back_in_case_order():
    histories = [np.array([4, 2, 7, 6]), np.array([1]), np.array([3, 5]), np.array([8]), np.array([2, 9, 3])]
    cases = RankingCases.build(histories, np.array([1, 2, 3, 4, 5]), max_len=3)
    x, targets, rows, items = cases.chunk(np.array([2, 0]))
    assert x.tolist() == [[0, 3, 5], [2, 7, 6]] and targets.tolist() == [3, 1]  # case 0 cut to max_len
    assert rows.tolist() == [0, 0, 1, 1, 1, 1] and items.tolist() == [3, 5, 2, 4, 6, 7]
    widths = []

    def score(h):  # items near the row's first real item score high: each case ranks its target its own way
        widths.append(h.shape[1])
        first = h[torch.arange(len(h)), (h == 0).sum(1)]
        return -(torch.arange(11.0)[None, :] - first[:, None]).abs()

    ranks = rank_all(score, cases, batch_size=2)
    assert widths == [1, 3, 3]  # lengths 1, 1 | 2, 3 | 3: the short ones are never padded to the full width
    assert len(set(ranks.tolist())) > 2  # the scorer really tells the cases apart
    # case order: each rank equals the one the case gets scored alone
    for c in range(5):
        alone = RankingCases.build([histories[c]], np.array([c + 1]), max_len=3)
        assert ranks[c] == rank_all(score, alone)[0]


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


def test_among_new_ranks_never_seen_targets_against_the_never_seen_items_only():
    """Items 1..6, 4-6 never seen in training; the scores put every warm item above every new one."""
    counts = np.array([0, 9, 8, 7, 0, 0, 0])
    model = Popularity(torch.tensor([0, 9, 8, 7, 3, 2, 1.0]))
    cases = RankingCases.build([np.array([1])] * 30, np.array([5] * 30), None)
    r = evaluate(model, cases, counts, EvalConfig())
    # full ranking: 2, 3 (1 is the history, masked) and 4 score above 5 -> rank 3; among the new items: 4 -> 1
    assert r["overall"]["NDCG@10"] == pytest.approx(1 / math.log2(3 + 2))
    assert r["among_new"]["NDCG@10"] == pytest.approx(1 / math.log2(1 + 2)) and r["among_new"]["n_targets"] == 30
    few = evaluate(model, RankingCases.build([np.array([1])] * 3, np.array([5] * 3), None), counts, EvalConfig())
    assert "among_new" not in few  # fewer never-seen targets than a bin needs to be read: not reported


def test_evaluate_with_two_workers_equals_one_chunk_in_turn_among_new_too():
    rng = np.random.default_rng(4)
    counts = np.r_[0, rng.integers(0, 4, size=40)]  # a quarter never seen: the among-new ranking runs too
    histories = [rng.choice(np.arange(1, 41), size=rng.integers(1, 8), replace=False) for _ in range(400)]
    cases = RankingCases.build(histories, rng.integers(1, 41, size=400))
    model = Popularity(torch.from_numpy(counts))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = evaluate(model, cases, counts, EvalConfig(batch_size=7, workers=2))
    finally:
        torch.set_num_threads(threads)
    one = evaluate(model, cases, counts, EvalConfig(batch_size=1000))
    two.pop("eval_seconds"), one.pop("eval_seconds")
    assert two == one and one["among_new"]["n_targets"] >= 30


def test_the_report_shows_the_among_new_table_beside_full_ranking():
    from mmrec.eval.report import _tables
    from mmrec.eval.summary import summarise

    counts = np.array([0, 9, 8, 7, 0, 0, 0])
    model = Popularity(torch.tensor([0, 9, 8, 7, 3, 2, 1.0]))
    row = summarise([evaluate(model, RankingCases.build([np.array([1])] * 30, np.array([5] * 30), None), counts,
                              EvalConfig(n_bins=2))])
    report = {"task": "sequential", "models": {"popularity": row}, "headline": ["NDCG@10"], "cold_threshold": 5}
    *_, rows = next(t for t in _tables(report) if t[0].startswith("Never-seen targets ranked among"))
    assert rows == [["popularity", f"{1 / math.log2(5):.4f}", f"{1 / math.log2(3):.4f}", "1.00"]]
