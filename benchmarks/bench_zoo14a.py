"""Zoo II, attention-over-history half (issue 14): DIN, TWIN, DARE, DARE with a halved attention dimension, TLSI
and TIM on ml-100k CTR (the fields helper's events, ML100K_CTR_FIELDS.md), and DARE's search time against its
attention dimension. One thread; each cell (model, seed) is one training run, appended to the JSON as it ends, so
a table is built by several short jobs and a finished cell is never rerun.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo14a.py table [--models din,dare] [--seeds 0,1,2]
        [--budget 480]    # rerun until every cell is in the JSON
    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo14a.py search
    python benchmarks/bench_zoo14a.py report        # benchmarks/results/zoo14a.md from the JSON

Setting (the same for every model): ID fields of ML100K_CTR_FIELDS.md (user profile, item, category, genres,
year, when.hour / when.weekday; of the history, the sub-fields each model reads (READS); no frozen content
vectors), embedding 16, Adam 1e-3,
batch 1024, at most ``--max-epochs`` epochs, early stopping on validation AUC (patience 1, FuxiCTR's plateau
rule), the best epoch's weights scored on test: AUC, GAUC (by user), LogLoss, and the AUC of the cold targets
(items with <= 5 training events, EVALUATION.md). DIN, TLSI, TIM read the last 50 behaviours, DARE / TWIN the
last 200 (the paper's long history), each model's own tower defaults.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from mmrec.core.io import write_json, write_text
from mmrec.data.ml100k_ctr import ml100k_ctr_frames
from mmrec.eval.ctr_metrics import ctr_report
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.dare import DARE, DAREConfig, soft_search
from mmrec.models.zoo.din import DIN, DINConfig
from mmrec.models.zoo.tim import TIM, TIMConfig
from mmrec.models.zoo.tlsi import TLSI, TLSIConfig
from mmrec.train.fields import FieldTrainConfig, seed_all, train_fields

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "zoo14a"
CACHE = Path("/tmp/zoo14a-ml100k-ctr")
EMBED = 16
FIELDS = [{"name": n, "type": "categorical"} for n in ("user", "age_band", "gender", "occupation", "zip_prefix",
                                                       "item", "category")] + [
    {"name": "genres", "type": "multi_categorical"}, {"name": "year", "type": "numeric"},
    {"name": "when", "type": "context", "source": "timestamp", "parts": ["hour", "weekday"]},
    {"name": "history", "type": "sequence", "max_len": 200,
     "vocabulary_of": {"hist_item": "item", "hist_category": "category"},
     "fields": [{"name": n, "type": "categorical"} for n in ("hist_item", "hist_category", "hist_hour",
                                                              "hist_weekday")]
     + [{"name": "hist_age", "type": "numeric"}]},
    {"name": "click", "type": "label"}]
MODELS = {
    "din": lambda fmap: DIN(DINConfig(embed_dim=EMBED), fmap),
    "twin": lambda fmap: DARE(DAREConfig(embed_dim=EMBED, decoupled=False), fmap),
    "dare": lambda fmap: DARE(DAREConfig(embed_dim=EMBED), fmap),
    "dare_half": lambda fmap: DARE(DAREConfig(embed_dim=EMBED, attention_dim=EMBED // 2), fmap),
    "tlsi": lambda fmap: TLSI(TLSIConfig(embed_dim=EMBED), fmap),
    "tim": lambda fmap: TIM(TIMConfig(embed_dim=EMBED), fmap),
}
# the history sub-fields each model reads: its feature map declares only those, so the layer embeds nothing unread
READS = {"din": ["hist_item", "hist_category"], "twin": ["hist_item", "hist_category"],
         "dare": ["hist_item", "hist_category"], "dare_half": ["hist_item", "hist_category"],
         "tlsi": ["hist_item", "hist_category", "hist_hour", "hist_weekday", "hist_age"],
         "tim": ["hist_item", "hist_category", "hist_age"]}
# issue 14's claims for these models: (better, worse, kind); "ge" = not worse by more than 2 std
CLAIMS = [("dare", "twin", "gt"), ("dare_half", "dare", "ge"), ("tlsi", "din", "gt"), ("tim", "din", "ge")]


def encoded_data() -> tuple[FeatureMap, dict[str, dict[str, torch.Tensor]], dict[str, pd.DataFrame]]:
    """The feature map fitted on train and the encoded parts, cached under /tmp (encoding costs ~1 min)."""
    frames = ml100k_ctr_frames()
    if not (CACHE / "feature_map.json").is_file():
        fmap = FeatureMap.fit(parse_fields(FIELDS), frame_chunks(frames["train"]))
        CACHE.mkdir(parents=True, exist_ok=True)
        for part, frame in frames.items():
            save_file({k: v.contiguous() for k, v in fmap.encode(frame).items()}, str(CACHE / f"{part}.safetensors"))
        fmap.save(CACHE / "feature_map.json")
    fmap = FeatureMap.load(CACHE / "feature_map.json")
    return fmap, {part: load_file(str(CACHE / f"{part}.safetensors")) for part in frames}, frames


def reading(fmap: FeatureMap, data: dict[str, dict[str, torch.Tensor]], subs: list[str]) -> tuple[FeatureMap, dict]:
    """The feature map with only the history sub-fields ``subs`` (same vocabularies) and the parts without the
    others' tensors: what a model reads, and nothing the feature layer would embed for nothing."""
    spec = fmap.to_dict()
    for entry in spec["entries"]:
        if entry["kind"] == "sequence":
            entry["fields"] = [f for f in entry["fields"] if f["name"].split(".", 1)[1] in subs]
    kept = FeatureMap.from_dict(spec)
    dropped = {f"history.{n.split('.', 1)[1]}" for e in fmap.to_dict()["entries"] if e["kind"] == "sequence"
               for n in (f["name"] for f in e["fields"])} - {f"history.{n}" for n in subs}
    return kept, {part: {k: v for k, v in tensors.items() if k not in dropped} for part, tensors in data.items()}


