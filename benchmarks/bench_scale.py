"""Scale: prepare, one SASRec epoch, full-ranking evaluation of 100k users and a CTR epoch at 1M / 4M / 20M
synthetic interactions (``benchmarks/synthetic.py``), each step's wall time, throughput and peak RSS.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_scale.py [--sizes 1M,4M,20M] [--steps prepare,sasrec,eval,ctr]
        [--work /tmp/mmrec-scale] [--sasrec-windows 256] [--ctr-samples 200000] [--eval-users 100000]

Every step runs in a fresh subprocess (``--worker``), so its peak RSS (``wait4``'s ``ru_maxrss``) is its own;
a child over ``--rss-limit-gb`` is killed and recorded as such. The steps use the real pipeline code:

- ``prepare``: ``load_directory`` (validation, indexing) + saving the tables + ``iter_splits`` (leave-one-out,
  new-items, ctr), each split saved before the next is built, as the ``prepare`` stage does;
- ``sasrec``: load the prepared artifact, pack the training windows of *every* user (``training_windows``),
  then ``SequentialTrainer.fit`` for one epoch on a seeded subsample of users (``--sasrec-windows`` windows,
  the ml-100k-sasrec recipe's settings: full-softmax CE, batch 64, stride 10); the full epoch is projected
  from the measured sequences/s;
- ``eval``: ``RankingCases`` for the first ``--eval-users`` test users of leave-one-out, then ``evaluate`` of a
  fresh SASRec (cost does not depend on the weights), chunked by ``eval.batch_size``;
- ``ctr``: ``build_ctr_samples`` of the whole CTR split, then ``train_ctr`` of DIN (no modalities) for one
  epoch on a seeded subsample of ``--ctr-samples`` training events; the full epoch is projected likewise.

The growth exponent between consecutive sizes is log(t2 / t1) / log(n2 / n1) per step (1 = linear).
Writes ``benchmarks/results/scale.json`` and ``scale.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from synthetic import SyntheticSpec, write_dataset

from mmrec import catalogue
from mmrec.core.allocator import keep_freed_memory
from mmrec.ctr.build import build_ctr_model
from mmrec.ctr.config import CTRConfig
from mmrec.ctr.train import CTRTrainSettings, train_ctr
from mmrec.data import load_tables
from mmrec.data.config import DataConfig
from mmrec.data.ctr_batches import CTRSamples, build_ctr_samples
from mmrec.data.prepared import load_prepared
from mmrec.eval.evaluate import evaluate
from mmrec.eval.metrics import RankingCases
from mmrec.models.base import ModelData
from mmrec.models.sasrec import SASRecConfig
from mmrec.recipe import RecipeConfig
from mmrec.stages.prepare import iter_splits
from mmrec.train.config import TrainConfig
from mmrec.train.sequential import SequentialTrainer, training_windows

REPO = Path(__file__).resolve().parents[1]
SIZES = {"100k": 100_000, "1M": 1_000_000, "4M": 4_000_000, "20M": 20_000_000}
STEPS = ("prepare", "sasrec", "eval", "ctr")


def recipe(data_dir: Path):
    return RecipeConfig(
        name="scale",
        data=DataConfig(dataset=str(data_dir), format="directory", text_fields=["title", "genres"], image_field=None),
        train=TrainConfig(epochs=1, batch_size=64, lr=0.002, window_stride=10, loss="ce", progress=False),
        ctr=CTRConfig(models=["din"], max_history=10, embed_dim=16, user_fields=[], genre_field="genres",
                      modalities=[]),
    )


def sasrec_config(n_items: int):
    return SASRecConfig(n_items=n_items, dim=64, n_layers=2, n_heads=2, max_len=50, dropout=0.2)


class Timer:
    """Named phases of one step, in seconds."""

    def __init__(self):
        self.phases: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timer.phases[name] = time.perf_counter() - self.start

        return _Phase()


def step_generate(size: str, work: Path, args) -> dict:
    timer, spec = Timer(), SyntheticSpec(SIZES[size])
    with timer("generate"):
        write_dataset(spec, work / "data")
    return {"phases": timer.phases, "n_users": spec.n_users, "n_items": spec.n_items,
            "throughput": {"value": SIZES[size] / timer.phases["generate"], "unit": "interactions/s"}}


def step_prepare(size: str, work: Path, args) -> dict:
    cfg, timer = recipe(work / "data"), Timer()
    with timer("load_validate"):
        tables = load_tables(cfg.data)
    with timer("save_tables"):
        tables.save(work / "prepared" / "tables")
    with timer("splits_built_and_saved"):  # as the stage does: each split saved and dropped before the next
        summaries = {}
        for kind, split in iter_splits(tables, cfg):
            split.save(work / "prepared" / "splits" / kind)
            summaries[kind] = split.summary()
            del split
    total = sum(timer.phases.values())
    return {"phases": timer.phases, "seconds": total, "stats": tables.stats(), "splits": summaries,
            "throughput": {"value": SIZES[size] / total, "unit": "interactions/s"}}


def step_sasrec(size: str, work: Path, args) -> dict:


    cfg, timer = recipe(work / "data"), Timer()
    with timer("load_prepared"):
        _, splits = load_prepared(work / "prepared", kinds=("leave-one-out",))
    split = splits["leave-one-out"]
    model_cfg = sasrec_config(split.n_items)
    with timer("pack_all_windows"):
        n_windows = len(training_windows(split.train, model_cfg.max_len, cfg.train.window_stride))
    lengths = np.fromiter((len(s) for s in split.train), dtype=np.int64, count=len(split.train))
    per_user = np.where(lengths >= 2, -(-(lengths - 1) // cfg.train.window_stride), 0)
    order = np.random.default_rng(0).permutation(len(split.train))
    chosen = order[:int(np.searchsorted(np.cumsum(per_user[order]), args.sasrec_windows)) + 1]
    keep = np.zeros(len(split.train), dtype=bool)
    keep[chosen] = True
    empty = np.zeros(0, dtype=np.int64)
    train = [s if k else empty for s, k in zip(split.train, keep)]
    valid_rows = np.flatnonzero(keep[split.valid.users])[:256]
    valid = RankingCases.build([split.valid.histories[i] for i in valid_rows], split.valid.targets[valid_rows],
                               [split.train[u] for u in split.valid.users[valid_rows]])
    torch.manual_seed(0)
    model = catalogue.build("sasrec", model_cfg, ModelData(split.n_items, train))
    trainer = SequentialTrainer(model, train, valid, cfg.train, seed=0)
    with timer("fit_one_epoch_subsample"):
        trainer.fit()
    log = trainer.history[0]
    rate = len(trainer.windows) / log.train_seconds
    return {"phases": timer.phases, "seconds": timer.phases["load_prepared"] + timer.phases["pack_all_windows"],
            "n_windows_full_epoch": n_windows, "n_windows_measured": len(trainer.windows),
            "train_seconds_measured": log.train_seconds, "loss": log.loss, "n_items": split.n_items,
            "projected_epoch_seconds": n_windows / rate,
            "throughput": {"value": rate, "unit": "sequences/s"}}


def step_eval(size: str, work: Path, args) -> dict:

    cfg, timer = recipe(work / "data"), Timer()
    with timer("load_prepared"):
        _, splits = load_prepared(work / "prepared", kinds=("leave-one-out",))
    split = splits["leave-one-out"]
    n = min(args.eval_users, len(split.test))
    with timer("build_cases"):
        cases = RankingCases.build(split.test.histories[:n], split.test.targets[:n],
                                   [split.train[u] for u in split.test.users[:n]])
        counts = split.item_train_counts()
    torch.manual_seed(0)
    model = catalogue.build("sasrec", sasrec_config(split.n_items), ModelData(split.n_items, split.train))
    with timer("evaluate"):
        result = evaluate(model, cases, counts, cfg.eval)
    return {"phases": timer.phases, "seconds": timer.phases["build_cases"] + timer.phases["evaluate"],
            "n_users": n, "n_items": split.n_items, "batch_size": cfg.eval.batch_size,
            "NDCG@10_untrained": result["overall"]["NDCG@10"],
            "throughput": {"value": n / timer.phases["evaluate"], "unit": "users/s"}}


def step_ctr(size: str, work: Path, args) -> dict:

    cfg, timer = recipe(work / "data"), Timer()
    with timer("load_prepared"):
        tables, splits = load_prepared(work / "prepared", kinds=("ctr",))
    with timer("build_samples"):
        samples, spec = build_ctr_samples(splits["ctr"], tables, cfg.ctr.max_history, cfg.ctr.user_fields,
                                          cfg.ctr.genre_field)

    def subsample(part: CTRSamples, k: int) -> CTRSamples:
        rows = torch.randperm(len(part), generator=torch.Generator().manual_seed(0))[:k]
        return dataclasses.replace(part, user=part.user[rows], item=part.item[rows], history=part.history[rows],
                                   history_mask=part.history_mask[rows], label=part.label[rows])

    train, valid = subsample(samples["train"], args.ctr_samples), subsample(samples["valid"], args.ctr_samples // 4)
    torch.manual_seed(0)
    model = build_ctr_model("din", spec, None, {"embed_dim": cfg.ctr.embed_dim})
    settings = CTRTrainSettings(cfg.ctr.batch_size, cfg.ctr.eval_batch_size, cfg.ctr.lr, cfg.ctr.weight_decay,
                                max_epochs=1, patience=1, seed=0, progress=False)
    with timer("train_one_epoch_subsample"):
        result = train_ctr(model, train, valid, settings)
    rate = len(train) / result.train_seconds
    return {"phases": timer.phases, "seconds": timer.phases["load_prepared"] + timer.phases["build_samples"],
            "n_train_full_epoch": len(samples["train"]), "n_train_measured": len(train),
            "valid_auc_subsample": result.best_valid_auc, "projected_epoch_seconds": len(samples["train"]) / rate,
            "throughput": {"value": rate, "unit": "samples/s"}}


WORKERS = {"generate": step_generate, "prepare": step_prepare, "sasrec": step_sasrec, "eval": step_eval,
           "ctr": step_ctr}


def run_worker(step: str, size: str, work: Path, args) -> None:
    result_meta = {"keeps_freed_memory": keep_freed_memory()}  # as `mmrec run` does (mmrec.core.allocator)
    torch.set_num_threads(1)
    datasets.disable_progress_bars()
    result = {**WORKERS[step](size, work, args), **result_meta}
    result["peak_rss_mib_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (work / f"{step}.json").write_text(json.dumps(result, indent=1))


def _watch(pid: int, limit_kib: int, killed: list[bool], anon_peak_kib: list[int]) -> None:
    """Kill the child if its resident set passes the limit (the machine is shared); track the peak of its anonymous
    part (RssAnon: the process's own memory, without the pages of memory-mapped Arrow files, which the kernel can
    drop and reread), sampled every 0.2 s."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            fields = {line.split(":")[0]: int(line.split()[1]) for line in status.read_text().splitlines()
                      if line.startswith(("VmRSS", "RssAnon"))}
            rss = fields["VmRSS"]
        except (OSError, KeyError, ValueError):
            return
        anon_peak_kib[0] = max(anon_peak_kib[0], fields.get("RssAnon", 0))
        if rss > limit_kib:
            killed.append(True)
            os.kill(pid, 9)
            return
        time.sleep(0.2)


