"""k-means restarts per residual level (``nredo``) on real item vectors: does a deep level collapse onto one code?

    MMREC_DATA=... python benchmarks/bench_kmeans_restarts.py --modalities-dir DIR [--source text] [--seeds 0 1 ...]
        [--nredo 1 3] [--out benchmarks/results/kmeans_restarts.json]

DIR is an encode artifact (``text.safetensors`` with ``embeddings`` and ``mask``). Each code variant of the quantize
stage's defaults (moc1 = one codebook x 3 levels, moc3, moc7, rq3 = one codebook x 9 levels; ``nbits="auto"``,
bootstrap samples, projection views) is fitted once per seed and ``nredo``, exactly as ``mmrec.stages.quantize``
fits it, and the table gives, per variant and ``nredo``, over the seeds: the unique-item rate (share of items whose
full code tuple no other item has), the largest share of items any one code of any level holds (a collapsed level
puts most items on one code), the relative reconstruction error (Σ‖x − x̂‖² / Σ‖x‖² in each codebook's view,
mean over codebooks) and the fit time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import faiss
import numpy as np
from safetensors.numpy import load_file

from semantic_ids.mixture import MixtureOfCodes

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"moc1": (1, 3), "moc3": (3, 3), "moc7": (7, 3), "rq3": (1, 9)}  # (codebooks, levels)


def unique_rate(codes: np.ndarray) -> float:
    _, inverse, counts = np.unique(codes.reshape(len(codes), -1), axis=0, return_inverse=True, return_counts=True)
    return float((counts[inverse.reshape(-1)] == 1).mean())


def largest_code_share(codes: np.ndarray) -> float:
    """Over every codebook and level: the largest share of the items one code holds."""
    flat = codes.reshape(len(codes), -1)
    return float(max(np.bincount(flat[:, j]).max() for j in range(flat.shape[1])) / len(codes))


def cell(x: np.ndarray, variant: str, nredo: int, seed: int) -> dict:
    n_codebooks, levels = VARIANTS[variant]
    start = time.perf_counter()
    moc = MixtureOfCodes(x.shape[1], n_codebooks, levels, "auto", nredo=nredo, seed=seed).fit(x)
    fit_seconds = time.perf_counter() - start
    codes = moc.encode(x)
    error = statistics.fmean(r["relative"] for r in moc.reconstruction(x, codes))
    return {"unique_rate": unique_rate(codes), "largest_code_share": largest_code_share(codes), "relative_error": error,
            "fit_seconds": fit_seconds, "nbits": moc.nbits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modalities-dir", type=Path, required=True)
    parser.add_argument("--source", default="text")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(8)))
    parser.add_argument("--nredo", nargs="+", type=int, default=[1, 3])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "kmeans_restarts.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    table = load_file(str(args.modalities_dir / f"{args.source}.safetensors"))
    x = table["embeddings"][table["mask"].astype(bool)].astype(np.float32)
    rows = {}
    print(f"{len(x)} items x {x.shape[1]}-d ({args.source}), seeds {args.seeds}; mean [min, max] over seeds")
    print(f"{'variant':8} {'nredo':>5} {'unique-item rate':>24} {'largest code share':>24} {'rel. err':>8} "
          f"{'fit s':>6}")
    for variant in args.variants.split(","):
        for nredo in args.nredo:
            cells = [cell(x, variant, nredo, seed) for seed in args.seeds]
            rows[f"{variant}/nredo{nredo}"] = {"variant": variant, "nredo": nredo, "seeds": args.seeds, "cells": cells}
            unique = [c["unique_rate"] for c in cells]
            share = [c["largest_code_share"] for c in cells]
            print(f"{variant:8} {nredo:5} {statistics.fmean(unique):8.3f} [{min(unique):.3f}, {max(unique):.3f}] "
                  f"{statistics.fmean(share):8.3f} [{min(share):.3f}, {max(share):.3f}] "
                  f"{statistics.fmean(c['relative_error'] for c in cells):8.4f} "
                  f"{statistics.fmean(c['fit_seconds'] for c in cells):6.2f}", flush=True)
    args.out.write_text(json.dumps({"modalities_dir": str(args.modalities_dir), "source": args.source,
                                    "n_items": len(x), "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
