"""Full-ranking evaluation time: ml-100k's 943 test users per model, and 100k synthetic users x 20k items.

    MMREC_DATA=... python benchmarks/bench_eval.py [--threads 1] [--repeats 5] [--model DIR_OR_REPO_ID]
        [--no-synthetic] [--train-epochs N]

Part 1, ml-100k leave-one-out (all 943 test users, every item scored, history masked): times
``mmrec.eval.evaluate.evaluate`` per model (the "total", against the issue's 0.05 s target), median of
``--repeats``, as wall and process CPU seconds (CPU is the steadier figure on a shared machine), beside the
model's own scoring (``model.scorer()``: the last position only, the item matrix once; on the evaluator's chunks,
``eval.batch_size`` users in order of history length, each padded to its own longest), the whole-sequence path it
replaced (every position's states, the last one taken), and the evaluator's own work (padding, masking, ranking,
metrics, bins: evaluate() on the model's precomputed scores). "floor" is the scoring's FLOPs (torch's flop
counter) over this machine's measured fp32 matmul FLOP/s, in the same process: no implementation of the same
model on this CPU is faster (CPU attention is not in torch's flop counter, so it is left out). "kernels" replays
the scoring's matmuls and attention alone, at their own shapes and strides on random inputs: what those kernels
cost on this CPU with nothing else of the model around them, a floor for this model at fp32. "floor w" / "bf16
fw": the scoring's FLOPs over the fp32 / bf16 (n, n) matmul rate per wall second at ``--threads``, against the
wall-clock target: a model whose floor is above it cannot meet it on this machine at that precision. Models: the
baselines, SASRec, GRU4Rec, and the SASRec-based moc3 and PAD.
The neural models' cost does not depend on their weights, so freshly built ones are timed unless ``--model`` names
a saved one. NDCG@10 is shown under the expected-rank tie rule (the default) and the optimistic one, with the
number of targets that tie with at least one candidate. "bf16" is evaluate() with ``eval.precision: bf16`` (the
encoder in bf16 autocast, fp32 scores; worth it on CPUs with AMX), beside its NDCG@10 (against the fp32 one, it
says what bf16 rounding does to the ranking: compare on a trained model, ``--model`` or ``--train-epochs 8``).
"w2" / "bf16 w2": the same with ``eval.workers: 2`` (two chunks at once, torch's threads split between them;
with ``--threads 2``, two 1-thread workers).
Part 2, synthetic: users with power-law item popularity (Zipf-like, exponent 1) and log-normal history lengths
(median 20, 3..500 items) over 20,000 items, scored by a 64-d mean-of-history-embeddings model or a 2-block
SASRec, reading the last 50 items; each configuration runs in a fresh process, which reports evaluate()'s wall /
CPU time and its peak resident-memory increase (benchmarks/memory.py PeakRSS, sampled every 2 ms) over the memory
held before it. 25k and 100k users at the same chunk (the default, 128) show memory bounded by the chunk, not the users;
an 8x chunk shows what the chunk costs.
Memory freed by one chunk is kept for the next, as ``mmrec run`` does (``mmrec.core.allocator``).
Writes ``benchmarks/results/eval_time.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

from mmrec.core.allocator import keep_freed_memory
from mmrec.core.machine import describe_machine
from mmrec.eval.config import EvalConfig
from mmrec.eval.evaluate import evaluate
from mmrec.eval.metrics import RankingCases, metrics_from_ranks, rank_all
from mmrec.models.base import Recommender, SequentialRecommender
from memory import PeakRSS  # benchmarks/memory.py (scripts run from benchmarks/ on sys.path)

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = [(25_000, 128, "mean"), (100_000, 128, "mean"), (25_000, 1024, "mean"),
             (25_000, 128, "sasrec"), (100_000, 128, "sasrec"), (25_000, 1024, "sasrec")]  # (users, chunk, scorer)
N_ITEMS, DIM, MAX_LEN = 20_000, 64, 50
TARGET_S = 0.05  # issue 16: full-ranking evaluation of ml-100k's 943 users, per model


class MeanEmbeddingScorer(Recommender):
    """Scores = mean embedding of the last ``max_len`` history items . every item's embedding (a dot-product model)."""

    def __init__(self, n_items: int, dim: int, max_len: int, seed: int = 0):
        super().__init__()
        self.n_items, self.max_len = n_items, max_len
        self.table = torch.nn.Parameter(torch.randn(n_items + 1, dim, generator=torch.Generator().manual_seed(seed)))

    def score(self, histories: torch.Tensor) -> torch.Tensor:
        real = (histories > 0).unsqueeze(-1).float()
        profile = (self.table[histories] * real).sum(1) / real.sum(1).clamp(min=1.0)
        return profile @ self.table.T


