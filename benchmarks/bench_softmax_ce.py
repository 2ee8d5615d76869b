"""Full-softmax CE over a catalogue, whole logits against chunked (``ChunkedSoftmaxCE``): time and peak memory.

One SASRec batch's loss step (forward + backward of the (positions, d) x (d, N + 1) logits, 64 x 50 positions,
d = 64) at catalogue sizes from ml-100k's to bench_scale's 20M (200k items). Each case runs in a fresh process
(``--case``), so its peak RSS (``ru_maxrss``) is its own; the FLOP floor is 3 (whole) or 4 (chunked, the
recomputed logits) matmuls of 2 n d N at the fp32 matmul rate measured in the same process. Freed memory is
kept in the process, as ``mmrec run`` does (``mmrec.core.allocator``).

    python benchmarks/bench_softmax_ce.py [--items 1683,20000,200000] [--budgets 1048576] [--min-rows 64]
        [--positions 3200] [--repeats 5] [--no-whole]

``--no-whole`` skips the whole-logits case: over 200k items it was killed for memory at 24 GB with freed memory
kept (``MMREC_KEEP_FREED_MEMORY=0`` runs it in 7.6 GB).

Writes ``benchmarks/results/softmax_ce.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIM = 64


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def run_case(items: int, budget: int, min_rows: int, positions: int, repeats: int) -> dict:
    import torch

    from mmrec.core.allocator import keep_freed_memory
    from mmrec.items.base import IDEmbedding
    from mmrec.train.losses import full_softmax_ce

    keep_freed_memory()  # as `mmrec run` does
    torch.set_num_threads(1)
    torch.manual_seed(0)
    table = IDEmbedding(items, DIM)
    states = torch.randn(64, positions // 64, DIM, requires_grad=True)
    targets = torch.randint(1, items + 1, (64, positions // 64))
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        loss = full_softmax_ce(states, targets, table, logits_budget=budget, min_chunk_rows=min_rows)
        loss.backward()
        times.append(time.perf_counter() - start)
        states.grad, table.weight.weight.grad = None, None
    chunked = positions > max(min_rows, budget // (items + 1))
    flops = (4 if chunked else 3) * 2 * positions * DIM * (items + 1)
    peak = matmul_gflops()
    seconds = sorted(times[1:])[len(times[1:]) // 2]
    return {"items": items, "budget": budget, "min_chunk_rows": min_rows, "chunked": chunked, "seconds": seconds,
            "loss": loss.item(),
            "gflops": flops / seconds / 1e9, "matmul_gflops": peak, "floor_seconds": flops / peak / 1e9,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kib) / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", default="1683,20000,200000")
    p.add_argument("--budgets", default=f"{1 << 20}")
    p.add_argument("--positions", type=int, default=3200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--min-rows", default="64")
    p.add_argument("--no-whole", action="store_true")
    p.add_argument("--case", nargs=3, type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "softmax_ce.json")
    args = p.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case, args.positions, args.repeats)))
        return
    rows = []
    for items in map(int, args.items.split(",")):
        cases = [] if args.no_whole else [(1 << 62, 1)]  # a budget of 2^62 elements: the whole logits
        cases += [(b, m) for b in map(int, args.budgets.split(",")) for m in map(int, args.min_rows.split(","))]
        for budget, min_rows in cases:
            out = subprocess.run([sys.executable, __file__, "--case", str(items), str(budget), str(min_rows),
                                  "--positions",
                                  str(args.positions), "--repeats", str(args.repeats)],
                                 capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if out.returncode != 0:  # e.g. the whole logits over 200k items killed for memory
                rows.append({"items": items, "budget": budget, "min_chunk_rows": min_rows,
                             "error": f"exit status {out.returncode}", "stderr_tail": out.stderr[-500:]})
                print(f"items {items:>7} budget {budget}: {rows[-1]['error']}", flush=True)
                continue
            rows.append(json.loads(out.stdout))
            r = rows[-1]
            label = "whole" if not r["chunked"] else f"budget {budget}, >= {min_rows} rows"
            print(f"items {items:>7} {label:>26}: {r['seconds']:.4f} s "
                  f"({r['seconds'] / r['floor_seconds']:.1f}x floor, {r['gflops']:.0f} GFLOP/s), "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB (+{r['rss_growth_mib']:.0f})", flush=True)
    args.out.write_text(json.dumps({"positions": args.positions, "dim": DIM, "threads": 1, "keeps_freed_memory":
                                    os.environ.get("MMREC_KEEP_FREED_MEMORY", "1") != "0",
                                    "loadavg": os.getloadavg(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