def measure(step: str, size: str, work: Path, args) -> dict:
    """Run one step in a fresh process: its result plus wall time and peak RSS (of that process alone)."""
    command = [sys.executable, __file__, "--worker", step, "--sizes", size, "--work", str(args.work),
               "--sasrec-windows", str(args.sasrec_windows), "--ctr-samples", str(args.ctr_samples),
               "--eval-users", str(args.eval_users)]
    (work / f"{step}.json").unlink(missing_ok=True)
    start = time.perf_counter()
    child = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
    killed: list[bool] = []
    anon_peak = [0]
    watcher = threading.Thread(target=_watch, args=(child.pid, int(args.rss_limit_gb * 2**20), killed, anon_peak),
                               daemon=True)
    watcher.start()
    _, status, usage = os.wait4(child.pid, 0)
    out = {"step": step, "size": size, "interactions": SIZES[size], "process_wall_seconds": time.perf_counter() - start,
           "peak_rss_mib": usage.ru_maxrss / 1024, "exit_status": os.waitstatus_to_exitcode(status)}
    watcher.join()
    out["peak_rss_anon_mib"] = anon_peak[0] / 1024
    if killed:
        out["error"] = f"killed: RSS passed {args.rss_limit_gb} GB"
    elif out["exit_status"] != 0:
        out["error"] = f"exit status {out['exit_status']}"
    else:
        out.update(json.loads((work / f"{step}.json").read_text()))
    return out


