"""Encoders against this CPU's limit, on the real ml-100k items, in one process.

- machine: fp32 matmul FLOP/s on 1 and 2 threads (and bf16 on 1 thread), the ceiling for everything below;
- text: `TextEncoder` vs `SentenceTransformer.encode` on the same texts and batch size (target: >= 0.95x its
  throughput), interleaved repeats;
- cache: an embedding-cache hit vs encoding;
- image: EfficientNet-Lite0 on the posters (decoded in DataLoader workers);
- llm: SmolLM2 load from the GGUF (cold, into an empty float-weights cache) vs from the cache, and encoding
  at the recipe's 64-token prompt cap;
each encoder's achieved FLOP/s (matmul FLOPs of the padded batches it ran, counted analytically; convolution
FLOPs counted by torch's flop counter) and its ratio to the matmul peak, and a prediction of the demo's
encode stage (all 1,682 items) from those rates, with shorter LLM prompts as alternatives.
Text = title + genres + plot, as the pipeline builds it; posters from ml-100k-extras/posters.

    flock /tmp/mmrec-heavy.lock env HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/bench_encoders.py --threads 1

Prints a table and writes benchmarks/results/encoders.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from encoders.base import Encoder
from encoders.cache import cached_encode
from encoders.flops import int8_linear_flops_per_s, matmul_flops_per_s, module_flops, transformer_flops
from encoders.image import ImageEncoder
from encoders.llm import LLMEncoder
from encoders.text import TextEncoder

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPE_LLM_MAX_LENGTH = 64


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


def sample(items: list, n: int) -> list:
    """`n` items spread over the catalogue (seeded), so lengths follow the whole catalogue's."""
    rows = np.sort(np.random.default_rng(0).choice(len(items), size=min(n, len(items)), replace=False))
    return [items[i] for i in rows]


class FlopMeter:
    """Adds up the matmul FLOPs of every forward pass of a transformer encoder, from its input shapes."""

    def __init__(self, encoder: Encoder) -> None:
        self.config, self.flops, self.tokens, self.padded_tokens = encoder.model.config, 0, 0, 0
        self.handle = encoder.model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        batch, length = ids.shape
        self.flops += transformer_flops(self.config, batch, length)
        self.padded_tokens += batch * length
        mask = kwargs.get("attention_mask")
        self.tokens += int(mask.sum()) if mask is not None else batch * length

    def reset(self) -> None:
        self.flops = self.tokens = self.padded_tokens = 0


def sorted_batch_flops(config: Any, lengths: np.ndarray, batch_size: int) -> int:
    """FLOPs of encoding items with these token lengths in longest-first batches, as the encoders batch them."""
    ordered = np.sort(lengths)[::-1]
    return sum(
        transformer_flops(config, len(block), int(block[0]))
        for block in (ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size))
    )


def section_machine(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "matmul_n": args.matmul_n,
        "fp32_matmul_flops_1_thread": matmul_flops_per_s(1, args.matmul_n),
        "fp32_matmul_flops_2_threads": matmul_flops_per_s(2, args.matmul_n),
        "bf16_matmul_flops_1_thread": matmul_flops_per_s(1, args.matmul_n, torch.bfloat16, repeats=2),
        "int8_dynamic_linear_flops_1_thread": int8_linear_flops_per_s(1, args.matmul_n),
    }


