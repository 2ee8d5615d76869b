"""Training throughput and peak memory of DIN vs Diff-MSIN (and DIN+multimodal, and the ``*_te`` rows with the
triple-expert item side), measured in one invocation.

Inputs have ml-100k's shapes (1,682 items, 943 users, 384-d text and 1,280-d image tables, history length 10,
embedding 16, batch 1,024; for ``*_te``: 3 x 3 codes of 8 bits, 10 frequency bins, cold dropout 0.1) with random
values: throughput does not depend on them. Each model is measured in its
own subprocess, so peak resident memory (CPU) or peak allocated memory (CUDA) is that model's alone. The
machine is shared and noisy: read the ratio against DIN, not the absolute numbers.

    python benchmarks/bench_ctr.py [--steps 10] [--models din,din_mm,diff_msin,din_mm_te,diff_msin_te]
                                   [--out benchmarks/results/ctr.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path

import torch

N_ITEMS, N_USERS, HISTORY, DIM, BATCH = 1682, 943, 10, 16, 1024


def _measure(name: str, steps: int, warmup: int, threads: int, queue: mp.Queue) -> None:
    from mmrec import catalogue
    from mmrec.ctr.build import build_ctr_model
    from mmrec.data.ctr_batches import CTRSamples, FeatureSpec, pad_histories
    from mmrec.items.triple import TripleExpertItems

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spec = FeatureSpec(N_USERS, N_ITEMS, [8, 3, 22], 18, HISTORY)
    modalities = {"text": (torch.randn(N_ITEMS + 1, 384), torch.rand(N_ITEMS + 1) > 0.05),
                  "image": (torch.randn(N_ITEMS + 1, 1280), torch.rand(N_ITEMS + 1) > 0.16)}
    lengths = torch.randint(0, HISTORY + 1, (BATCH,)).tolist()
    history, mask = pad_histories([torch.randint(1, N_ITEMS + 1, (k,)).tolist() for k in lengths], HISTORY)
    samples = CTRSamples(torch.randint(1, N_USERS + 1, (BATCH,)), torch.randint(1, N_ITEMS + 1, (BATCH,)),
                         history, mask, torch.randint(0, 2, (BATCH,)).float(),
                         torch.randint(0, 3, (N_USERS + 1, 3)), (torch.rand(N_ITEMS + 1, 18) > 0.8).float())
    batch = samples.batch(torch.arange(BATCH)).to(device)
    item_side = None
    if catalogue.resolve(name)[1].triple_items:
        counts = torch.randint(0, 400, (N_ITEMS + 1,))
        item_side = TripleExpertItems(counts, modalities["text"][0], DIM, torch.randint(0, 256, (N_ITEMS + 1, 3, 3)),
                                      cold_dropout=0.1)
    model = build_ctr_model(name, spec, modalities, {"embed_dim": DIM}, item_side).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def step() -> None:
        loss = model.loss(model(batch), batch.label)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    queue.put({"model": name, "device": device.type, "steps": steps, "seconds": seconds,
               "samples_per_second": steps * BATCH / seconds, "peak_memory_mib": peak,
               "peak_memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process max RSS",
               "rss_before_training_mib": rss_before / 1024,
               "parameters": sum(p.numel() for p in model.parameters())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="din,din_mm,diff_msin")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ctr.json")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    rows = []
    for name in args.models.split(","):
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(name, args.steps, args.warmup, args.threads, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
    reference = next((r for r in rows if r["model"] == "din"), rows[0])
    for r in rows:
        r["throughput_vs_din"] = r["samples_per_second"] / reference["samples_per_second"]
        r["memory_vs_din"] = r["peak_memory_mib"] / reference["peak_memory_mib"]
    print(f"{'model':<12}{'samples/s':>12}{'x DIN':>8}{'peak MiB':>11}{'x DIN':>8}{'params':>10}")
    for r in rows:
        print(f"{r['model']:<12}{r['samples_per_second']:>12.0f}{r['throughput_vs_din']:>8.3f}"
              f"{r['peak_memory_mib']:>11.0f}{r['memory_vs_din']:>8.2f}{r['parameters']:>10}")
    result = {"setup": {"n_items": N_ITEMS, "n_users": N_USERS, "history": HISTORY, "embed_dim": DIM,
                        "batch_size": BATCH, "steps": args.steps, "warmup": args.warmup, "threads": args.threads,
                        "torch": torch.__version__, "machine": platform.machine(),
                        "note": "shared, noisy machine: compare ratios within this run"},
              "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
