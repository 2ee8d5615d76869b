"""Encoder throughput and memory on ml-100k.

- text: `TextEncoder` vs `SentenceTransformer.encode` on the same texts and batch size (target: within 5 %);
- cache: a hit from the embedding cache vs encoding (target: >= 20x faster);
- image and LLM: items/s and peak RSS.
Each section runs in its own process so its peak RSS (VmHWM, or `resource.getrusage`) belongs to it alone.

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_encoders.py [--data DIR] [--threads N]

Prints a table and writes benchmarks/results/encoders.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_ml100k(data: Path) -> tuple[list[str], list[str | None], Path]:
    """Item texts (title + genres + plot) and poster file names (None when absent) for all 1,682 items."""
    genres = [l.split("|")[0] for l in (data / "ml-100k/u.genre").read_text(encoding="latin-1").splitlines() if l]
    plots = {}
    for line in (data / "ml-100k-extras/imdb.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        plots[int(record["movie_id"])] = record.get("description") or ""
    posters_dir = data / "ml-100k-extras/posters"
    texts, posters = [], []
    for line in (data / "ml-100k/u.item").read_text(encoding="latin-1").splitlines():
        f = line.split("|")
        item, names = int(f[0]), ", ".join(g for g, on in zip(genres, f[5:24]) if on == "1")
        texts.append(f"{f[1]}. Genres: {names}. {plots.get(item, '')}".strip())
        posters.append(f"{item}.jpg" if (posters_dir / f"{item}.jpg").is_file() else None)
    return texts, posters, posters_dir


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def section_text(args: argparse.Namespace) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    from encoders.text import TextEncoder

    texts, _, _ = load_ml100k(args.data)
    ours = TextEncoder(batch_size=args.batch_size, device="cpu")
    st = SentenceTransformer(ours.source.name, device="cpu")
    ours.encode(texts[:64]), st.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    ours_s, st_s = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        ours_s.append(timed(lambda: ours.encode(texts))[0])
        st_s.append(timed(lambda: st.encode(texts, batch_size=args.batch_size))[0])
    best_ours, best_st = min(ours_s), min(st_s)
    return {
        "n_items": len(texts),
        "batch_size": args.batch_size,
        "text_encoder_s": ours_s,
        "sentence_transformers_s": st_s,
        "text_items_per_s": len(texts) / best_ours,
        "st_items_per_s": len(texts) / best_st,
        "time_ratio_ours_over_st_best": best_ours / best_st,
        "time_ratio_ours_over_st_median": statistics.median(ours_s) / statistics.median(st_s),
    }


def section_cache(args: argparse.Namespace) -> dict[str, Any]:
    from encoders.cache import cached_encode
    from encoders.text import TextEncoder

    texts, _, _ = load_ml100k(args.data)
    encoder = TextEncoder(batch_size=args.batch_size, device="cpu")
    with tempfile.TemporaryDirectory() as cache_dir:
        miss_s, _ = timed(lambda: cached_encode(encoder, texts, cache_dir))
        hits = [timed(lambda: cached_encode(encoder, texts, cache_dir))[0] for _ in range(5)]
        fresh = TextEncoder(batch_size=args.batch_size, device="cpu")  # must hash the weights file again
        hit_with_hash_s, _ = timed(lambda: cached_encode(fresh, texts, cache_dir))
    return {
        "n_items": len(texts),
        "miss_encode_and_write_s": miss_s,
        "hit_s": min(hits),
        "hit_including_weights_hash_s": hit_with_hash_s,
        "speedup": miss_s / min(hits),
        "speedup_including_weights_hash": miss_s / hit_with_hash_s,
    }


def section_image(args: argparse.Namespace) -> dict[str, Any]:
    from encoders.image import ImageEncoder

    _, posters, root = load_ml100k(args.data)
    items = posters[: args.n_images]
    load_s, encoder = timed(lambda: ImageEncoder(root=root, batch_size=32, num_workers=args.workers, device="cpu"))
    encode_s, (emb, mask) = timed(lambda: encoder.encode(items))
    return {
        "n_items": len(items),
        "with_poster": int(mask.sum()),
        "counts": encoder.last_counts,
        "num_workers": args.workers,
        "load_s": load_s,
        "encode_s": encode_s,
        "items_per_s": len(items) / encode_s,
        "dim": int(emb.shape[1]),
    }


def section_llm(args: argparse.Namespace) -> dict[str, Any]:
    from encoders.llm import LLMEncoder

    texts, _, _ = load_ml100k(args.data)
    items = texts[: args.n_llm]
    load_s, encoder = timed(lambda: LLMEncoder(batch_size=16, device="cpu"))
    encode_s, (emb, _) = timed(lambda: encoder.encode(items))
    return {
        "n_items": len(items),
        "load_s": load_s,
        "encode_s": encode_s,
        "items_per_s": len(items) / encode_s,
        "dim": int(emb.shape[1]),
    }


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM from /proc (exact for this process image), else getrusage's ru_maxrss."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


SECTIONS = {"text": section_text, "cache": section_cache, "image": section_image, "llm": section_llm}


def _child(name: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tracemalloc.start()
    result = SECTIONS[name](args)
    result["peak_python_heap_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    result["peak_rss_mb"] = peak_rss_mb()
    result["torch_threads"] = torch.get_num_threads()
    queue.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get("MMREC_DATA") or str(REPO_ROOT.parent / "shared" / "datasets")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--n-llm", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "encoders.json")
    args = parser.parse_args()
    if not (args.data / "ml-100k" / "u.item").is_file():
        raise SystemExit(f"ml-100k not found under {args.data}; pass --data or set MMREC_DATA")

    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_start": os.getloadavg()},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    ctx = mp.get_context("spawn")
    for name in args.sections:
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, args, queue))
        proc.start()
        results[name] = queue.get()
        proc.join()
        print(f"{name}: done", flush=True)
    results["machine"]["load_avg_end"] = os.getloadavg()

    rows = []
    if "text" in results:
        t = results["text"]
        rows += [
            ("text: TextEncoder items/s", f"{t['text_items_per_s']:.1f}"),
            ("text: SentenceTransformer.encode items/s", f"{t['st_items_per_s']:.1f}"),
            ("text: time ratio ours/ST (best, median)", f"{t['time_ratio_ours_over_st_best']:.3f}, {t['time_ratio_ours_over_st_median']:.3f}"),
            ("text: peak RSS MB", f"{t['peak_rss_mb']:.0f}"),
        ]
    if "cache" in results:
        c = results["cache"]
        rows += [
            ("cache: encode+write s / hit s", f"{c['miss_encode_and_write_s']:.2f} / {c['hit_s']:.4f}"),
            ("cache: speedup (with weights re-hash)", f"{c['speedup']:.0f}x ({c['speedup_including_weights_hash']:.0f}x)"),
        ]
    for name in ("image", "llm"):
        if name in results:
            r = results[name]
            rows += [
                (f"{name}: items/s ({r['n_items']} items)", f"{r['items_per_s']:.2f}"),
                (f"{name}: load s", f"{r['load_s']:.1f}"),
                (f"{name}: peak RSS MB", f"{r['peak_rss_mb']:.0f}"),
            ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