def recent(data: dict[str, dict[str, torch.Tensor]], max_history: int) -> dict[str, dict[str, torch.Tensor]]:
    """The parts with only the last ``max_history`` history columns: what the model reads anyway (its
    HistoryReader keeps the most recent ``max_history``), so the feature layer embeds no column it drops."""
    return {part: {k: v[:, -max_history:].contiguous() if k.startswith("history.") else v for k, v in tensors.items()}
            for part, tensors in data.items()}


def test_report(model, data: dict[str, torch.Tensor], frames: dict[str, pd.DataFrame]) -> dict:
    """Overall / cold AUC, GAUC, LogLoss of the test part (cold = target item with <= 5 training events)."""
    probs = model.predict({k: v for k, v in data["test"].items() if k != "click"})
    items = pd.Index(pd.concat([frames["train"]["item"], frames["test"]["item"]]).unique())
    counts = np.bincount(items.get_indexer(frames["train"]["item"]), minlength=len(items))
    report = ctr_report(frames["test"]["user"].to_numpy(), items.get_indexer(frames["test"]["item"]),
                        frames["test"]["click"].to_numpy(), probs, counts)
    return {"test": report["overall"], "cold": report["cold"], "warm": report["warm"]}


def run_table(models: list[str], seeds: list[int], max_epochs: int, out: Path, budget: float) -> None:
    """Every missing (model, seed) cell, seeds outermost; a cell starts only if its model's slowest earlier cell
    (any model's, for a model not run yet; the first cell of all always starts) still fits in ``budget`` seconds
    from the job's start."""
    started = time.perf_counter()
    fmap, data, frames = encoded_data()
    results = _load(out)
    table = results.setdefault("table", {})
    for seed in seeds:
        for name in models:
            if str(seed) in table.get(name, {}):
                continue
            known = [c["fit_seconds"] for c in table.get(name, {}).values()]
            known = known or [c["fit_seconds"] for cells in table.values() for c in cells.values()]
            expected = max(known) if known else 0.0
            if time.perf_counter() - started + expected > budget:
                print(f"budget of {budget:.0f} s: not starting {name} seed {seed} (expected {expected:.0f} s)",
                      flush=True)
                continue
            seed_all(seed)
            model_map, model_data = reading(fmap, data, READS[name])
            model = MODELS[name](model_map)
            parts = recent(model_data, model.config.max_history)
            fit = train_fields(model, parts["train"], parts["valid"],
                               FieldTrainConfig(lr=1e-3, batch_size=1024, max_epochs=max_epochs, patience=1,
                                                seed=seed, threads=1))
            cell = {"valid": fit.best_valid, "best_epoch": fit.best_epoch, "epochs": fit.epochs,
                    "fit_seconds": fit.fit_seconds, **test_report(model, parts, frames)}
            table.setdefault(name, {})[str(seed)] = cell
            results["meta"] = _meta()
            write_json(out.with_suffix(".json"), results)
            print(f"{name} seed {seed}: test AUC {cell['test']['AUC']:.4f} GAUC {cell['test']['GAUC']:.4f} "
                  f"LogLoss {cell['test']['LogLoss']:.4f} cold AUC {cell['cold']['AUC']:.4f} "
                  f"({fit.epochs} epochs, {fit.fit_seconds:.0f} s)", flush=True)


