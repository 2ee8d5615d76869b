"""SASRec: mmrec against RecBole 1.2.1 on ml-100k leave-one-out, same settings, same evaluator, one invocation.

Both libraries train SASRec (64-d, 2 blocks, 2 heads, max length 50, dropout 0.2, full-softmax CE, no negative
sampling; RecBole at lr 1e-3, ours with its own training settings below) and after every epoch are scored by
mmrec's full-ranking evaluator on the *same* validation cases (history masked), so "RecBole's best validation
NDCG@10" and ours are measured identically. RecBole's own validation (its protocol: no history masking) is
recorded too. Wall time per library counts its training and its
own per-epoch validation, not the shared evaluator's extra pass over RecBole's model.

Each library runs in its own process (RecBole in its own virtualenv, EVALUATION.md) with the same environment:
thread count, ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000``, anomaly detection off. The two
processes run at the same time, so load from anything else on a shared machine falls on both alike. Ours trains
(every position's next item, over windows of 51 items 25 apart, batch 64, lr 0.002: its defaults here, tuned
for time to quality on seeds 3 and 4 only) to its own early stopping; its time to RecBole's best validation
NDCG@10 is read off its learning curve.
RecBole trains one next-item target per sequence prefix (its protocol), with batch 256 by default: on CPU that
reaches its plateau in far fewer epochs than its default 2048, which favours RecBole in time-to-quality.
``--ours-precision fp32,bf16`` trains ours once per precision (``train.precision``; bf16 = autocast, useful on
CPUs with AMX), one after the other on ours' core while RecBole trains, and reports each one's time.

    python benchmarks/bench_sasrec_vs_recbole.py [--recbole-python /tmp/recbole-venv/bin/python]
        [--threads 1] [--recbole-epochs 30] [--recbole-patience 3] [--recbole-budget-s 3600] [--seed 0]
        [--ours-precision fp32[,bf16]]

Prints a table and writes ``benchmarks/results/sasrec_vs_recbole.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {"dim": 64, "n_layers": 2, "n_heads": 2, "max_len": 50, "dropout": 0.2, "lr": 1e-3}
ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}


# ---------------------------------------------------------------- shared: the split and the evaluation cases

def prepare(workdir: Path, seed: int) -> None:
    """Build mmrec's leave-one-out split; write the cases (npz) and RecBole's atomic .inter file."""
    from mmrec.data import load_tables
    from mmrec.recipe import load_recipe
    from mmrec.stages.prepare import build_splits

    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", ["split.kinds=[leave-one-out]", f"seed={seed}"])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["leave-one-out"]
    arrays = {"item_tokens": np.asarray(tables.items["item_id"], dtype=str)}
    for part in ("valid", "test"):
        cases = getattr(split, part)
        hist = cases.histories
        known = [split.train[u] for u in cases.users]
        arrays[f"{part}_hist"] = np.concatenate(hist)
        arrays[f"{part}_hist_len"] = np.array([len(h) for h in hist])
        arrays[f"{part}_known"] = np.concatenate(known)
        arrays[f"{part}_known_len"] = np.array([len(k) for k in known])
        arrays[f"{part}_targets"] = cases.targets
    np.savez(workdir / "cases.npz", **arrays)
    folder = workdir / "ml-100k"
    folder.mkdir(exist_ok=True)
    raw = (Path(os.environ["MMREC_DATA"]) / "ml-100k" / "u.data").read_text()
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + raw)
    (workdir / "split.json").write_text(json.dumps(split.summary()))


def load_cases(workdir: Path, part: str, max_len: int | None):
    from mmrec.eval.metrics import RankingCases

    z = np.load(workdir / "cases.npz")
    hist = np.split(z[f"{part}_hist"], np.cumsum(z[f"{part}_hist_len"])[:-1])
    known = np.split(z[f"{part}_known"], np.cumsum(z[f"{part}_known_len"])[:-1])
    return RankingCases.build(hist, z[f"{part}_targets"], known, max_len=max_len), z["item_tokens"]


def ndcg10(score_fn, cases) -> float:
    from mmrec.eval.metrics import metrics_from_ranks, rank_all

    return metrics_from_ranks(rank_all(score_fn, cases, 1024), [10])["NDCG@10"]


# ---------------------------------------------------------------- worker: mmrec

def ours_worker(workdir: Path, args: argparse.Namespace) -> dict:
    import torch

    from mmrec import catalogue
    from mmrec.eval.config import EvalConfig
    from mmrec.eval.evaluate import evaluate
    from mmrec.models.base import ModelData
    from mmrec.models.sasrec import SASRecConfig
    from mmrec.train.common import seed_everything
    from mmrec.train.config import TrainConfig
    from mmrec.train.sequential import SequentialTrainer

    torch.set_num_threads(args.threads)
    valid, tokens = load_cases(workdir, "valid", None)
    test, _ = load_cases(workdir, "test", None)
    n_items = len(tokens)
    from mmrec.data import load_tables
    from mmrec.recipe import load_recipe
    from mmrec.stages.prepare import build_splits

    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml", ["split.kinds=[leave-one-out]", f"seed={args.seed}"])
    tables = load_tables(cfg.data)
    split = build_splits(tables, cfg)["leave-one-out"]
    s = SETTINGS
    seed_everything(args.seed)  # as train_seq does: the same seed gives the same initial weights and curve
    model = catalogue.build("sasrec", SASRecConfig(dim=s["dim"], n_layers=s["n_layers"], n_heads=s["n_heads"],
                                                  max_len=s["max_len"], dropout=s["dropout"]),
                                     ModelData(n_items, split.train))
    train_cfg = TrainConfig(models={}, epochs=args.ours_epochs, batch_size=args.ours_batch_size, lr=args.ours_lr,
                            lr_schedule=args.ours_lr_schedule, warmup_epochs=args.ours_warmup_epochs,
                            patience=args.patience, loss="ce", window_stride=args.ours_window_stride, progress=False,
                            precision=args.ours_precision)
    trainer = SequentialTrainer(model, split.train, valid, train_cfg, seed=args.seed, stop_at=args.ours_stop_at)
    trainer.fit()
    epochs = [{"epoch": h.epoch, "valid_ndcg10": h.valid_ndcg10, "wall_s": h.wall_seconds,
               "train_s": h.train_seconds} for h in trainer.history]
    counts = split.item_train_counts()
    data = ModelData(n_items, split.train, list(tables.items["text"]))
    eval_times, settings = {}, EvalConfig(precision=args.ours_precision)
    for name in ("popularity", "content_knn", "sasrec", "gru4rec"):
        m = model if name == "sasrec" else catalogue.build(name, catalogue.lookup(name).config_class(), data)
        times = [evaluate(m, test, counts, settings)["eval_seconds"] for _ in range(3)]
        eval_times[name] = float(np.median(times))
    return {"epochs": epochs, "eval_seconds_943_users": eval_times, "precision": args.ours_precision,
            "test_NDCG@10": evaluate(model, test, counts, settings)["overall"]["NDCG@10"]}


# ---------------------------------------------------------------- worker: RecBole

class _Budget(Exception):
    pass


def recbole_worker(workdir: Path, args: argparse.Namespace) -> dict:
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec as RBSASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    torch.autograd.set_detect_anomaly(False)  # RecBole's SINE module turns it on at import
    os.chdir(workdir)  # RecBole writes log/ and log_tensorboard/ into the working directory
    torch.set_num_threads(args.threads)
    s = SETTINGS
    config = Config(model="SASRec", dataset="ml-100k", config_dict={
        "data_path": str(workdir), "checkpoint_dir": str(workdir / "recbole-ckpt"),
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": s["max_len"], "hidden_size": s["dim"], "inner_size": 4 * s["dim"],
        "n_layers": s["n_layers"], "n_heads": s["n_heads"], "hidden_dropout_prob": s["dropout"],
        "attn_dropout_prob": s["dropout"], "loss_type": "CE", "train_neg_sample_args": None,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG", "Hit"], "topk": [10], "valid_metric": "NDCG@10", "learning_rate": s["lr"],
        "epochs": args.recbole_epochs, "stopping_step": args.recbole_patience, "device": "cpu", "use_gpu": False,
        "seed": args.seed, "reproducibility": True, "show_progress": False, "log_wandb": False,
        "train_batch_size": args.recbole_batch_size, "eval_batch_size": 4096,
    })
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(args.threads)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = RBSASRec(config, train_data.dataset)
    trainer = Trainer(config, model)

    valid, tokens = load_cases(workdir, "valid", s["max_len"])
    token2id = dataset.field2token_id["item_id"]
    ours_to_rb = torch.tensor([0] + [token2id[t] for t in tokens], dtype=torch.long)

    def score(histories: torch.Tensor) -> torch.Tensor:
        lengths = (histories > 0).sum(1).clamp(min=1)
        width = histories.shape[1]
        cols = torch.arange(width)
        right = histories.gather(1, (cols[None, :] + (width - lengths)[:, None]) % width)  # RecBole pads right
        user = model.forward(ours_to_rb[right], lengths)
        return (user @ model.item_embedding.weight.T)[:, ours_to_rb]

    log: list[dict] = []
    excluded = 0.0  # seconds spent in our extra evaluation of RecBole's model, not charged to RecBole
    start = time.perf_counter()
    steps_per_epoch = len(train_data)
    probe_every = max(1, steps_per_epoch // args.recbole_probes_per_epoch)
    step = 0

    def probe(recbole_valid: float | None) -> None:
        """Score RecBole's current weights with mmrec's evaluator; the time it takes is not charged to RecBole."""
        nonlocal excluded
        tick = time.perf_counter()
        wall = tick - start - excluded
        was_training = model.training
        model.eval()
        with torch.no_grad():
            ours = ndcg10(score, valid)
        model.train(was_training)
        excluded += time.perf_counter() - tick
        log.append({"epoch": step / steps_per_epoch, "step": step, "valid_ndcg10": ours,
                    "recbole_valid_ndcg10": recbole_valid, "wall_s": wall})
        with open(workdir / "recbole-curve.jsonl", "a") as fh:  # survives the worker being killed (OOM)
            fh.write(json.dumps({**log[-1], "steps_per_epoch": steps_per_epoch}) + "\n")
        print(f"recbole step {step} (epoch {step / steps_per_epoch:.2f}): ndcg10 (mmrec evaluator) {ours:.4f}"
              + (f", RecBole's own {recbole_valid:.4f}" if recbole_valid is not None else "")
              + f", wall {wall:.0f}s", flush=True)
        if wall > args.recbole_budget_s:
            raise _Budget

    calculate_loss = model.calculate_loss

    def counted_loss(interaction):
        # RecBole validates once per epoch only; probing every few optimiser steps gives a learning curve in
        # wall time fine enough to compare with, without touching its training loop
        nonlocal step
        if step and step % probe_every == 0 and step % steps_per_epoch:
            probe(None)
        step += 1
        return calculate_loss(interaction)

    model.calculate_loss = counted_loss

    def callback(epoch: int, valid_score: float) -> None:
        probe(float(valid_score))

    try:
        trainer.fit(train_data, valid_data, verbose=False, saved=False, show_progress=False, callback_fn=callback)
        stopped = "early stopping or epoch cap"
    except _Budget:
        stopped = f"wall budget of {args.recbole_budget_s}s"
    tick = time.perf_counter()
    trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    rb_eval = time.perf_counter() - tick
    return {"epochs": log, "stopped_by": stopped, "recbole_full_eval_seconds_943_users": rb_eval,
            "n_train_samples": len(train_data.dataset), "steps_per_epoch": steps_per_epoch, "steps_run": step}


# ---------------------------------------------------------------- driver

def time_to_reach(epochs: list[dict], level: float) -> float | None:
    for e in epochs:
        if e["valid_ndcg10"] >= level:
            return e["wall_s"]
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recbole-python", default="/tmp/recbole-venv/bin/python")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--recbole-epochs", type=int, default=30)
    p.add_argument("--recbole-patience", type=int, default=3, help="RecBole's stopping_step, in epochs")
    p.add_argument("--recbole-budget-s", type=float, default=3600)
    p.add_argument("--recbole-batch-size", type=int, default=256)
    p.add_argument("--recbole-probes-per-epoch", type=int, default=2)
    p.add_argument("--ours-epochs", type=int, default=200)
    # tuned on seeds 3 and 4 only: results/sasrec_window_tuning_s12.json
    p.add_argument("--ours-batch-size", type=int, default=64)
    p.add_argument("--ours-lr", type=float, default=0.002)
    p.add_argument("--ours-lr-schedule", default="constant", help="train.lr_schedule: constant, linear or cosine "
                   "(decay to 0 at the last of --ours-epochs)")
    p.add_argument("--ours-warmup-epochs", type=float, default=0.0)
    p.add_argument("--ours-window-stride", type=int, default=25)
    p.add_argument("--ours-precision", default="fp32", help="fp32, bf16, or both: fp32,bf16 (one run each)")
    p.add_argument("--ours-stop-at", type=float, default=None,
                   help="stop ours at this validation NDCG@10 (default: train to early stopping)")
    p.add_argument("--worker", choices=["ours", "recbole"])
    p.add_argument("--workdir", type=Path)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sasrec_vs_recbole.json")
    args = p.parse_args()

    if args.worker:
        sys.path.insert(0, str(REPO))
        result = (ours_worker if args.worker == "ours" else recbole_worker)(args.workdir, args)
        name = args.worker if args.worker == "recbole" else f"ours-{args.ours_precision}"
        (args.workdir / f"{name}.json").write_text(json.dumps(result))
        return

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("MMREC_DATA", str(REPO.parent / "shared" / "datasets"))
    env = {**os.environ, **ENV, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    common = ["--threads", str(args.threads), "--seed", str(args.seed), "--patience", str(args.patience)]
    with tempfile.TemporaryDirectory(prefix="bench-sasrec-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, args.seed)
        rb_cmd = [args.recbole_python, __file__, "--worker", "recbole", "--workdir", tmp, *common,
                  "--recbole-epochs", str(args.recbole_epochs), "--recbole-budget-s", str(args.recbole_budget_s),
                  "--recbole-batch-size", str(args.recbole_batch_size),
                  "--recbole-patience", str(args.recbole_patience),
                  "--recbole-probes-per-epoch", str(args.recbole_probes_per_epoch)]
        precisions = args.ours_precision.split(",")
        ours_cmd = [sys.executable, __file__, "--worker", "ours", "--workdir", tmp, *common,
                    "--ours-epochs", str(args.ours_epochs), "--ours-batch-size", str(args.ours_batch_size),
                    "--ours-lr", str(args.ours_lr), "--ours-window-stride", str(args.ours_window_stride),
                    "--ours-lr-schedule", args.ours_lr_schedule, "--ours-warmup-epochs", str(args.ours_warmup_epochs)]
        if args.ours_stop_at is not None:
            ours_cmd += ["--ours-stop-at", str(args.ours_stop_at)]
        # both libraries train at the same time, one thread each: whatever else loads the shared machine loads both
        rb_proc = subprocess.Popen(rb_cmd, env=env)
        for precision in precisions:  # one after another on ours' core
            ours_status = subprocess.run([*ours_cmd, "--ours-precision", precision], env=env).returncode
            if ours_status:
                rb_proc.kill()
                raise SystemExit(f"mmrec worker ({precision}) failed with status {ours_status}")
        rb_status = rb_proc.wait()
        if rb_status == 0:
            rb = json.loads((workdir / "recbole.json").read_text())
        else:  # killed (the shared machine's OOM killer): keep the learning curve it logged so far
            curve = [json.loads(line) for line in (workdir / "recbole-curve.jsonl").read_text().splitlines()]
            rb = {"epochs": curve, "stopped_by": f"worker exited with status {rb_status} (killed)",
                  "recbole_full_eval_seconds_943_users": None, "steps_per_epoch": curve[-1]["steps_per_epoch"],
                  "steps_run": curve[-1]["step"]}
        rb_best = max(rb["epochs"], key=lambda e: e["valid_ndcg10"])
        runs = {p: json.loads((workdir / f"ours-{p}.json").read_text()) for p in precisions}
        split = json.loads((workdir / "split.json").read_text())

    by_precision = {}
    for precision, run in runs.items():
        t = time_to_reach(run["epochs"], rb_best["valid_ndcg10"])
        by_precision[precision] = {
            "best_valid_ndcg10": max(e["valid_ndcg10"] for e in run["epochs"]), "seconds_to_recbole_best": t,
            "speedup_to_recbole_best": (rb_best["wall_s"] / t) if t else None, "test_ndcg10": run["test_NDCG@10"],
            "eval_seconds_943_users": run["eval_seconds_943_users"], "epochs": run["epochs"]}
    ours = runs[precisions[0]]  # the first precision fills the single-run keys below
    ours_best = max(ours["epochs"], key=lambda e: e["valid_ndcg10"])
    t_ours = time_to_reach(ours["epochs"], rb_best["valid_ndcg10"])
    summary = {
        "settings": SETTINGS, "ours_precision": precisions[0], "ours_by_precision": by_precision,
        "ours_lr": args.ours_lr, "ours_lr_schedule": args.ours_lr_schedule,
        "ours_warmup_epochs": args.ours_warmup_epochs, "ours_epochs_budget": args.ours_epochs,
        "ours_batch_size": args.ours_batch_size,
        "ours_window_stride": args.ours_window_stride,
        "recbole_batch_size": args.recbole_batch_size, "threads": args.threads, "seed": args.seed, "split": split,
        "recbole_best_valid_ndcg10": rb_best["valid_ndcg10"], "recbole_best_epoch": rb_best["epoch"],
        "recbole_seconds_to_best": rb_best["wall_s"], "recbole_stopped_by": rb["stopped_by"],
        "recbole_steps_run": rb["steps_run"], "recbole_steps_per_epoch": rb["steps_per_epoch"],
        "ours_best_valid_ndcg10": ours_best["valid_ndcg10"], "ours_best_epoch": ours_best["epoch"],
        "ours_seconds_to_recbole_best": t_ours,
        "speedup_to_recbole_best": (rb_best["wall_s"] / t_ours) if t_ours else None,
        "ours_test_ndcg10": ours["test_NDCG@10"],
        "eval_seconds_943_users": ours["eval_seconds_943_users"],
        "recbole_full_eval_seconds_943_users": rb["recbole_full_eval_seconds_943_users"],
        "recbole_epochs": rb["epochs"], "ours_epochs": ours["epochs"],
        "environment": {**ENV, "OMP_NUM_THREADS": str(args.threads), "cpus": os.cpu_count(),
                        "loadavg_at_end": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'':34}{'RecBole 1.2.1':>16}{'mmrec':>12}")
    print(f"{'best valid NDCG@10 (same eval)':34}{rb_best['valid_ndcg10']:>16.4f}{ours_best['valid_ndcg10']:>12.4f}")
    print(f"{'epochs run':34}{rb['steps_run'] / rb['steps_per_epoch']:>16.2f}{len(ours['epochs']):>12}")
    print(f"{'s/epoch':34}{rb['epochs'][-1]['wall_s'] * rb['steps_per_epoch'] / max(rb['steps_run'], 1):>16.1f}"
          f"{np.median(np.diff([0] + [e['wall_s'] for e in ours['epochs']])):>12.1f}")
    reach = f"{t_ours:.1f}" if t_ours else "not reached"
    print(f"{'s to RecBole best valid NDCG@10':34}{rb_best['wall_s']:>16.1f}{reach:>12}")
    if t_ours:
        print(f"{'speed-up to RecBole best':34}{'':>16}{rb_best['wall_s'] / t_ours:>11.1f}x")
    rb_eval = rb["recbole_full_eval_seconds_943_users"]
    print(f"{'full-ranking eval, 943 users (s)':34}{(f'{rb_eval:.3f}' if rb_eval else 'n/a'):>16}"
          f"{ours['eval_seconds_943_users']['sasrec']:>12.3f}")
    for name, sec in ours["eval_seconds_943_users"].items():
        print(f"  mmrec {name:27}{'':>16}{sec:>12.3f}")
    for precision, row in by_precision.items():
        t = row["seconds_to_recbole_best"]
        print(f"mmrec {precision}: best {row['best_valid_ndcg10']:.4f}, "
              + (f"{t:.1f} s to RecBole's best ({row['speedup_to_recbole_best']:.1f}x)" if t else "RecBole's best not reached")
              + f", test NDCG@10 {row['test_ndcg10']:.4f}, SASRec eval {row['eval_seconds_943_users']['sasrec']:.3f} s")
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