class Replay(Recommender):
    """Returns precomputed scores (rows in the evaluator's scoring order) chunk after chunk: evaluate() on it times
    the evaluator's own work alone."""

    def __init__(self, scores: torch.Tensor, max_len: int | None):
        super().__init__()
        self.scores, self.max_len, self.n_items, self.position = scores, max_len, scores.shape[1] - 1, 0

    def score(self, histories: torch.Tensor) -> torch.Tensor:
        start = self.position % len(self.scores)
        self.position = start + len(histories)
        return self.scores[start : self.position]


def synthetic_cases(n_users: int, seed: int = 0) -> tuple[RankingCases, np.ndarray]:
    """Cases with power-law item popularity and log-normal history lengths, and the items' training counts."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1)
    popularity /= popularity.sum()
    lengths = np.clip(np.round(rng.lognormal(np.log(20), 1.0, n_users)), 3, 500).astype(np.int64)
    items = 1 + rng.choice(N_ITEMS, size=int(lengths.sum()) + n_users, p=popularity)
    histories = np.split(items[:-n_users], np.cumsum(lengths)[:-1])
    counts = np.bincount(items[:-n_users], minlength=N_ITEMS + 1)
    return RankingCases.build(histories, items[-n_users:]), counts


def synthetic_worker(n_users: int, chunk: int, scorer: str) -> dict:
    """One synthetic configuration, run in its own process so its peak memory is its own."""
    from mmrec.models.sasrec import SASRec, SASRecConfig

    cases, counts = synthetic_cases(n_users)
    torch.manual_seed(0)
    model = MeanEmbeddingScorer(N_ITEMS, DIM, MAX_LEN) if scorer == "mean" else SASRec(
        SASRecConfig(n_items=N_ITEMS, dim=DIM, max_len=MAX_LEN))
    held = sum(a.nbytes for a in (cases.history_items, cases.history_starts, cases.history_ends, cases.mask_offsets))
    held += sum(t.numel() * t.element_size() for t in (cases.mask_rows, cases.mask_items, cases.targets))
    with PeakRSS(0.002) as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        result = evaluate(model, cases, counts, EvalConfig(batch_size=chunk))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"scorer": scorer, "n_users": n_users, "n_items": N_ITEMS, "chunk": chunk, "dim": DIM, "max_len": MAX_LEN,
            "masked_pairs": len(cases.mask_items), "cases_mb": held / 2**20, "wall_seconds": wall,
            "cpu_seconds": cpu, "peak_rss_increase_mb": memory.peak_mb,
            "chunk_scores_mb": chunk * (N_ITEMS + 1) * 4 / 2**20, "NDCG@10": result["overall"]["NDCG@10"]}


def matmul_flops_per_s(dtype: torch.dtype = torch.float32, n: int = 1024, repeats: int = 5,
                       clock=time.process_time) -> float:
    """(n, n) @ (n, n) FLOP per second of ``clock``, best of ``repeats``, at torch's thread count. Per CPU second
    (the default) is the rate the "floor" column divides by, in the CPU seconds the table's times are in
    (wall-clock rates drop with the other users of a shared machine); per wall second (``time.perf_counter``), fp32
    and bf16 (AMX where the CPU has it), the rates the wall-clock floors divide by."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        a @ b
        best = min(best, clock() - start)
    return 2 * n**3 / best


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