def exponents(rows: list[dict], sizes: list[str]) -> None:
    """Growth exponent of each step's main time (and projected epoch) against the previous size."""
    by_key = {(r["size"], r["step"]): r for r in rows}
    for prev, cur in zip(sizes, sizes[1:]):
        for step in STEPS:
            a, b = by_key.get((prev, step)), by_key.get((cur, step))
            if not a or not b or "seconds" not in a or "seconds" not in b:
                continue
            ratio = math.log(SIZES[cur] / SIZES[prev])
            b["exponent_seconds"] = math.log(b["seconds"] / a["seconds"]) / ratio
            b["exponent_rss"] = math.log(b["peak_rss_mib"] / a["peak_rss_mib"]) / ratio
            if "projected_epoch_seconds" in a and "projected_epoch_seconds" in b:
                b["exponent_projected_epoch"] = math.log(b["projected_epoch_seconds"]
                                                         / a["projected_epoch_seconds"]) / ratio


def markdown(rows: list[dict]) -> str:
    lines = ["| size | step | wall s (measured) | phases s | throughput | projected full epoch s | peak RSS MiB | "
             "of it anonymous MiB | exponent (time / projected / RSS) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['step']} | {r['error']} | | | | {r['peak_rss_mib']:.0f} | | |")
            continue
        phases = ", ".join(f"{k} {v:.1f}" for k, v in r["phases"].items())
        tp = r["throughput"]
        proj = f"{r['projected_epoch_seconds']:.0f}" if "projected_epoch_seconds" in r else ""
        exps = " / ".join(f"{r[k]:.2f}" if k in r else "-" for k in
                          ("exponent_seconds", "exponent_projected_epoch", "exponent_rss"))
        lines.append(f"| {r['size']} | {r['step']} | {r.get('seconds', sum(r['phases'].values())):.1f} | {phases} | "
                     f"{tp['value']:,.0f} {tp['unit']} | {proj} | {r['peak_rss_mib']:.0f} | "
                     f"{r.get('peak_rss_anon_mib', float('nan')):.0f} | {exps} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,4M,20M")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmrec-scale"))
    parser.add_argument("--sasrec-windows", type=int, default=256)
    parser.add_argument("--ctr-samples", type=int, default=200_000)
    parser.add_argument("--eval-users", type=int, default=100_000)
    parser.add_argument("--rss-limit-gb", type=float, default=11.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scale.json")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if args.worker:
        run_worker(args.worker, sizes[0], args.work / sizes[0], args)
        return
    rows = []
    for size in sizes:
        work = args.work / size
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "data" / "interactions.parquet").is_file():
            print(json.dumps(measure("generate", size, work, args)), flush=True)
        for step in args.steps.split(","):
            rows.append(measure(step, size, work, args))
            print(json.dumps(rows[-1]), flush=True)
    exponents(rows, sizes)
    meta = {"threads": 1, "loadavg": os.getloadavg(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "sasrec_windows": args.sasrec_windows, "ctr_samples": args.ctr_samples, "eval_users": args.eval_users}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
