"""CTR training steps against the size of the embedding tables: dense AdamW vs row-sparse LazyAdamW (issue 16).

DIN (the ctr stage's model) on synthetic samples, batch 1024, history 10, embedding 16, one thread: samples / s of
forward + backward + optimizer step for tables of 10k / 100k / 1M users (items = users / 5, as bench_scale's
generator's ratio), each optimizer in the same process, and peak RSS of a fresh process per setting. Dense AdamW
rewrites every row each step, so its rate falls with the table; the lazy one touches the batch's rows only.

    python benchmarks/bench_lazy_adam.py [--users 10000,100000,1000000] [--steps 30]

    python benchmarks/bench_lazy_adam.py --parity PREPARED   # quality: ml-100k DIN, dense vs every table lazy

``--parity`` trains the ctr stage's DIN on a ``prepare`` artifact's ml-100k CTR split (the recipe's ctr settings,
5 epochs, patience 1, seeds 0-2) with dense AdamW and with every table row-sparse (``sparse_min_rows`` 1), and
reports test AUC. Writes ``benchmarks/results/lazy_adam.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from mmrec.core.io import write_json, write_text
from mmrec.ctr.build import build_ctr_model
from mmrec.data.ctr_batches import CTRSamples, FeatureSpec, pad_histories
from mmrec.train.lazy_adam import LazyAdamW, use_sparse_embeddings

REPO = Path(__file__).resolve().parents[1]
BATCH, HISTORY, DIM = 1024, 10, 16


def batches(spec: FeatureSpec, steps: int) -> list[CTRSamples]:
    """``steps`` batches of random samples (label: the target item's parity, something to learn)."""
    g = torch.Generator().manual_seed(0)
    n = steps * BATCH
    user_features = torch.stack([torch.randint(0, s, (spec.n_users + 1,), generator=g)
                                 for s in spec.user_field_sizes], 1)
    genres = (torch.rand(spec.n_items + 1, spec.n_genres, generator=g) > 0.8).float()
    history, mask = pad_histories(torch.randint(1, spec.n_items + 1, (n, HISTORY), generator=g).tolist(), HISTORY)
    item = torch.randint(1, spec.n_items + 1, (n,), generator=g)
    samples = CTRSamples(user=torch.randint(1, spec.n_users + 1, (n,), generator=g), item=item, history=history,
                         history_mask=mask, label=(item % 2).float(), user_features=user_features,
                         item_genres=genres)
    return list(samples.batches(BATCH))


def rate(users: int, lazy: bool, steps: int) -> dict:
    torch.set_num_threads(1)
    spec = FeatureSpec(n_users=users, n_items=users // 5, user_field_sizes=[8, 3, 22], n_genres=19,
                       max_history=HISTORY)
    torch.manual_seed(0)
    model = build_ctr_model("din", spec, None, {"embed_dim": DIM})
    if lazy:
        use_sparse_embeddings(model, 1)
        optimizer = LazyAdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    data = batches(spec, steps + 3)
    losses = []
    for k, batch in enumerate(data):
        if k == 3:
            start = time.perf_counter()
        loss = model.loss(model(batch), batch.label)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start
    return {"users": users, "items": spec.n_items, "optimizer": "lazy" if lazy else "dense",
            "samples_per_s": steps * BATCH / seconds, "step_ms": 1e3 * seconds / steps,
            "first_loss": losses[0], "last_loss": losses[-1],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def parity(prepared: Path) -> list[dict]:
    from mmrec.ctr.train import CTRTrainSettings, predict, train_ctr
    from mmrec.data.ctr_batches import build_ctr_samples
    from mmrec.data.prepared import load_prepared
    from mmrec.eval.ctr_metrics import auc
    from mmrec.recipe import load_recipe

    torch.set_num_threads(1)
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", []).ctr
    tables, splits = load_prepared(prepared)
    samples, spec = build_ctr_samples(splits["ctr"], tables, cfg.max_history, cfg.user_fields, cfg.genre_field)
    out = []
    for seed in (0, 1, 2):
        for min_rows in (None, 1):
            torch.manual_seed(seed)
            model = build_ctr_model("din", spec, None, {"embed_dim": cfg.embed_dim})
            settings = CTRTrainSettings(cfg.batch_size, cfg.eval_batch_size, cfg.lr, cfg.weight_decay, 5, 1, seed,
                                        progress=False, sparse_min_rows=min_rows)
            result = train_ctr(model, samples["train"], samples["valid"], settings)
            test = auc(samples["test"].label.numpy(), predict(model, samples["test"]))
            out.append({"seed": seed, "optimizer": "dense" if min_rows is None else "lazy", "test_AUC": test,
                        "valid_AUC": result.best_valid_auc, "best_epoch": result.best_epoch})
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", default="10000,100000,1000000")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)  # users,lazy: one setting in this process
    ap.add_argument("--report", action="store_true", help="only rebuild the markdown from the JSON")
    ap.add_argument("--parity", type=Path, help="a prepare artifact of the ml-100k recipe")
    args = ap.parse_args()
    path = REPO / "benchmarks" / "results" / "lazy_adam.json"
    if args.report or args.parity:
        store = json.loads(path.read_text())
        if args.parity:
            store["parity"] = parity(args.parity)
            write_json(path, store)
        write_text(path.with_suffix(".md"), render(store["rows"], store.get("parity", [])))
        return
    if args.one:
        users, lazy = args.one.split(",")
        print(json.dumps(rate(int(users), lazy == "1", args.steps)))
        return
    rows = []
    for users in map(int, args.users.split(",")):
        for lazy in (0, 1):
            out = subprocess.run([sys.executable, __file__, "--one", f"{users},{lazy}", "--steps", str(args.steps)],
                                 check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    write_json(path, {"platform": platform.platform(), "torch": torch.__version__, "batch": BATCH, "rows": rows})
    write_text(path.with_suffix(".md"), render(rows, []))


def render(rows: list[dict], quality: list[dict]) -> str:
    lines = ["# CTR step rate against table size: dense AdamW vs row-sparse LazyAdamW", "",
             f"`python benchmarks/bench_lazy_adam.py` (DIN, batch {BATCH}, history {HISTORY}, embedding {DIM}, one "
             "thread, each setting a fresh process; items = users / 5). Every table is row-sparse in the lazy rows "
             "here, to show the crossover; the CTR trainer switches only tables of >= `ctr.sparse_min_rows` "
             "(100,000) rows, so below it training is dense AdamW, unchanged.", "",
             "| users | items | dense samples/s | lazy samples/s | speed-up | dense peak RSS MiB | lazy peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for dense, lazy in zip(rows[::2], rows[1::2]):
        lines.append(f"| {dense['users']:,} | {dense['items']:,} | {dense['samples_per_s']:,.0f} | "
                     f"{lazy['samples_per_s']:,.0f} | {lazy['samples_per_s'] / dense['samples_per_s']:.1f}x | "
                     f"{dense['peak_rss_mib']:,.0f} | {lazy['peak_rss_mib']:,.0f} |")
    if quality:
        by = {name: [r["test_AUC"] for r in quality if r["optimizer"] == name] for name in ("dense", "lazy")}
        diffs = [b - a for a, b in zip(by["dense"], by["lazy"])]
        lines += ["", "Quality (`--parity`): the ctr stage's DIN on ml-100k, 5 epochs, seeds 0-2, test AUC: dense "
                  f"{_ms(by['dense'])}, every table lazy {_ms(by['lazy'])}; paired difference {_ms(diffs)}."]
    return "\n".join(lines) + "\n"


def _ms(values: list[float]) -> str:
    import numpy as np

    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else f"{values[0]:.4f}"

if __name__ == "__main__":
    main()