class KernelRecorder(TorchDispatchMode):
    """Records the matmul and attention kernels a computation calls (op, tensor shapes / strides, other
    arguments) so they can be replayed alone: :func:`kernels_alone_cpu_seconds`."""

    OPS = {torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm, torch.ops.aten.baddbmm,
           torch.ops.aten._scaled_dot_product_flash_attention_for_cpu}

    def __init__(self):
        super().__init__()
        self.calls: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket in self.OPS:
            spec = (lambda a: TensorSpec(tuple(a.shape), a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a)
            self.calls.append((func, tree_map(spec, args), tree_map(spec, kwargs)))
        return func(*args, **kwargs)


def kernels_alone_cpu_seconds(calls: list, repeats: int) -> float:
    """The recorded kernels run back to back on random inputs of the same shapes and strides, median CPU seconds:
    what the model's matmuls and attention cost on this CPU's kernels (MKL, oneDNN) with nothing else around them.
    Unlike the FLOP floor, this is at the model's own shapes (a 64-wide inner dimension runs far below the rate of
    a (1024, 1024) matmul)."""

    def make(a):
        if not isinstance(a, TensorSpec):
            return a
        size = 1 + sum((n - 1) * st for n, st in zip(a.shape, a.stride)) if all(a.shape) else 0
        return torch.randn(size).to(a.dtype).as_strided(a.shape, a.stride)

    replay = [(func, tree_map(make, args), tree_map(make, kwargs)) for func, args, kwargs in calls]
    return median_times(lambda: [func(*args, **kwargs) for func, args, kwargs in replay], repeats)[1]


def median_times(fn, repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def ml100k_rows(args: argparse.Namespace) -> tuple[dict, int, int, float, dict[str, float]]:
    # part 1's imports load here, not at the top: each synthetic worker process then starts in seconds, not ~15 s
    from mmrec.recipe import load_recipe
    from mmrec.data import load_tables
    from mmrec.eval.evaluate import ranking_cases
    from mmrec.hub import load_model
    from mmrec.models.base import ModelData
    from mmrec import catalogue
    from mmrec.stages.prepare import build_splits

    cfg = load_recipe(REPO / "recipes" / "ml-100k-sasrec.yaml", [])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["leave-one-out"]
    cases, counts = ranking_cases(split, "test"), split.item_train_counts()
    data = ModelData(split.n_items, split.train, list(tables.items["text"]))
    models = {name: catalogue.build(name, catalogue.lookup(name).config_class(), data)
              for name in ("popularity", "content_knn", "sasrec", "gru4rec")}
    if args.model:
        models["sasrec"] = load_model(args.model)
    elif args.train_epochs:
        train_sasrec(models["sasrec"], split, ranking_cases(split, "valid"), args.train_epochs)
    models.update(sasrec_based(models["sasrec"], data, counts))
    matmul = matmul_flops_per_s()
    wall_rates = {name: matmul_flops_per_s(dtype, 2048, clock=time.perf_counter)
                  for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    rows = {}
    print(f"ml-100k leave-one-out, {len(cases)} users x {split.n_items} items, median of {args.repeats} (CPU s); "
          f"target {TARGET_S} s per model; floor = scoring FLOPs / this machine's {matmul / 1e9:.0f} GFLOP/s matmul "
          f"(CPU s); wall floors = FLOPs / the {args.threads}-thread matmul rate per wall second, fp32 "
          f"{wall_rates['fp32'] / 1e9:.0f} and bf16 {wall_rates['bf16'] / 1e9:.0f} GFLOP/s: above the target, no "
          "implementation of that model at that precision meets it on this machine")
    print(f"{'model':12} {'evaluate':>9} {'score':>9} {'old score':>9} {'evaluator':>9} {'floor':>7} {'kernels':>7} "
          f"{'wall':>7} {'floor w':>7} {'bf16 fw':>7} "
          f"{'target':>6} {'bf16':>7} {'w2 wall':>7} {'bf16 w2':>7} {'NDCG@10':>8} {'(bf16)':>8} {'(optim.)':>8} "
          "tied targets")
    for name, model in models.items():
        model.eval()
        model_cases = cases.with_max_len(model.max_len)
        order = model_cases.scoring_order()
        chunks = [model_cases.chunk(order[i : i + cfg.eval.batch_size])[0] for i in range(0, len(order),
                                                                                       cfg.eval.batch_size)]
        with torch.no_grad():
            score_wall, score_cpu = median_times(lambda: chunked(model.scorer(), chunks), args.repeats)
            old_wall, old_cpu = median_times(lambda: chunked(lambda c: whole_sequence_score(model, c), chunks),
                                             args.repeats)
            with FlopCounterMode(display=False) as flops:
                chunked(model.scorer(), chunks)
            with KernelRecorder() as kernels:
                chunked(model.scorer(), chunks)
            kernels_cpu = kernels_alone_cpu_seconds(kernels.calls, args.repeats)
        wall, cpu = median_times(lambda: evaluate(model, cases, counts, cfg.eval), args.repeats)
        low = dataclasses.replace(cfg.eval, precision="bf16")
        bf16_wall, bf16_cpu = median_times(lambda: evaluate(model, cases, counts, low), args.repeats)
        bf16_ndcg = evaluate(model, cases, counts, dataclasses.replace(low, ties="expected"))["overall"]["NDCG@10"]
        w2_wall, w2_cpu = median_times(lambda: evaluate(model, cases, counts, dataclasses.replace(cfg.eval, workers=2)),
                                       args.repeats)
        bf16_w2_wall, _ = median_times(lambda: evaluate(model, cases, counts, dataclasses.replace(low, workers=2)),
                                       args.repeats)
        with torch.no_grad():
            replay = Replay(torch.cat([model.score(c).float() for c in chunks]), model.max_len)
        evaluator_wall, evaluator_cpu = median_times(lambda: evaluate(replay, cases, counts, cfg.eval), args.repeats)
        expected = evaluate(model, cases, counts, EvalConfig(ties="expected"))["overall"]["NDCG@10"]
        optimistic, pessimistic = (rank_all(model.score, cases.with_max_len(model.max_len), ties=t)
                                   for t in ("optimistic", "pessimistic"))
        rows[name] = {"wall_seconds": wall, "cpu_seconds": cpu, "score_wall_seconds": score_wall,
                      "score_cpu_seconds": score_cpu, "old_score_wall_seconds": old_wall,
                      "old_score_cpu_seconds": old_cpu, "evaluator_cpu_seconds": evaluator_cpu,
                      "evaluator_wall_seconds": evaluator_wall, "score_flops": flops.get_total_flops(),
                      "floor_cpu_seconds": flops.get_total_flops() / matmul,
                      "floor_wall_seconds": flops.get_total_flops() / wall_rates["fp32"],
                      "floor_bf16_wall_seconds": flops.get_total_flops() / wall_rates["bf16"],
                      "kernels_alone_cpu_seconds": kernels_cpu,
                      "n_kernel_calls": len(kernels.calls), "target_seconds": TARGET_S,
                      "under_target_cpu": cpu < TARGET_S, "bf16_wall_seconds": bf16_wall,
                      "bf16_cpu_seconds": bf16_cpu, "bf16_under_target_cpu": bf16_cpu < TARGET_S,
                      "workers2_wall_seconds": w2_wall, "workers2_cpu_seconds": w2_cpu,
                      "bf16_workers2_wall_seconds": bf16_w2_wall,
                      "NDCG@10_bf16": bf16_ndcg,
                      "NDCG@10": expected, "NDCG@10_optimistic": metrics_from_ranks(optimistic, [10])["NDCG@10"],
                      "NDCG@10_pessimistic": metrics_from_ranks(pessimistic, [10])["NDCG@10"],
                      "targets_with_ties": int((optimistic != pessimistic).sum())}
        r = rows[name]
        print(f"{name:12} {cpu:9.4f} {score_cpu:9.4f} {old_cpu:9.4f} {r['evaluator_cpu_seconds']:9.4f} "
              f"{r['floor_cpu_seconds']:7.4f} {kernels_cpu:7.4f} {wall:7.3f} {r['floor_wall_seconds']:7.4f} "
              f"{r['floor_bf16_wall_seconds']:7.4f} {'met' if cpu < TARGET_S else 'NOT':>6} "
              f"{bf16_cpu:7.4f} {w2_wall:7.4f} {bf16_w2_wall:7.4f} {expected:8.4f} {bf16_ndcg:8.4f} "
              f"{r['NDCG@10_optimistic']:8.4f} {r['targets_with_ties']}")
    return rows, len(cases), split.n_items, matmul, wall_rates


def train_sasrec(model: SequentialRecommender, split, valid: RankingCases, epochs: int) -> None:
    """``epochs`` of seed-0 fp32 training with bench_sasrec_vs_recbole.py's settings (batch 64, lr 0.002, windows
    every 10 items)."""
    from mmrec.train.common import seed_everything
    from mmrec.train.config import TrainConfig
    from mmrec.train.sequential import SequentialTrainer

    seed_everything(0)
    settings = TrainConfig(models={}, epochs=epochs, batch_size=64, lr=0.002, loss="ce", window_stride=10,
                           progress=False)
    SequentialTrainer(model, split.train, valid, settings, seed=0).fit()


def chunked(score, chunks: list[torch.Tensor]) -> list[torch.Tensor]:
    return [score(c) for c in chunks]


def whole_sequence_score(model: Recommender, histories: torch.Tensor) -> torch.Tensor:
    """The scoring path before scorer(): every position's states, the last one taken, the item matrix per call."""
    if not isinstance(model, SequentialRecommender):
        return model.score(histories)
    return model.encode_sequence(histories)[:, -1] @ model.item_repr.all_items().T


def sasrec_based(sasrec: SequentialRecommender, data, counts: np.ndarray) -> dict[str, Recommender]:
    """The demo's SASRec-based models at their recipe sizes: moc3 (ID + 3 codebooks x 3 levels of 32 codes, seeded
    random codes: the cost does not depend on them) and PAD (ID / aligned / content SASRec experts over 384-d
    content, the text encoder's width)."""
    from mmrec.models.semantic_sasrec import SemanticSASRec, SemanticSASRecConfig
    from mmrec.pad.config import PADConfig
    from mmrec.pad.model import PAD
    from mmrec.pad.tower import AlignedTower

    rng = np.random.default_rng(0)
    codes = np.concatenate([np.zeros((1, 3, 3), np.int64), rng.integers(0, 32, size=(data.n_items, 3, 3))])
    moc3 = SemanticSASRec.build(SemanticSASRecConfig(variant="moc3"),
                                dataclasses.replace(data, item_codes={"moc3": codes}))
    content = torch.randn(data.n_items + 1, 384, generator=torch.Generator().manual_seed(0))
    content[0] = 0
    pad_cfg = PADConfig(enabled=True)
    tower = AlignedTower.from_anchor(sasrec, content, counts, pad_cfg)
    return {"moc3": moc3, "pad": PAD.from_anchor(sasrec, tower, content, counts, pad_cfg)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", help="a saved model (folder or repo id) to time in place of a fresh SASRec")
    parser.add_argument("--no-synthetic", action="store_true", help="part 1 (ml-100k) only")
    parser.add_argument("--train-epochs", type=int, default=0,
                        help="train the fresh SASRec this many epochs first (seed 0, the RecBole race's settings), "
                             "so bf16's NDCG@10 is compared on a trained model")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_time.json")
    parser.add_argument("--synthetic-worker", nargs=3, metavar=("USERS", "CHUNK", "SCORER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    keep_freed_memory()  # as `mmrec run` does (the synthetic workers inherit it through the environment)
    torch.set_num_threads(args.threads)
    if args.synthetic_worker:
        users, chunk, scorer = args.synthetic_worker
        print(json.dumps(synthetic_worker(int(users), int(chunk), scorer)))
        return
    rows, n_users, n_items, matmul, wall_rates = ml100k_rows(args)
    synthetic = []
    print(f"\nsynthetic, {N_ITEMS} items, {DIM}-d scorers over the last {MAX_LEN} items (mean: mean of the history's "
          f"embeddings; sasrec: 2 blocks), fresh process each")
    print(f"{'scorer':>7} {'users':>7} {'chunk':>6} {'CPU s':>7} {'wall s':>7} {'CPU s/100k':>10} {'peak MB':>8} "
          f"{'cases MB':>8} "
          f"{'chunk scores MB':>15}")
    for n, chunk, scorer in [] if args.no_synthetic else SYNTHETIC:
        out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--synthetic-worker",
                              str(n), str(chunk), scorer], check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        synthetic.append(row)
        print(f"{scorer:>7} {n:7} {chunk:6} {row['cpu_seconds']:7.2f} {row['wall_seconds']:7.2f} "
              f"{row['cpu_seconds'] * 1e5 / n:10.2f} {row['peak_rss_increase_mb']:8.0f} {row['cases_mb']:8.0f} "
              f"{row['chunk_scores_mb']:15.0f}")
    args.out.write_text(json.dumps({"threads": args.threads, "repeats": args.repeats, "n_users": n_users,
                                    "matmul_flops_per_s": matmul, "matmul_wall_flops_per_s": wall_rates,
                                    "target_seconds_per_model": TARGET_S,
                                    "n_items": n_items, "model": args.model, "train_epochs": args.train_epochs,
                                    "loadavg": os.getloadavg(),
                                    "machine": describe_machine(),
                                    "ties_default": EvalConfig().ties, "models": rows, "synthetic": synthetic},
                                   indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
