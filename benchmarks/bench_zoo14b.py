"""Zoo II (issue 14), DPN / TARQ / DFGR on ml-100k CTR: test AUC / GAUC / LogLoss and cold AUC per seed beside
DIN, two-tower and full target attention, each claim held / not held (> 2 std), plus the cost figures.

Events: ``mmrec.data.ml100k_ctr`` (rating >= 4 = click, per-user time split), the recipe's ``features`` without the
image / llm vectors (CPU budget), text vectors from /work/wt/content-ml100k, history capped at ``--history``
behaviours. Settings (every model): embedding 16, MLP 256 x 3 (dropout 0.2), batch 1024, lr 1e-3, early stopping on
validation AUC (patience 1, at most ``--epochs`` epochs), one thread. Cells (model, seed) are resumable: each
writes ``benchmarks/results/zoo14b_cells/<model>_s<seed>.json`` and is skipped when present.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo14b.py quality --models zoo_din,zoo_dpn --seeds 0
    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo14b.py cost
    python benchmarks/bench_zoo14b.py table        # zoo14b.md / .json from the cells and the cost figures
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from mmrec import catalogue
from mmrec.core.io import write_json, write_text
from mmrec.data.download import locate
from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.data.movielens import load_movielens_100k
from mmrec.eval.ctr_metrics import ctr_report
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.fields.encoding import frozen_tables
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CELLS = RESULTS / "zoo14b_cells"
CONTENT = Path("/work/wt/content-ml100k")
DEEP = {"embed_dim": 16, "hidden_units": [256, 256, 256], "dropout": 0.2}
ITEM_SIDE = ["item", "category", "genres", "year", "text"]
OVERRIDES = {  # model / variant -> config overrides beyond DEEP
    "zoo_tarq": {"item_fields": ITEM_SIDE}, "zoo_tarq_full_ta": {"item_fields": ITEM_SIDE},
    "zoo_tarq_two_tower": {"item_fields": ITEM_SIDE},
}
MODELS = ["zoo_din", "zoo_dpn", "zoo_dpn_no_pretrain", "zoo_tarq_two_tower", "zoo_tarq", "zoo_tarq_full_ta",
          "zoo_dfgr", "zoo_interleaved"]
CLAIMS = [("zoo_din", "<", "zoo_dpn", "DPN > DIN"), ("zoo_dpn_no_pretrain", "<", "zoo_dpn", "pre-training helps DPN"),
          ("zoo_tarq_two_tower", "<", "zoo_tarq", "two-tower < TARQ"),
          ("zoo_tarq", "≤", "zoo_tarq_full_ta", "TARQ ≤ full TA"),
          ("zoo_interleaved", "≤", "zoo_dfgr", "DFGR ≥ interleaved")]


def load_data(history: int):
    """(feature map, {split: tensors}, frozen tables, item train counts) of ml-100k CTR."""
    spec = yaml.safe_load((REPO / "recipes" / "ml-100k-ctr.yaml").read_text())["features"]
    spec = [f for f in spec if f["name"] not in ("image", "llm")]
    for f in spec:
        if f["name"] == "history":
            f["max_len"] = history
    fields = parse_fields(spec, "recipes/ml-100k-ctr.yaml: features")
    tables = load_movielens_100k(locate("ml-100k"), text_fields=[], with_images=False)
    frames = ml100k_ctr_frames(tables, max_history=history)
    embeddings, pretrained = frozen_tables(fields, CONTENT, tables)
    fmap = FeatureMap.fit(fields, frame_chunks(frames["train"]), embeddings)
    data = {split: fmap.encode(frame) for split, frame in frames.items()}
    counts = torch.bincount(data["train"]["item"], minlength=fmap.entry("item").size).numpy()
    return fmap, data, pretrained, counts


def build(name: str, fmap, pretrained):
    spec, variant = catalogue.resolve(name)
    config = catalogue.model_config(name, {**DEEP, **OVERRIDES.get(name, {})}, f"bench.{name}")
    return spec, spec.model_class(config, fmap, pretrained)


def run_cell(name: str, seed: int, fmap, data, pretrained, counts, epochs: int) -> dict:
    seed_everything(seed)
    spec, model = build(name, fmap, pretrained)
    config = FieldTrainConfig(lr=1e-3, batch_size=1024, max_epochs=epochs, patience=1, seed=seed, threads=1)
    result = spec.trainer(model, data["train"], data["valid"], config)
    test = data["test"]
    probs = model.predict({k: v for k, v in test.items() if k != "click"})
    report = ctr_report(test["user"].numpy(), test["item"].numpy(), test["click"].numpy(), probs, counts)
    out = {"model": name, "seed": seed, "epochs": result.epochs, "best_epoch": result.best_epoch,
           "train_seconds": result.train_seconds, "valid_AUC": result.best_valid["AUC"],
           "AUC": report["overall"]["AUC"], "GAUC": report["overall"]["GAUC"],
           "LogLoss": report["overall"]["LogLoss"], "cold_AUC": report["cold"]["AUC"], "cold_n": report["cold"]["n"]}
    if name == "zoo_tarq":
        out["code_usage"] = model.code_usage({k: v for k, v in data["train"].items() if k != "click"})
    return out


def quality(args) -> None:
    torch.set_num_threads(1)
    fmap, data, pretrained, counts = load_data(args.history)
    for seed in args.seeds:
        for name in args.models.split(","):
            path = CELLS / f"{name}_s{seed}.json"
            if path.exists():
                continue
            cell = run_cell(name, seed, fmap, data, pretrained, counts, args.epochs)
            write_json(path, cell)
            print(json.dumps({k: v for k, v in cell.items() if k != "code_usage"}), flush=True)


def _rate(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return repeats / (time.perf_counter() - start)


def cost(args) -> None:
    """Candidates scored / s (pre-ranking: 16 users x 4096 candidates, user side included) for two-tower, TARQ,
    full TA; DFGR vs
    interleaved training samples / s (forward + backward, batch 256) at history lengths 20 / 50, one thread."""
    torch.set_num_threads(1)
    fmap, data, pretrained, counts = load_data(args.history)
    train = {k: v for k, v in data["train"].items() if k != "click"}
    users = {k: v[:16] for k, v in train.items()}
    items = {k: v[:4096] for k, v in train.items()}
    out: dict = {"scoring": {}, "training": {}}
    for name in ("zoo_tarq_two_tower", "zoo_tarq", "zoo_tarq_full_ta"):
        _, model = build(name, fmap, pretrained)
        model.eval()
        rate = _rate(lambda: model.score_candidates(users, items), 3)
        out["scoring"][name] = {"candidates_per_s": rate * 16 * 4096}
    labels = data["train"]["click"][:256].float()
    for history in (20, 50):
        for name in ("zoo_interleaved", "zoo_dfgr"):
            spec, variant = catalogue.resolve(name)
            config = catalogue.model_config(name, {**DEEP, "max_history": history}, f"bench.{name}")
            model = spec.model_class(config, fmap, pretrained).train()
            batch = model.features.pack({k: v[:256] for k, v in train.items()})
            optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step():
                loss = model.loss(model(batch), labels)["loss"]
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            out["training"][f"{name}@{history}"] = {"samples_per_s": _rate(step, 5) * 256}
    write_json(RESULTS / "zoo14b_cost.json", out)
    print(json.dumps(out, indent=1))


def _verdict(a: list[float], relation: str, b: list[float]) -> str:
    """'<': b above a by > 2 std; '≤': b not below a by > 2 std (std = the larger of the two; 0 with one seed)."""
    gap, spread = np.mean(b) - np.mean(a), 2 * max(np.std(a), np.std(b))
    held = gap > spread if relation == "<" else gap >= -spread
    return ("held" if held else "not held") + ("" if min(len(a), len(b)) > 1 else " (1 seed: direction only)")


def table(args) -> None:
    cells: dict[str, list[dict]] = {}
    for path in sorted(CELLS.glob("*.json")):
        cell = json.loads(path.read_text())
        cells.setdefault(cell["model"], []).append(cell)
    rows, lines = {}, ["| model | seeds | AUC | GAUC | LogLoss | cold AUC | epochs | train s |", "|---|---|---|---|---|---|---|---|"]
    for name in [m for m in MODELS if m in cells]:
        runs = cells[name]
        stats = {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs])))
                 for k in ("AUC", "GAUC", "LogLoss", "cold_AUC", "train_seconds")}
        rows[name] = {"seeds": [r["seed"] for r in runs], **{k: {"mean": m, "std": s} for k, (m, s) in stats.items()},
                      "runs": runs}
        fmt = lambda k: f"{stats[k][0]:.4f} ± {stats[k][1]:.4f}"  # noqa: E731
        lines.append(f"| {name} | {len(runs)} | {fmt('AUC')} | {fmt('GAUC')} | {fmt('LogLoss')} | {fmt('cold_AUC')} "
                     f"| {np.mean([r['epochs'] for r in runs]):.1f} | {stats['train_seconds'][0]:.0f} |")
    claims = []
    for a, relation, b, text in CLAIMS:
        if a in cells and b in cells:
            verdict = _verdict([r["AUC"] for r in cells[a]], relation, [r["AUC"] for r in cells[b]])
            claims.append({"claim": text, "left": a, "relation": relation, "right": b, "verdict": verdict})
            lines.append("") if len(claims) == 1 else None
            lines.append(f"- {text}: {verdict} ({a} {rows[a]['AUC']['mean']:.4f} vs {b} {rows[b]['AUC']['mean']:.4f})")
    cost_path = RESULTS / "zoo14b_cost.json"
    cost_figures = json.loads(cost_path.read_text()) if cost_path.exists() else {}
    if cost_figures:
        lines += ["", "| cost | value |", "|---|---|"]
        lines += [f"| {k} candidates / s | {v['candidates_per_s']:.0f} |" for k, v in cost_figures["scoring"].items()]
        lines += [f"| {k} training samples / s | {v['samples_per_s']:.0f} |" for k, v in cost_figures["training"].items()]
    write_json(RESULTS / "zoo14b.json", {"models": rows, "claims": claims, "cost": cost_figures})
    write_text(RESULTS / "zoo14b.md", "# Zoo II (DPN, TARQ, DFGR) on ml-100k CTR\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["quality", "cost", "table"])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    {"quality": quality, "cost": cost, "table": table}[args.part](args)


if __name__ == "__main__":
    main()
