"""The summary a report leads with: best model overall / on cold items, its gain over the ID-only backbone."""

import math

from mmrec.eval.report_summary import cost_line, summary_lines


def _row(overall, cold, std=0.0, n=3):
    return {"overall": {"NDCG@10": {"mean": overall, "std": std, "n": n}},
            "cold": {"NDCG@10": {"mean": cold, "std": std, "n": n}}}


def test_best_and_gain_over_the_backbone_with_the_std_of_the_gain():
    report = {"task": "sequential", "split": "leave-one-out",
              "models": {"sasrec": _row(0.10, 0.02, std=0.003), "pad": _row(0.12, 0.05, std=0.004),
                         "moc3": _row(0.11, 0.06, std=0.004)}}
    overall, cold = summary_lines(report, "NDCG@10")
    gain_std = math.hypot(0.004, 0.003)  # 0.0050
    assert overall == f"best overall: pad, NDCG@10 0.1200 ± 0.0040; +0.0200 ± {gain_std:.4f} over sasrec, +20.0%"
    assert cold.startswith("best cold items: moc3, NDCG@10 0.0600 ± 0.0040; +0.0400 ± 0.0050 over sasrec, +200.0%")


def test_single_seed_says_no_std_and_new_items_are_named():
    report = {"task": "sequential", "split": "new-items",
              "models": {"sasrec": _row(0.01, 0.01, n=1), "pad": _row(0.03, 0.03, n=1)}}
    lines = summary_lines(report, "NDCG@10")
    assert lines[1] == "best new (never-trained) items: pad, NDCG@10 0.0300; +0.0200 over sasrec, +200.0% " \
                       "(single seed: no std)"


def test_ctr_backbone_is_din_and_the_backbone_winning_says_so():
    models = {"din": {"overall": {"AUC": 0.75}, "cold": {"AUC": 0.6}}, "lr": {"overall": {"AUC": 0.7},
                                                                            "cold": {"AUC": 0.65}}}
    lines = summary_lines({"task": "ctr", "split": "ctr", "models": models}, "AUC")
    assert lines[0] == "best overall: din, AUC 0.7500 (the ID-only backbone itself)"
    assert lines[1] == "best cold items: lr, AUC 0.6500; +0.0500 over din, +8.3% (single seed: no std)"
    assert summary_lines({"task": "ctr", "split": "ctr", "models": {}}, "AUC") == []


def test_cost_line_sums_the_stages():
    assert cost_line([("prepare", 1.2), ("train_seq", 30.4)]) == "cost: 32 s in all (prepare 1 s, train_seq 30 s)"
