"""ID-only SASRec vs single-RQ vs Mixture-of-Codes semantic IDs on ml-100k (leave-one-out and new-items).

One command reproduces the table (default: demo-sized training, text source, 3 seeds, 1 torch thread)::

    PYTHONPATH=. python benchmarks/bench_moc.py --output /tmp/moc-run [key=value overrides ...]

It runs the pipeline (prepare -> encode (text only) -> quantize -> train_seq) on ``recipes/ml-100k.yaml`` with the
models ``sasrec, moc1 (= rq1), moc2, moc3, moc7, rq3, me9``: moc<N> = N full-width codebooks x 3 levels (the
model default, ``code_width: null``; capacity grows with N), rq3 = one codebook x 9 levels, me9 = the
Multi-Embedding baseline with moc3's 9 tables; codes per level sized to the catalogue (``nbits: auto``, 32 on
ml-100k). Add ``code_width: 252`` to a model's settings for the fixed-width variant. It prints NDCG@10 overall /
cold / new items as mean ± std over seeds,
with differences to ID-only SASRec flagged only when they exceed 2 std, the learned tables' information abundance
and the quantizers' unique-item rates. Writes ``benchmarks/results/moc.{json,txt}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch

from mmrec import catalogue
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import default_stages

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["sasrec", "moc1", "moc3", "moc7", "rq3", "moc2", "me9"]  # rq1 = moc1's codes (same seed); me9 = 9 ID tables, moc3's count
OPTIONAL = ["moc3_fixed", "moc7_fixed"]  # the fixed total code width (252): more codebooks, narrower tables
SASREC = "{dim: 64, n_layers: 2, n_heads: 2, max_len: 50, dropout: 0.2}"
DEFAULTS = [
    "seeds=[0, 1, 2]", "split.kinds=[leave-one-out, new-items]",
    "quantize.source=text", "quantize.n_codebooks=[1, 2, 3, 7]", "quantize.rq_scales=[1, 3]",
    "quantize.levels=3", "quantize.nbits=auto",
    "train.splits=[leave-one-out, new-items]", "train.epochs=4", "train.patience=2", "train.progress=false",
    "train.models={" + ", ".join(f"{m}: {SASREC}" for m in MODELS + OPTIONAL) + "}",
]


def cell(stat) -> str:
    return f"{stat['mean']:.4f} ± {stat['std']:.4f}" if isinstance(stat, dict) else f"{stat:.4f}"


def verdict(stat, base) -> str:
    if not isinstance(stat, dict) or not isinstance(base, dict):
        return ""
    diff, noise = stat["mean"] - base["mean"], 2 * max(stat["std"], base["std"])
    return f"{diff:+.4f}" + ("" if abs(diff) > noise else " (no diff.)")


def table(results: dict, quantize: dict) -> str:
    lines = []
    for split, models in results.items():
        lines.append(f"\n## {split}  (NDCG@10, mean ± std over seeds; Δ vs sasrec, 'no diff.' when |Δ| <= 2 std)")
        lines.append(f"{'model':8} {'overall':>17} {'Δ':>18} {'cold':>17} {'Δ':>18} {'IA(code tables)':>15} "
                     f"{'IA(id)':>8} {'unique':>7} {'epochs':>6}")
        base = models.get("sasrec", {})
        for name, r in models.items():
            tables = r.get("embedding_tables", {})
            code_ia = [t["information_abundance"]["mean"] for k, t in tables.items() if k != "id"]
            id_ia = tables.get("id", {}).get("information_abundance", {}).get("mean")
            codes = catalogue.resolve(name)[1].overrides.get("variant", name)  # moc<n>_fixed reads moc<n>'s codes
            q = quantize.get("variants", {}).get(codes, {})
            lines.append(
                f"{name:8} {cell(r['overall']['NDCG@10']):>17} {verdict(r['overall']['NDCG@10'], base.get('overall', {}).get('NDCG@10')):>18} "
                f"{cell(r['cold']['NDCG@10']):>17} {verdict(r['cold']['NDCG@10'], base.get('cold', {}).get('NDCG@10')):>18} "
                f"{(sum(code_ia) / len(code_ia)) if code_ia else float('nan'):>15.2f} "
                f"{id_ia if id_ia is not None else float('nan'):>8.2f} {q.get('unique_rate', float('nan')):>7.3f} "
                f"{cell(r['best_epoch']) if 'best_epoch' in r else '':>6}")
        lines.append(f"targets: {base.get('n_targets')} overall, {base.get('cold', {}).get('n_targets')} cold")
    return "\n".join(lines)


def finished_table(run_dir: Path) -> str:
    """The table from the cells a (possibly still running) train_seq has finished: checkpoints/*/<split>/<model>/."""
    from mmrec.eval.summary import summarise

    results: dict = {}
    for split_dir in sorted(run_dir.glob("checkpoints/train_seq-*/*")):
        for name in MODELS:
            cells = sorted((split_dir / name).glob("seed*/result.json"))
            if cells:
                # the learning curves differ in length under early stopping (the stage keeps them apart too)
                per_seed = [{k: v for k, v in json.loads(c.read_text()).items() if k != "history"} for c in cells]
                results.setdefault(split_dir.name, {})[name] = {**summarise(per_seed), "seeds": len(per_seed)}
    quantize = next(run_dir.glob("artifacts/quantize-*/quantize.json"), None)
    text = table(results, json.loads(quantize.read_text()) if quantize else {})
    return text + "\n(finished cells only; 'n' in each mean ± std is the number of seeds done)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="/tmp/moc-run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated subset of " + ",".join(MODELS + OPTIONAL))
    parser.add_argument("--stem", help="results file stem under benchmarks/results (default: from the splits)")
    parser.add_argument("--finished-only", action="store_true",
                        help="print the table from the (split, model, seed) cells finished so far; train nothing")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = load_recipe(ROOT / "recipes" / "ml-100k.yaml", DEFAULTS + args.overrides)
    # overrides merge into the recipe's mappings: keep only the text encoder and the compared models
    cfg.encode.encoders = {"text": cfg.encode.encoders["text"]}
    cfg.train.models = {name: cfg.train.models[name] for name in args.models.split(",")}
    if args.finished_only:
        print(finished_table(Path(args.output)))
        return
    start, cpu = time.perf_counter(), time.process_time()
    stages = Pipeline(cfg, args.output, default_stages()).run(["train_seq"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    results = json.loads((stages["train_seq"] / "results.json").read_text())
    quantize = json.loads((stages["quantize"] / "quantize.json").read_text())
    text = table(results, quantize)
    text += (f"\n\nwall {wall:.0f}s, process CPU {cpu:.0f}s, {args.threads} torch thread(s), load average "
             f"{os.getloadavg()[0]:.1f}; epochs <= {cfg.train.epochs}, patience {cfg.train.patience}, seeds {cfg.seeds}")
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "moc" if len(cfg.train.splits) > 1 else f"moc-{cfg.train.splits[0]}"
    stem = args.stem or stem + ("-seen" if cfg.train.softmax_over == "seen" else "")
    (out / f"{stem}.txt").write_text(text + "\n")
    (out / f"{stem}.json").write_text(json.dumps({"results": results, "quantize": quantize, "wall_seconds": wall,
                                              "cpu_seconds": cpu, "overrides": DEFAULTS + args.overrides}, indent=1))


if __name__ == "__main__":
    main()