def section_text(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    items = sample(texts, args.n_text)
    ours = TextEncoder(batch_size=args.batch_size, device="cpu")
    st = SentenceTransformer(ours.source.name, device="cpu")
    ours.encode(items[:64]), st.encode(items[:64], batch_size=args.batch_size)  # warm-up
    meter = FlopMeter(ours)
    ours_s, st_s = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        meter.reset()
        ours_s.append(timed(lambda: ours.encode(items))[0])
        st_s.append(timed(lambda: st.encode(items, batch_size=args.batch_size))[0])
    meter.handle.remove()
    best_ours, best_st = min(ours_s), min(st_s)
    return {
        "n_items": len(items),
        "batch_size": args.batch_size,
        "text_encoder_s": ours_s,
        "sentence_transformers_s": st_s,
        "text_items_per_s": len(items) / best_ours,
        "st_items_per_s": len(items) / best_st,
        "throughput_ratio_ours_over_st_best": best_st / best_ours,
        "throughput_ratio_ours_over_st_median": statistics.median(st_s) / statistics.median(ours_s),
        "time_ratio_ours_over_st_best": best_ours / best_st,
        "flops_per_pass": meter.flops,
        "real_tokens": meter.tokens,
        "padded_tokens": meter.padded_tokens,
        "achieved_flops_per_s": meter.flops / best_ours,
        "all_items_flops": sorted_batch_flops(ours.model.config, ours.token_lengths(texts), args.batch_size),
    }


def section_cache(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    items = sample(texts, args.n_cache)
    encoder = TextEncoder(batch_size=args.batch_size, device="cpu")
    with tempfile.TemporaryDirectory() as cache_dir:
        miss_s, _ = timed(lambda: cached_encode(encoder, items, cache_dir))
        hits = [timed(lambda: cached_encode(encoder, items, cache_dir))[0] for _ in range(5)]
        fresh = TextEncoder(batch_size=args.batch_size, device="cpu")  # must hash the weights file again
        hit_with_hash_s, _ = timed(lambda: cached_encode(fresh, items, cache_dir))
    return {
        "n_items": len(items),
        "miss_encode_and_write_s": miss_s,
        "hit_s": min(hits),
        "hit_including_weights_hash_s": hit_with_hash_s,
        "speedup": miss_s / min(hits),
        "speedup_including_weights_hash": miss_s / hit_with_hash_s,
    }


def section_image(args: argparse.Namespace, posters: list[str | None], root: Path) -> dict[str, Any]:
    items = sample(posters, args.n_images)
    load_s, encoder = timed(lambda: ImageEncoder(root=root, batch_size=32, num_workers=args.workers, device="cpu"))
    encode_s, (emb, mask) = timed(lambda: encoder.encode(items))
    per_image = module_flops(encoder.inference_model(), encoder.blank.unsqueeze(0))
    n_present = int(mask.sum())
    return {
        "n_items": len(items),
        "with_poster": n_present,
        "counts": encoder.last_counts,
        "num_workers": args.workers,
        "load_s": load_s,
        "encode_s": encode_s,
        "items_per_s": len(items) / encode_s,
        "images_per_s": n_present / encode_s,
        "dim": int(emb.shape[1]),
        "flops_per_image": per_image,
        "achieved_flops_per_s": per_image * n_present / encode_s,
        "all_items_flops": per_image * sum(p is not None for p in posters),
    }


def section_llm(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    items = sample(texts, args.n_llm)
    options = {"batch_size": 16, "max_length": RECIPE_LLM_MAX_LENGTH, "device": "cpu"}
    with tempfile.TemporaryDirectory() as weights_cache:
        cold_s, cold = timed(lambda: LLMEncoder(weights_cache=weights_cache, **options))
        cached_s, encoder = timed(lambda: LLMEncoder(weights_cache=weights_cache, **options))
    assert cold.weights_cache_hit is False and encoder.weights_cache_hit is True
    del cold
    meter = FlopMeter(encoder)
    encode_s, (emb, _) = timed(lambda: encoder.encode(items))
    meter.handle.remove()
    all_flops = {}
    for max_length in (64, 32, 16):
        encoder.max_length = max_length
        all_flops[str(max_length)] = sorted_batch_flops(encoder.model.config, encoder.token_lengths(texts), 16)
    return {
        "n_items": len(items),
        "max_length": RECIPE_LLM_MAX_LENGTH,
        "load_cold_gguf_s": cold_s,
        "load_cached_s": cached_s,
        "load_speedup": cold_s / cached_s,
        "encode_s": encode_s,
        "items_per_s": len(items) / encode_s,
        "dim": int(emb.shape[1]),
        "flops": meter.flops,
        "real_tokens": meter.tokens,
        "padded_tokens": meter.padded_tokens,
        "achieved_flops_per_s": meter.flops / encode_s,
        "all_items_flops_by_max_length": all_flops,
    }


def peak_rss_mb() -> float:
    """This process's peak RSS so far (VmHWM, else getrusage)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def predict_encode_stage(results: dict[str, Any]) -> dict[str, Any]:
    """Seconds for the demo's three encoders over all items at the achieved FLOP/s (1 thread, as measured)."""
    text = results["text"]["all_items_flops"] / results["text"]["achieved_flops_per_s"]
    image = results["image"]["all_items_flops"] / results["image"]["achieved_flops_per_s"]
    llm_rate = results["llm"]["achieved_flops_per_s"]
    llm = {k: v / llm_rate for k, v in results["llm"]["all_items_flops_by_max_length"].items()}
    return {
        "text_s": text,
        "image_s": image,
        "llm_s_by_max_length": llm,
        "total_s_by_llm_max_length": {k: text + image + v for k, v in llm.items()},
        "llm_load_cold_s": results["llm"]["load_cold_gguf_s"],
        "llm_load_cached_s": results["llm"]["load_cached_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get("MMREC_DATA") or str(REPO_ROOT.parent / "shared" / "datasets")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-text", type=int, default=384)
    parser.add_argument("--n-cache", type=int, default=128)
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--n-llm", type=int, default=96)
    parser.add_argument("--matmul-n", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the encoders")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "encoders.json")
    args = parser.parse_args()
    if not (args.data / "ml-100k" / "u.item").is_file():
        raise SystemExit(f"ml-100k not found under {args.data}; pass --data or set MMREC_DATA")
    torch.set_num_threads(args.threads)
    texts, posters, root = load_ml100k(args.data)

    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "load_avg_start": os.getloadavg()},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    results["machine"].update(section_machine(args))
    sections = {"text": lambda: section_text(args, texts), "cache": lambda: section_cache(args, texts),
                "image": lambda: section_image(args, posters, root), "llm": lambda: section_llm(args, texts)}
    for name, run in sections.items():
        results[name] = run()
        results[name]["peak_rss_mb_so_far"] = peak_rss_mb()
        results[name]["torch_threads"] = torch.get_num_threads()
        print(f"{name}: done", flush=True)
    results["machine"]["load_avg_end"] = os.getloadavg()
    peak = results["machine"]["fp32_matmul_flops_1_thread"]
    for name in ("text", "image", "llm"):
        results[name]["ratio_to_1_thread_matmul_peak"] = results[name]["achieved_flops_per_s"] / peak
    results["demo_encode_prediction_1_thread"] = predict_encode_stage(results)

    m, t, c, i, l = (results[k] for k in ("machine", "text", "cache", "image", "llm"))
    p = results["demo_encode_prediction_1_thread"]
    rows = [
        ("fp32 matmul GFLOP/s, 1 / 2 threads", f"{m['fp32_matmul_flops_1_thread'] / 1e9:.1f} / {m['fp32_matmul_flops_2_threads'] / 1e9:.1f}"),
        ("bf16 matmul / int8 dynamic Linear GFLOP/s, 1 thread",
         f"{m['bf16_matmul_flops_1_thread'] / 1e9:.1f} / {m['int8_dynamic_linear_flops_1_thread'] / 1e9:.1f}"),
        ("text: TextEncoder / ST items/s", f"{t['text_items_per_s']:.1f} / {t['st_items_per_s']:.1f}"),
        ("text: throughput ours/ST (best, median)", f"{t['throughput_ratio_ours_over_st_best']:.3f}, {t['throughput_ratio_ours_over_st_median']:.3f}"),
        ("cache: encode+write s / hit s", f"{c['miss_encode_and_write_s']:.2f} / {c['hit_s']:.4f}"),
        (f"image: items/s ({i['n_items']} items, {i['num_workers']} workers)", f"{i['items_per_s']:.2f}"),
        (f"llm: items/s ({l['n_items']} items, prompt <= {l['max_length']} tokens)", f"{l['items_per_s']:.2f}"),
        ("llm: load s, GGUF cold / float cache", f"{l['load_cold_gguf_s']:.1f} / {l['load_cached_s']:.2f}"),
    ]
    for name in ("text", "image", "llm"):
        r = results[name]
        rows.append((f"{name}: GFLOP/s achieved (of 1-thread matmul peak)",
                     f"{r['achieved_flops_per_s'] / 1e9:.1f} ({r['ratio_to_1_thread_matmul_peak']:.0%})"))
    rows.append(("demo encode predicted s: text + image", f"{p['text_s']:.0f} + {p['image_s']:.0f}"))
    for k, v in p["llm_s_by_max_length"].items():
        rows.append((f"  + llm at prompt <= {k} tokens = total", f"{v:.0f} = {p['total_s_by_llm_max_length'][k]:.0f}"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
