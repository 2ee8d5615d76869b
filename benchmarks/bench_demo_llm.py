"""The demo's LLM encoder knobs: prompt length (``max_length``) and an early-exit layer, time against quality.

    flock /tmp/mmrec-heavy.lock env MMREC_DATA=... HF_HUB_OFFLINE=1 PYTHONPATH=. \
        python benchmarks/bench_demo_llm.py --threads 1 [--n-items 64]
    python benchmarks/bench_demo_llm.py --quality-runs OLD_RUN NEW_RUN     # no encoding: two runs' saved embeddings

SmolLM2-135M (the recipe's `llm` encoder, float weights from the cache) over a seeded sample of ml-100k items,
the item text as the pipeline builds it ("Title: ... (year). Genres: ... . Description: ... Director ... Cast");
``max_length`` cuts that text in tokens before the prompt template, so ~24 tokens keep title, year and genres.
``layer`` k < 30 stops the decoder after block k (encoders/llm.py ``exit_after_layer``). Per variant: encode
seconds (CPU and wall, after one warm-up batch), seconds per item, and the quality of the embeddings on the
sample (small: the timing is the point; ``--quality-runs`` measures quality on all 1,682 items from the ``llm``
embeddings two demo runs saved, the old recipe's and the new one's): how often an item's nearest neighbour (mean-centred cosine) shares a genre, the macro AUC of predicting
each genre from the 10 nearest neighbours' genres, and the overlap of the 10 nearest neighbours with those of
the recipe's old setting (layer -1, 64 tokens). The genres are in the prompt, so the genre figures measure what
the embedding keeps of its input; the LLM embedding feeds no model of the demo recipe (quantize, PAD and CTR read
the text and image encoders), so no ranking metric changes with these knobs.
Writes ``benchmarks/results/demo_llm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
VARIANTS = [(-1, 64), (-1, 24), (15, 24), (10, 24)]  # (layer, max_length); the first = the old recipe


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels][:, None], scores[~labels][None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def neighbours(emb: np.ndarray, k: int = 10) -> np.ndarray:
    centred = emb - emb.mean(axis=0)
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True).clip(min=1e-12)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -np.inf)
    return np.argsort(-cos, axis=1)[:, :k]


def quality(emb: np.ndarray, genres: np.ndarray, reference: np.ndarray | None) -> dict[str, float]:
    near = neighbours(emb)
    shares = (genres.astype(np.int64) @ genres.T.astype(np.int64)) > 0
    votes = genres[near].mean(axis=1)
    common = [j for j in range(genres.shape[1]) if genres[:, j].sum() >= 5]
    out = {"nn_shares_genre": float(shares[np.arange(len(emb)), near[:, 0]].mean()),
           "random_pair_shares_genre": float(shares[np.triu_indices(len(emb), 1)].mean()),
           "knn10_genre_auc": float(np.mean([_auc(votes[:, j], genres[:, j]) for j in common]))}
    if reference is not None:
        out["knn10_overlap_with_old"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(near, reference)]))
    return out


def genre_matrix(tables, rows: np.ndarray) -> np.ndarray:
    """(len(rows), n_genres) bool: the items' genres (0-based item rows)."""
    names = sorted({g.strip() for gs in tables.items["genres"] for g in (gs or "").split(",") if g.strip()})
    return np.array([[n in {g.strip() for g in (tables.items["genres"][int(i)] or "").split(",")} for n in names]
                     for i in rows])


def run_quality(args: argparse.Namespace) -> None:
    """Genre-neighbour quality of two runs' saved ``llm`` embeddings over every item with text."""
    from safetensors.numpy import load_file

    from mmrec.data.prepared import load_prepared

    old_stages = json.loads((args.quality_runs[0] / "stages.json").read_text())
    tables, _ = load_prepared(args.quality_runs[0] / old_stages["prepare"])

    found = {}
    for label, run in zip(("old", "new"), args.quality_runs):
        stages = json.loads((run / "stages.json").read_text())
        emb = load_file(str(run / stages["encode"] / "llm.safetensors"))
        recipe = json.loads((run / "recipe.json").read_text())
        found[label] = (emb["embeddings"][1:], emb["mask"][1:], recipe["encode"]["encoders"]["llm"]["options"])
    keep = found["old"][1] & found["new"][1]
    genres = genre_matrix(tables, np.flatnonzero(keep))
    reference = neighbours(found["old"][0][keep])
    out = {"n_items": int(keep.sum()), "runs": [str(r) for r in args.quality_runs]}
    for label, (emb, _, options) in found.items():
        out[label] = {"options": options, **quality(emb[keep], genres, None if label == "old" else reference)}
        print(label, json.dumps(out[label]))
    target = args.out.with_name("demo_llm_quality.json")
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-items", type=int, default=64)
    parser.add_argument("--quality-runs", nargs=2, type=Path, metavar=("OLD_RUN", "NEW_RUN"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "demo_llm.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from encoders.llm import LLMEncoder
    from mmrec.data import load_tables
    from mmrec.recipe import load_recipe

    if args.quality_runs:
        return run_quality(args)
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", [])
    tables = load_tables(cfg.data)
    rows = np.sort(np.random.default_rng(0).choice(tables.n_items, args.n_items, replace=False))
    texts = [tables.items["text"][int(i)] for i in rows]
    genres = genre_matrix(tables, rows)
    results, reference = [], None
    for layer, max_length in VARIANTS:
        encoder = LLMEncoder(layer=layer, max_length=max_length, batch_size=16)
        encoder.encode(texts[:16])  # warm-up: first-call allocations, not the encoder's steady cost
        wall, cpu = time.perf_counter(), time.process_time()
        emb = encoder.encode(texts).emb
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tokens = int(encoder.token_lengths(texts).sum())
        near = neighbours(emb)
        row = {"layer": layer, "max_length": max_length, "early_exit": encoder.early_exit,
               "blocks_run": len(encoder.model.layers), "prompt_tokens": tokens, "wall_s": round(wall, 2),
               "cpu_s": round(cpu, 2), "cpu_s_per_item": round(cpu / len(texts), 4),
               **quality(emb, genres, reference)}
        reference = near if reference is None else reference
        results.append(row)
        print(json.dumps(row), flush=True)
    old = results[0]["cpu_s_per_item"]
    for row in results:
        row["speedup_vs_old"] = round(old / row["cpu_s_per_item"], 2)
        row["predicted_demo_cpu_s_1682_items"] = round(row["cpu_s_per_item"] * tables.n_items, 1)
    print(f"{'layer':>5} {'max_len':>7} {'tokens':>7} {'CPU s/item':>10} {'speedup':>7} {'demo s':>7} "
          f"{'nn genre':>8} {'kNN AUC':>7} {'overlap':>7}")
    for r in results:
        print(f"{r['layer']:>5} {r['max_length']:>7} {r['prompt_tokens']:>7} {r['cpu_s_per_item']:>10.4f} "
              f"{r['speedup_vs_old']:>7.2f} {r['predicted_demo_cpu_s_1682_items']:>7.0f} {r['nn_shares_genre']:>8.3f} "
              f"{r['knn10_genre_auc']:>7.3f} {r.get('knn10_overlap_with_old', 1.0):>7.2f}")
    out = {"n_items": len(texts), "threads": args.threads, "load_average": os.getloadavg(), "variants": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
