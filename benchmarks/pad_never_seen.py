"""Where PAD's new-item score comes from (ml-100k new-items, one seed): full-ranking vs among-new NDCG@10 of the
ID-only anchor, the aligned tower, content k-NN and PAD, and PAD's test score as the never-seen gate position's
aligned share is set by hand (the pad stage chooses it on validation: ``pad.never_seen_search``).

    python benchmarks/pad_never_seen.py --content-dir DIR [--out benchmarks/results/pad_never_seen/sweep.json]

Light-strength anchor (``bench_pad.STRENGTHS["light"]``, at most 20 epochs) selected on the warm hold-out, aligned
tower (at most 20), PAD fine-tuned at cold dropout 0 and 0.2 (at most 60); every phase patience 5, seed 0.
"Among new" ranks each never-seen target against the never-seen items only (``evaluate``'s ``among_new``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from bench_pad import STRENGTHS, TFIDF

from mmrec.data import load_tables
from mmrec.eval.config import EvalConfig
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.models.content_knn import ContentKNN, tfidf_content
from mmrec.models.sasrec import SASRec
from mmrec.pad.config import PADConfig
from mmrec.pad.content import ContentCache
from mmrec.pad.train import align, fit, train_pad
from mmrec.recipe import load_recipe
from mmrec.stages.prepare import build_splits
from mmrec.train.common import seed_everything

REPO = Path(__file__).resolve().parents[1]
SHARES = [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--content-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "pad_never_seen" / "sweep.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", ["split.kinds=[new-items]"])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["new-items"]
    backbone, optim = STRENGTHS["light"]
    short = dataclasses.replace(optim, epochs=20)
    cache = ContentCache(args.content_dir, split.n_items, list(tables.items["text"]), TFIDF)
    counts = split.item_train_counts()
    seed_everything(0)
    anchor = fit(SASRec(dataclasses.replace(backbone, n_items=split.n_items)), split, short, 0)
    settings = PADConfig(content=["text"], content_expert=["text", "tfidf"], align_epochs=20)
    tower = align(anchor, cache(["text"]), split, settings, short, 0)
    out: dict[str, dict] = {}

    def row(name: str, model) -> None:
        r = {p: evaluate(model, ranking_cases(split, p), counts, EvalConfig()) for p in ("valid", "test")}
        out[name] = {p: {"full": x["overall"]["NDCG@10"], "among_new": x["among_new"]["NDCG@10"]} for p, x in r.items()}
        print(f"{name}: " + "; ".join(f"{p} full {v['full']:.4f} among new {v['among_new']:.4f}"
                                      for p, v in out[name].items()), flush=True)

    row("sasrec (anchor)", anchor)
    row("aligned tower", tower)
    row("content_knn (MiniLM)", ContentKNN(cache(["text"])))
    row("content_knn_tfidf", ContentKNN(tfidf_content(list(tables.items["text"]), TFIDF.max_features, TFIDF.min_df),
                                        TFIDF))
    pads = {}
    for cold_dropout in (0.0, 0.2):
        c = PADConfig(content=["text"], content_expert=["text", "tfidf"], cold_dropout=cold_dropout, finetune_epochs=60)
        pads[cold_dropout] = train_pad(anchor, tower, cache(c.content_expert_sources()), split, c, optim, 0)
        row(f"pad, cold dropout {cold_dropout:g}, learned never-seen column", pads[cold_dropout])
    pad = pads[0.0]
    for share in SHARES:
        pad.set_never_seen_share(share)
        row(f"pad, cold dropout 0, never-seen aligned share {share:g}", pad)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
