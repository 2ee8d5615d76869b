"""Zoo I on Frappe, 3 seeds: APG-DCNv2, PFL (chosen on validation among IPA choices), DHEN and its single modules,
Multi-Embedding against single embedding at equal total dimension (IA per model), and BCE against Combined-Pair at
pos_weight 0.1 on DCNv2, beside the foundation's baselines; each issue-13 claim marked held / not held (> 2 std);
a throughput row per model and APG-DCNv2 against DCNv2 (time and peak RSS).

Resumable cells: every finished run is appended to ``<out>.json`` (atomically) and skipped when seen again, so
the table grows over several short jobs; ``--budget`` stops starting new runs after that many seconds. The
baselines' rows (LR .. DCNv2, same files, seeds and settings) are read from ``--reuse`` (bench_frappe.py's JSON),
not trained twice. PFL is the IPA cell with the best seed-0 validation AUC (its choice then becomes PFLConfig's
defaults). One thread.

    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo13.py --cells apg_dcnv2,dhen [--seeds 0 1 2]
        [--budget 540] [--splits /tmp/mmrec-frappe/seed0] [--reuse benchmarks/results/frappe.json]
        [--out benchmarks/results/zoo13]
    flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo13.py --throughput   # speed / memory rows, ~3 min
    python benchmarks/bench_zoo13.py --report         # rebuild zoo13.md from the runs so far
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mmrec import catalogue
from mmrec.core.io import write_json, write_text
from mmrec.eval.embedding_analysis import information_abundance, singular_values
from mmrec.train.fields import FieldTrainConfig, evaluate, seed_all, train_fields

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_frappe import DEEP, frappe_data  # noqa: E402  (benchmarks/ is not a package)
from memory import PeakRSS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = {spec.name.removeprefix("zoo_"): (spec.model_class, spec.config_class) for spec in catalogue.rows("fields")}
# the sweep's shared net (ME and single alike): the repo's 10 per set and dropout 0.2, a (200, 200) tower and 2
# cross layers instead of (400, 400) and 4 (CPU budget), no embedding regulariser (MEConfig refuses it for M > 1)
ME = {"embedding_regularizer": 0.0, "hidden_units": [200, 200], "cross_layers": 2}
IPA_CHOICES = {  # candidates for PFL, each beside the DEEP MLP with a linear head (DCNv2 itself is the baseline)
    "ipa_naive_pairs": {"interaction": "naive", "pooling": "pairs", "aggregator": "last"},
    "ipa_diagonal_pairs": {"interaction": "diagonal", "pooling": "pairs", "aggregator": "last"},
    "ipa_projected_pairs": {"interaction": "projected", "pooling": "pairs", "aggregator": "last"},
    "ipa_diagonal_cross": {"interaction": "diagonal", "pooling": "cross", "aggregator": "concat", "layers": 3},
    "ipa_projected_cross": {"interaction": "projected", "pooling": "cross", "aggregator": "concat", "layers": 3},
}
PW = {"pos_weight": 0.1}
# cell -> (model, model overrides, trainer overrides)
CELLS: dict[str, tuple[str, dict, dict]] = {
    "apg_dcnv2": ("apg_dcnv2", {**DEEP, "cross_layers": 3}, {}),
    **{name: ("ipa", {**DEEP, **choice}, {}) for name, choice in IPA_CHOICES.items()},
    "pfl": ("pfl", DEEP, {}),  # its choice is filled in from the IPA cells (see pfl_choice)
    "dhen": ("dhen", {**DEEP, "modules": ["dcn", "dot"], "layers": 2}, {}),
    "dhen_dcn": ("dhen", {**DEEP, "modules": ["dcn"], "layers": 2}, {}),
    "dhen_dot": ("dhen", {**DEEP, "modules": ["dot"], "layers": 2}, {}),
    "dcnv2_bce_pw0.1": ("dcnv2", {**DEEP, "cross_layers": 3}, {**PW, "loss": "bce"}),
    "dcnv2_pair_pw0.1": ("dcnv2", {**DEEP, "cross_layers": 3}, {**PW, "loss": "combined_pair"}),
    "dcnv2_jrc_pw0.1": ("dcnv2", {**DEEP, "cross_layers": 3, "two_logit": True}, {**PW, "loss": "jrc", "alpha": 0.4}),
    **{f"me_{m}x10": ("me_dcnv2", {**ME, "num_sets": m, "embed_dim": 10}, {}) for m in (2, 3, 4, 10)},
    **{f"single_{d}": ("me_dcnv2", {**ME, "num_sets": 1, "embed_dim": d}, {}) for d in (20, 30, 40, 100)},
    "me_dnn_2x10": ("me_dnn", {**ME, "num_sets": 2}, {}),
}
SWEEP = [(20, "me_2x10", "single_20"), (30, "me_3x10", "single_30"), (40, "me_4x10", "single_40"),
         (100, "me_10x10", "single_100")]


def mean_ia(model) -> float:
    """Information abundance Σσ/σ_1 of each field's table (padding / OOV rows dropped), averaged over fields; a
    Multi-Embedding field's table is its sets' tables side by side (M·d columns, as the single table of equal
    total dimension: IA is bounded by the width, so per-set values would not compare)."""
    layers = getattr(model, "embedding_sets", [model.features])
    values = [information_abundance(singular_values(torch.cat([layer.field_table(name)[2:] for layer in layers], 1)))
              for name in layers[0].categorical]
    return float(np.mean(values))


def _ia_comparable(run: dict) -> bool:
    """Runs of multi-set cells before IA was taken over the concatenated sets (seed 0 of the first ME job)
    measured IA per set: left out of the IA columns."""
    return run.get("settings", {}).get("num_sets", 1) == 1 or run.get("IA_kind") == "concatenated sets"


def pfl_choice(runs: list[dict]) -> tuple[str, dict]:
    """The IPA cell with the best seed-0 validation AUC, and its choices."""
    seen = {r["cell"]: r["valid_AUC"] for r in runs if r["cell"] in IPA_CHOICES and r["seed"] == 0}
    if len(seen) < len(IPA_CHOICES):
        raise RuntimeError(f"PFL needs every IPA cell at seed 0 first; have {sorted(seen)}")
    best = max(seen, key=seen.get)
    return best, IPA_CHOICES[best]


def run_cell(cell: str, seed: int, feature_map, data, runs: list[dict], max_epochs: int) -> dict:
    model_name, model_overrides, train_overrides = CELLS[cell]
    if cell == "pfl":
        chosen, choice = pfl_choice(runs)
        model_overrides = {**model_overrides, **choice}
    cls, config_cls = MODELS[model_name]
    seed_all(seed)
    model = cls(config_cls(**model_overrides), feature_map)
    result = train_fields(model, data["train"], data["valid"],
                          FieldTrainConfig(seed=seed, max_epochs=max_epochs, threads=1, **train_overrides))
    test = evaluate(model, data["test"])
    return {"cell": cell, "model": model_name, "seed": seed, "test_AUC": test["AUC"], "test_LogLoss": test["LogLoss"],
            "valid_AUC": result.best_valid["AUC"], "best_epoch": result.best_epoch, "epochs": result.epochs,
            "fit_seconds": result.fit_seconds, "samples_per_s": result.samples_per_s, "IA": mean_ia(model), "IA_kind": "concatenated sets",
            "params": sum(p.numel() for p in model.parameters()), "max_epochs": max_epochs,
            "settings": {**model_overrides, **train_overrides}, **({"chosen_from": chosen} if cell == "pfl" else {})}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for cell in dict.fromkeys(r["cell"] for r in runs):
        mine = [r for r in runs if r["cell"] == cell]
        out[cell] = {}
        for m in ("test_AUC", "test_LogLoss", "valid_AUC", "epochs", "samples_per_s", "IA", "params"):
            values = [r[m] for r in mine if m in r and (m != "IA" or _ia_comparable(r))]
            if values:
                out[cell][m] = {"mean": float(np.mean(values)),
                                "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "n": len(values)}
        out[cell]["n"] = len(mine)
        out[cell]["max_epochs"] = max(r.get("max_epochs", 100) for r in mine)
    return out


def _compare(s: dict, a: str, b: str, rel: str, metric: str = "test_AUC") -> dict | None:
    """b rel a on ``metric``: '>' needs b − a > 2 std (the larger std), '≥' needs b − a ≥ −2 std."""
    if a not in s or b not in s or metric not in s[a] or metric not in s[b] or s[a][metric]["n"] < 2 \
            or s[b][metric]["n"] < 2:
        return None
    diff = s[b][metric]["mean"] - s[a][metric]["mean"]
    diff = -diff if metric == "test_LogLoss" else diff  # lower LogLoss is better
    tol = 2 * max(s[a][metric]["std"], s[b][metric]["std"])
    return {"diff": diff, "two_std": tol, "held": bool(diff > tol if rel == ">" else diff >= -tol)}


def claims(s: dict) -> list[dict]:
    rows = []

    def add(claim: str, check: dict | None, note: str = "") -> None:
        if check is not None:
            rows.append({"claim": claim, **check, "note": note})

    add("APG-DCNv2 > DCNv2 (test AUC)", _compare(s, "dcnv2", "apg_dcnv2", ">"))
    singles = [c for c in ("dhen_dcn", "dhen_dot") if c in s and s[c]["n"] > 1]
    if singles:
        best = max(singles, key=lambda c: s[c]["test_AUC"]["mean"])
        add(f"DHEN {{DCN, dot}} ≥ best single module ({best})", _compare(s, best, "dhen", "≥"))
    add("Combined-Pair > BCE at pos_weight 0.1 (test AUC)", _compare(s, "dcnv2_bce_pw0.1", "dcnv2_pair_pw0.1", ">"))
    add("Combined-Pair > BCE at pos_weight 0.1 (test LogLoss, lower)",
        _compare(s, "dcnv2_bce_pw0.1", "dcnv2_pair_pw0.1", ">", "test_LogLoss"))
    add("PFL ≥ DCNv2 (test AUC)", _compare(s, "dcnv2", "pfl", "≥"))
    done = [(d, me, single) for d, me, single in SWEEP if me in s and single in s]
    for d, me, single in done:
        add(f"ME > single embedding at total dimension {d} (test AUC)", _compare(s, single, me, ">"))
        if "IA" in s[me] and "IA" in s[single]:
            add(f"IA(ME) > IA(single) at total dimension {d}", _compare(s, single, me, ">", "IA"))
    if len(done) >= 2:
        (d0, me0, single0), (d1, me1, single1) = done[0], done[-1]
        add(f"ME's AUC rises from {d0} to {d1}", _compare(s, me0, me1, ">"))
        plateau = _compare(s, single0, single1, ">")
        if plateau is not None:
            add(f"single embedding plateaus from {d0} to {d1} (no rise beyond 2 std)",
                {**plateau, "held": not plateau["held"]})
    return rows


def reused_baselines(path: Path | None, seeds: list[int]) -> list[dict]:
    if path is None or not path.is_file():
        return []
    rows = json.loads(path.read_text())["runs"]
    return [{**r, "cell": r["model"], "reused_from": path.name} for r in rows if r["seed"] in seeds]


def markdown(s: dict, checks: list[dict], throughput: list[dict], command: str) -> str:
    lines = ["# Zoo I on Frappe (seeded 8:1:1 re-split), test AUC / LogLoss, mean ± std over seeds", "",
             f"`{command}`", "",
             "| cell | seeds | test AUC | test LogLoss | valid AUC | IA, mean over fields (runs) | params | epochs (cap) |",
             "|---|---|---|---|---|---|---|---|"]
    for cell, v in s.items():
        ia = f"{v['IA']['mean']:.2f} ± {v['IA']['std']:.2f} ({v['IA']['n']})" if "IA" in v else "–"
        params = f"{v['params']['mean']:,.0f}" if "params" in v else "–"
        lines.append(f"| {cell} | {v['n']} | {v['test_AUC']['mean']:.4f} ± {v['test_AUC']['std']:.4f} | "
                     f"{v['test_LogLoss']['mean']:.4f} ± {v['test_LogLoss']['std']:.4f} | "
                     f"{v['valid_AUC']['mean']:.4f} | {ia} | {params} | {v['epochs']['mean']:.1f} "
                     f"({v.get('max_epochs', 100)}) |")
    lines += ["", "| claim (issue 13) | Δ (better = +) | 2 std | held |", "|---|---|---|---|"]
    lines += [f"| {c['claim']} | {c['diff']:+.4f} | {c['two_std']:.4f} | {'held' if c['held'] else 'not held'} |"
              for c in checks]
    if throughput:
        lines += ["", "## Throughput (1 thread, batch 4096, fixed Frappe batches)", "",
                  "| model | params | train samples/s | × DCNv2 | infer samples/s | train peak RSS MB |",
                  "|---|---|---|---|---|---|"]
        base = next((t["train_samples_per_s"] for t in throughput if t["model"] == "dcnv2"), None)
        for t in throughput:
            ratio = f"{t['train_samples_per_s'] / base:.2f}" if base else "–"
            lines.append(f"| {t['model']} | {t['params']:,} | {t['train_samples_per_s']:,.0f} | {ratio} | "
                         f"{t['infer_samples_per_s']:,.0f} | {t['train_peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


THROUGHPUT = {"dcnv2": ("dcnv2", {**DEEP, "cross_layers": 3}), "apg_dcnv2": ("apg_dcnv2", {**DEEP, "cross_layers": 3}),
              "apg_dcnv2_merged": ("apg_dcnv2", {**DEEP, "cross_layers": 3}), "pfl": ("pfl", DEEP),
              "dhen": ("dhen", DEEP), "me_dcnv2_2x10": ("me_dcnv2", {**ME, "num_sets": 2}),
              "me_dnn_2x10": ("me_dnn", {**ME, "num_sets": 2}), "dnn": ("dnn", DEEP), "deepfm": ("deepfm", DEEP)}


def throughput_one(name: str, feature_map, data, batches: int = 8, batch_size: int = 4096) -> dict:
    """One model's training and inference samples/s on the first ``batches`` training batches (after one warm-up
    batch) and the peak RSS increase of its training steps; meant for a fresh process (see :func:`throughput`)."""
    inputs = {k: v[:batches * batch_size] for k, v in data["train"].items() if k != "label"}
    labels = data["train"]["label"][:batches * batch_size].float()
    model_name, overrides = THROUGHPUT[name]
    cls, config_cls = MODELS[model_name]
    seed_all(0)
    with PeakRSS() as rss:
        model = cls(config_cls(**overrides), feature_map)
        if name.endswith("_merged"):
            model.merge()  # APG with U, V folded: what a merged model costs (trained, it is APG without P)
        packed = model.features.pack(inputs)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for step in range(batches + 1):
            if step == 1:
                tick = time.perf_counter()
            idx = slice((step % batches) * batch_size, (step % batches + 1) * batch_size)
            loss = model.loss(model({k: v[idx] for k, v in packed.items()}), labels[idx])["loss"]
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        train_rate = batches * batch_size / (time.perf_counter() - tick)
    tick = time.perf_counter()
    model.predict(packed)
    return {"model": name, "params": sum(p.numel() for p in model.parameters()), "train_samples_per_s": train_rate,
            "infer_samples_per_s": len(labels) / (time.perf_counter() - tick), "train_peak_rss_mb": rss.peak_mb}


def throughput(splits: Path) -> list[dict]:
    """:func:`throughput_one` for every model, each in its own process (so peak RSS is that model's alone)."""
    rows = []
    for name in THROUGHPUT:
        out = subprocess.run([sys.executable, __file__, "--throughput-one", name, "--splits", str(splits)],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=float, default=540.0, help="seconds after which no new run starts")
    ap.add_argument("--stop-at", default="", help="UTC HH:MM after which no new run starts (a shared slot's end)")
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--reuse", type=Path, default=REPO / "benchmarks" / "results" / "frappe.json")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "zoo13")
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--throughput-one", default="", help=argparse.SUPPRESS)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.throughput_one:
        print(json.dumps(throughput_one(args.throughput_one, *frappe_data(args.splits))))
        return
    path = args.out.with_suffix(".json")
    state = json.loads(path.read_text()) if path.is_file() else {"runs": [], "throughput": [], "commands": []}
    started = time.perf_counter()
    command = "flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo13.py " + " ".join(sys.argv[1:])
    if not args.report:
        feature_map, data = frappe_data(args.splits)
        state["commands"].append(command)
        if args.throughput:
            state["throughput"] = throughput(args.splits)
        cells = [c for c in args.cells.split(",") if c]
        unknown = [c for c in cells if c not in CELLS]
        if unknown:
            raise SystemExit(f"unknown cell '{unknown[0]}' (known: {', '.join(CELLS)})")
        todo = [(seed, cell) for seed in args.seeds for cell in cells  # seed-major: compared cells grow together
                if not any(r["cell"] == cell and r["seed"] == seed for r in state["runs"])]
        for seed, cell in todo:
            if time.perf_counter() - started > args.budget or (args.stop_at and time.strftime(
                    "%H:%M", time.gmtime()) >= args.stop_at):
                print(f"budget spent: {cell} seed {seed} and later runs left for the next job", flush=True)
                break
            if cell == "pfl" and not all(any(r["cell"] == c and r["seed"] == 0 for r in state["runs"])
                                         for c in IPA_CHOICES):
                print("pfl waits for every ipa_* cell at seed 0 (its choice); skipped", flush=True)
                continue
            state["runs"].append(run_cell(cell, seed, feature_map, data, state["runs"], args.max_epochs))
            print(json.dumps(state["runs"][-1]), flush=True)
            write_json(path, state)
    runs = reused_baselines(args.reuse, args.seeds) + state["runs"]
    summary = summarise(runs)
    checks = claims(summary)
    write_json(path, {**state, "platform": platform.platform(), "torch": torch.__version__, "summary": summary,
                      "claims": checks, "reused": str(args.reuse)})
    write_text(args.out.with_suffix(".md"), markdown(summary, checks, state["throughput"], " ; ".join(
        dict.fromkeys(state["commands"]))))
    print(markdown(summary, checks, state["throughput"], command))


if __name__ == "__main__":
    main()
