"""How close a zoo model's training step is to this CPU's limit, and what a throughput target would need.

    python benchmarks/bench_step_roofline.py [--models deepfm,dcnv2] [--steps 30]

One thread. Counts the FLOPs of one training step (forward + backward, Frappe shapes: 10 fields x embedding 10,
batch 4096, the MLP 3 x 200 of benchmarks/bench_frappe.py) with torch's FlopCounterMode, times the step, and
times a plain fp32 matmul of the MLP's own shapes in the same process: the step's achieved GFLOP/s as a share of
that peak. With the mmrec / FuxiCTR throughput ratio measured in one invocation of bench_fuxictr.py
(benchmarks/results/fuxictr.json, same settings, same files), it states the share of peak a step 2x FuxiCTR's
would need: today's share x 2 / that ratio (all ratios, so the machine's load cancels). Writes
benchmarks/results/step_roofline.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmrec import catalogue
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.train.fields import seed_all

REPO = Path(__file__).resolve().parents[1]
DEEP = {"hidden_units": [200, 200, 200], "dropout": 0.2, "batch_norm": True, "embedding_regularizer": 0.05}
BATCH = 4096
FIELDS = 10


def frappe_like_batch(seed: int = 0) -> tuple[FeatureMap, dict[str, torch.Tensor]]:
    """10 categorical fields with Frappe's vocabulary sizes (order of magnitude) and one label."""
    rng = np.random.default_rng(seed)
    sizes = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]
    frame = pd.DataFrame({f"f{i}": rng.integers(0, s, 20_000).astype(str) for i, s in enumerate(sizes)})
    frame["click"] = rng.integers(0, 2, len(frame))
    fields = parse_fields([{"name": f"f{i}", "type": "categorical"} for i in range(FIELDS)]
                          + [{"name": "click", "type": "label"}])
    fmap = FeatureMap.fit(fields, frame_chunks(frame))
    return fmap, fmap.encode(frame.iloc[:BATCH])


def matmul_peak(repeats: int = 50) -> float:
    """fp32 GFLOP/s of the MLP's largest matmuls (batch x 200 @ 200 x 200, forward and backward shapes)."""
    a, b = torch.randn(BATCH, 200), torch.randn(200, 200)
    for _ in range(5):
        a @ b
    tick = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * BATCH * 200 * 200 * repeats / (time.perf_counter() - tick) / 1e9


def step_cost(name: str, fmap: FeatureMap, batch: dict[str, torch.Tensor], steps: int) -> dict:
    spec = catalogue.lookup(f"zoo_{name}")
    seed_all(0)
    overrides = {**DEEP, **({"cross_layers": 3} if name == "dcnv2" else {})}
    model = spec.model_class(spec.config_class(**overrides), fmap)
    inputs = model.features.pack({k: v for k, v in batch.items() if k != "click"})
    labels = batch["click"].float()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = model.loss(model(inputs), labels)["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(3):
        step()
    tick = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - tick) / steps
    return {"flops_per_step": flops, "step_seconds": seconds, "samples_per_s": BATCH / seconds,
            "gflops": flops / seconds / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="deepfm,dcnv2")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    fmap, batch = frappe_like_batch()
    peak = matmul_peak()
    peer = json.loads((REPO / "benchmarks" / "results" / "fuxictr.json").read_text())
    out = {"threads": 1, "batch": BATCH, "matmul_gflops": peak, "models": {}}
    for name in args.models.split(","):
        cost = step_cost(name, fmap, batch, args.steps)
        side = {s: np.mean([r["samples_per_s"] for r in peer["runs"]
                            if r["model"].lower() == name and r["side"] == s]) for s in ("mmrec", "fuxictr")}
        ratio = side["mmrec"] / side["fuxictr"]
        cost.update({"share_of_peak": cost["gflops"] / peak, "mmrec_over_fuxictr": ratio,
                     "target_share_of_peak": cost["gflops"] / peak * 2 / ratio})
        out["models"][name] = cost
        print(f"{name}: {cost['flops_per_step'] / BATCH / 1e3:.0f} kFLOP/sample, step {cost['gflops']:.1f} GFLOP/s "
              f"= {cost['share_of_peak']:.0%} of the {peak:.1f} GFLOP/s matmul peak; mmrec / FuxiCTR {ratio:.2f}x, "
              f"so 2x FuxiCTR needs {cost['target_share_of_peak']:.0%} of peak", flush=True)
    (REPO / "benchmarks" / "results" / "step_roofline.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
