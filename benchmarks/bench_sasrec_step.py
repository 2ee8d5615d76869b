"""SASRec's training step on ml-100k: torch's dropout and the whole full-softmax logits against this library's
dropout (``mmrec.models.dropout``) and chunked logits (``mmrec.train.losses.ChunkedSoftmaxCE``).

    MMREC_DATA=... python benchmarks/bench_sasrec_step.py [--batch-sizes 64,128] [--steps 30] [--repeats 3]

One process, 1 thread, freed memory kept as ``mmrec run`` does; the ``ml-100k-sasrec.yaml`` model, windows of
50 items drawn once with a fixed seed, AdamW. The "torch" side swaps every ``Dropout`` module back to
``nn.Dropout``, attention dropout back to ``scaled_dot_product_attention``'s own, and the logits budget to
"never chunk". A third side, "mmrec_bf16", is the mmrec step under ``train.precision: bf16`` (autocast; pays on
CPUs with AMX). Seconds per step (each repeat a fresh model), alternating sides; prints and writes
``benchmarks/results/sasrec_step.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", default="64,128")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sasrec_step.json")
    args = p.parse_args()

    from mmrec.core.allocator import keep_freed_memory
    from mmrec.core.machine import describe_machine

    keep_freed_memory()
    import time

    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    import mmrec.models.sasrec as sasrec
    from mmrec import catalogue
    from mmrec.core.precision import autocast
    from mmrec.core.sequences import left_pad
    from mmrec.data import load_tables
    from mmrec.models.base import ModelData
    from mmrec.models.dropout import Dropout
    from mmrec.recipe import load_recipe
    from mmrec.stages.prepare import build_splits
    from mmrec.train.losses import LOGITS_BUDGET, full_softmax_ce

    torch.set_num_threads(1)
    cfg = load_recipe(REPO / "recipes" / "ml-100k-sasrec.yaml", ["split.kinds=[leave-one-out]"])
    split = build_splits(load_tables(cfg.data), cfg)["leave-one-out"]
    sequences = [s for s in split.train if len(s) > 2]
    ours_attention = sasrec.attention_with_dropout

    def sdpa_attention(q, k, v, allowed, p):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=allowed is None, dropout_p=p)

    def with_torch_dropout(model: nn.Module) -> None:
        for module in list(model.modules()):
            for name, child in module.named_children():
                if isinstance(child, Dropout):
                    setattr(module, name, nn.Dropout(child.p))

    results = {}
    for batch in map(int, args.batch_sizes.split(",")):
        rng = np.random.default_rng(0)
        windows = [left_pad([sequences[i][-51:] for i in rng.integers(0, len(sequences), batch)], 51)
                   for _ in range(args.steps)]
        seconds: dict[str, list[float]] = {"torch": [], "mmrec": [], "mmrec_bf16": []}
        for _ in range(args.repeats):
            for side in seconds:
                torch.manual_seed(0)
                model = catalogue.build("sasrec", catalogue.lookup("sasrec").config_class(),
                                        ModelData(split.n_items, split.train))
                if side == "torch":
                    with_torch_dropout(model)
                sasrec.attention_with_dropout = sdpa_attention if side == "torch" else ours_attention
                budget = 1 << 62 if side == "torch" else LOGITS_BUDGET
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
                model.train()
                start = time.perf_counter()
                for w in windows:
                    with autocast("bf16" if side == "mmrec_bf16" else "fp32"):
                        loss = full_softmax_ce(model(w[:, :-1]), w[:, 1:], model.item_repr, logits_budget=budget)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                seconds[side].append((time.perf_counter() - start) / len(windows))
        sasrec.attention_with_dropout = ours_attention
        med = {side: sorted(v)[len(v) // 2] for side, v in seconds.items()}
        results[batch] = {"seconds_per_step": seconds, "median": med, "speedup": med["torch"] / med["mmrec"],
                          "bf16_speedup": med["mmrec"] / med["mmrec_bf16"]}
        print(f"batch {batch}: torch {med['torch']:.4f} s, mmrec {med['mmrec']:.4f} s per step "
              f"({results[batch]['speedup']:.2f}x), mmrec bf16 {med['mmrec_bf16']:.4f} s "
              f"({results[batch]['bf16_speedup']:.2f}x mmrec fp32)", flush=True)
    args.out.write_text(json.dumps({"steps": args.steps, "repeats": args.repeats, "threads": 1,
                                    "loadavg": os.getloadavg(), "machine": describe_machine(), "results": results},
                                   indent=1) + "\n")


if __name__ == "__main__":
    main()
