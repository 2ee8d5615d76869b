"""CTR training steps against the size of the embedding tables: dense AdamW vs row-sparse LazyAdamW (issue 16).

DIN (the ctr stage's model) on synthetic samples, batch 1024, history 10, embedding 16, one thread: samples / s of
forward + backward + optimizer step for tables of 10k / 100k / 1M users (items = users / 5, as bench_scale's
generator's ratio), each optimizer in the same process, and peak RSS of a fresh process per setting. Dense AdamW
rewrites every row each step, so its rate falls with the table; the lazy one touches the batch's rows only.

    python benchmarks/bench_lazy_adam.py [--users 10000,100000,1000000] [--steps 30]

Writes ``benchmarks/results/lazy_adam.json`` and ``.md``.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", default="10000,100000,1000000")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)  # users,lazy: one setting in this process
    ap.add_argument("--report", action="store_true", help="only rebuild the markdown from the JSON")
    args = ap.parse_args()
    if args.report:
        rows = json.loads((REPO / "benchmarks" / "results" / "lazy_adam.json").read_text())["rows"]
        write_text(REPO / "benchmarks" / "results" / "lazy_adam.md", render(rows))
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
    write_json(REPO / "benchmarks" / "results" / "lazy_adam.json",
               {"platform": platform.platform(), "torch": torch.__version__, "batch": BATCH, "rows": rows})
    write_text(REPO / "benchmarks" / "results" / "lazy_adam.md", render(rows))


def render(rows: list[dict]) -> str:
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
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