def search_seconds(model: DARE, batch: dict[str, torch.Tensor], repeats: int) -> float:
    """Best-of-``repeats`` seconds of DARE's search on ``batch``: the scores and the top-k soft search."""
    best = float("inf")
    with torch.no_grad():
        emb = model.features(batch)
        for _ in range(repeats):
            tick = time.perf_counter()
            query, values, mask, scores = model.search_inputs(batch, emb)
            soft_search(scores, mask, values, model.config.top_k)
            best = min(best, time.perf_counter() - tick)
    return best


def run_search(out: Path, n_rows: int = 4096, repeats: int = 7) -> None:
    """DARE's search time at attention dims 16 / 32 / 64 (and 8), same rows, one invocation: ratios to dim 16."""
    fmap, data, _ = encoded_data()
    fmap, data = reading(fmap, data, READS["dare"])
    results = _load(out)
    batch = {k: v[:n_rows] for k, v in data["test"].items() if k != "click"}
    rows = []
    for dim in (8, 16, 32, 64):
        seed_all(0)
        model = DARE(DAREConfig(embed_dim=EMBED, attention_dim=dim), fmap).eval()
        packed = model.features.pack(batch)
        seconds = search_seconds(model, packed, repeats)
        rows.append({"attention_dim": dim, "seconds": seconds, "rows_per_s": n_rows / seconds})
    base = next(r["seconds"] for r in rows if r["attention_dim"] == 16)
    for row in rows:
        row["time_vs_dim16"] = row["seconds"] / base
        print(f"attention dim {row['attention_dim']:>3}: {row['rows_per_s']:,.0f} rows/s, "
              f"{row['time_vs_dim16']:.2f} x dim 16", flush=True)
    results["search"] = {"rows": n_rows, "history": 200, "top_k": 20, "repeats": repeats, "results": rows}
    results["meta"] = _meta()
    write_json(out.with_suffix(".json"), results)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def verdict(a: list[float], b: list[float], kind: str) -> str:
    """held / not held, > 2 std: gt needs mean(a) − mean(b) > 2 × the larger std; ge needs it > −2 × that std."""
    (ma, sa), (mb, sb) = _mean_std(a), _mean_std(b)
    margin = 2 * max(sa, sb)
    if len(a) < 2 or len(b) < 2:
        return "undecided (fewer than 2 seeds)"
    held = ma - mb > margin if kind == "gt" else ma - mb > -margin
    return f"{'held' if held else 'not held'} (Δ {ma - mb:+.4f}, 2 std {margin:.4f})"


def write_report(out: Path) -> None:
    results = _load(out)
    table = results.get("table", {})
    lines = ["# Zoo II (attention over history) on ml-100k CTR", "",
             "`python benchmarks/bench_zoo14a.py table ...` / `search` (see its docstring for the setting). "
             "Test part, mean ± std over the seeds listed.", "",
             "| model | seeds | AUC | GAUC | LogLoss | cold AUC | epochs |", "|---|---|---|---|---|---|---|"]
    for name in MODELS:
        cells = list(table.get(name, {}).values())
        if not cells:
            continue
        stat = {k: _mean_std([c[part][key] for c in cells])
                for k, (part, key) in {"AUC": ("test", "AUC"), "GAUC": ("test", "GAUC"),
                                       "LogLoss": ("test", "LogLoss"), "cold": ("cold", "AUC")}.items()}
        cols = " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in stat.values())
        lines.append(f"| {name} | {','.join(table[name])} | {cols} | {np.mean([c['epochs'] for c in cells]):.1f} |")
    lines += ["", "| claim (test AUC) | verdict |", "|---|---|"]
    for better, worse, kind in CLAIMS:
        if better in table and worse in table:
            a = [c["test"]["AUC"] for c in table[better].values()]
            b = [c["test"]["AUC"] for c in table[worse].values()]
            sign = ">" if kind == "gt" else "≥"
            lines.append(f"| {better} {sign} {worse} | {verdict(a, b, kind)} |")
    if "search" in results:
        s = results["search"]
        lines += ["", f"DARE search (scores + top-{s['top_k']} soft search, history {s['history']}, "
                  f"{s['rows']} test rows, best of {s['repeats']}, one thread):", "",
                  "| attention dim | rows/s | time vs dim 16 |", "|---|---|---|"]
        lines += [f"| {r['attention_dim']} | {r['rows_per_s']:,.0f} | {r['time_vs_dim16']:.2f} |" for r in s["results"]]
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def _load(out: Path) -> dict:
    path = out.with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {}


def _meta() -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "machine": platform.machine()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["table", "search", "report"])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-epochs", type=int, default=6)
    ap.add_argument("--budget", type=float, default=480.0,
                    help="seconds: a cell starts only if it should end within them")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.what == "table":
        run_table(args.models.split(","), [int(s) for s in args.seeds.split(",")], args.max_epochs, args.out,
                  args.budget)
    elif args.what == "search":
        run_search(args.out)
    write_report(args.out)


if __name__ == "__main__":
    main()
