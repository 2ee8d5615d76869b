"""Zoo I on Frappe and ml-100k CTR, 3 seeds: APG-DCNv2, PFL (chosen on validation among IPA choices), DHEN and its
single modules, Multi-Embedding against single embedding at equal total dimension (IA per model), and BCE against
Combined-Pair at pos_weight 0.1 on DCNv2, beside the foundation's baselines; each issue-13 claim marked held / not
held (> 2 std); a throughput row per model and APG-DCNv2 against DCNv2 (time and peak RSS).

``--dataset ml100k``: the same cells on recipes/ml-100k-ctr.yaml's events and features (the fields stage's own
event, encoding, training and test code, so the numbers are what ``mmrec run --stage fields`` gives), with the
recipe's towers (3 x 256, dropout 0.2, embedding 16) and trainer (batch 1024, patience 2, at most 30 epochs), the
frozen text / image / llm item vectors of ``--modalities`` and no history field (no zoo I model reads one). The
baselines are cells here (trained in this benchmark, not reused), the report adds cold AUC (target items with <= 5
training events) and APG-DNN against DNN at several widths: each one's time and memory, and whether APG reaches
DNN's AUC at a lower cost (``--throughput``). Several jobs may add cells to one JSON at once (a file lock).

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
    python benchmarks/bench_zoo13.py --dataset ml100k --prepared RUN/artifacts/prepare-* \
        --modalities RUN/artifacts/encode-* --cells lr,fm,dnn,deepfm,dcnv2 [--throughput]
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mmrec import catalogue
from mmrec.core.io import fingerprint_tree, write_json, write_text
from mmrec.data.tables import Tables
from mmrec.eval.embedding_analysis import information_abundance, singular_values
from mmrec.features import FeatureMap, parse_fields
from mmrec.features.schema import Sequence
from mmrec.fields.encoding import fit_and_encode, frozen_tables
from mmrec.fields.events import event_sources
from mmrec.fields.training import build_model, test_report, train_model
from mmrec.recipe import load_recipe
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


def zoo_cells(deep: dict) -> dict[str, tuple[str, dict, dict]]:
    """cell -> (model, model overrides, trainer overrides) around the tower ``deep`` (the ME sweep has its own)."""
    return {
        "apg_dcnv2": ("apg_dcnv2", {**deep, "cross_layers": 3}, {}),
        **{name: ("ipa", {**deep, **choice}, {}) for name, choice in IPA_CHOICES.items()},
        "pfl": ("pfl", deep, {}),  # its choice is filled in from the IPA cells (see pfl_choice)
        "dhen": ("dhen", {**deep, "modules": ["dcn", "dot"], "layers": 2}, {}),
        "dhen_dcn": ("dhen", {**deep, "modules": ["dcn"], "layers": 2}, {}),
        "dhen_dot": ("dhen", {**deep, "modules": ["dot"], "layers": 2}, {}),
        "dcnv2_bce_pw0.1": ("dcnv2", {**deep, "cross_layers": 3}, {**PW, "loss": "bce"}),
        "dcnv2_pair_pw0.1": ("dcnv2", {**deep, "cross_layers": 3}, {**PW, "loss": "combined_pair"}),
        "dcnv2_jrc_pw0.1": ("dcnv2", {**deep, "cross_layers": 3, "two_logit": True},
                            {**PW, "loss": "jrc", "alpha": 0.4}),
        **{f"me_{m}x10": ("me_dcnv2", {**ME, "num_sets": m, "embed_dim": 10}, {}) for m in (2, 3, 4, 10)},
        **{f"single_{d}": ("me_dcnv2", {**ME, "num_sets": 1, "embed_dim": d}, {}) for d in (20, 30, 40, 100)},
        "me_dnn_2x10": ("me_dnn", {**ME, "num_sets": 2}, {}),
    }


CELLS = zoo_cells(DEEP)
# ml-100k: recipes/ml-100k-ctr.yaml's towers (its fields.model_overrides), the baselines as cells, and APG-DNN
# beside DNN at three widths (APG's time / memory claim is checked at equal AUC)
ML_DEEP = {"hidden_units": [256, 256, 256], "dropout": 0.2}
WIDTHS = (64, 128, 256)
ML_CELLS: dict[str, tuple[str, dict, dict]] = {
    "lr": ("lr", {}, {}), "fm": ("fm", {}, {}), "deepfm": ("deepfm", ML_DEEP, {}),
    "dcnv2": ("dcnv2", {**ML_DEEP, "cross_layers": 3}, {}),
    **{("dnn" if w == 256 else f"dnn_w{w}"): ("dnn", {**ML_DEEP, "hidden_units": [w] * 3}, {}) for w in WIDTHS},
    **{("apg_dnn" if w == 256 else f"apg_dnn_w{w}"): ("apg_dnn", {**ML_DEEP, "hidden_units": [w] * 3}, {})
       for w in WIDTHS},
    **zoo_cells(ML_DEEP),
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


def ml100k_data(prepared: Path, modalities: Path):
    """recipes/ml-100k-ctr.yaml's config, feature map, encoded splits and frozen item tables (the history field
    left out), built by the fields stage's own functions; the encoding is cached under /tmp, keyed by the inputs."""
    cfg = load_recipe(REPO / "recipes" / "ml-100k-ctr.yaml")
    fields = [f for f in parse_fields(cfg.features, "features") if not isinstance(f, Sequence)]
    tables = Tables.load(prepared / "tables")
    embeddings, pretrained = frozen_tables(fields, modalities, tables)
    key = hashlib.sha256((fingerprint_tree(prepared / "tables") + fingerprint_tree(modalities)).encode()).hexdigest()
    cache = Path("/tmp/zoo13-ml100k") / key[:16]
    if not (cache / "feature_map.json").is_file():
        feature_map, data = fit_and_encode(fields, event_sources(cfg, fields, tables), embeddings)
        partial = cache.with_name(cache.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        for part, tensors in data.items():
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(partial / f"{part}.safetensors"))
        feature_map.save(partial / "feature_map.json")
        partial.rename(cache)
    data = {part: load_file(str(cache / f"{part}.safetensors")) for part in ("train", "valid", "test")}
    return cfg, FeatureMap.load(cache / "feature_map.json"), data, pretrained


def _cell_settings(cell: str, cells: dict, runs: list[dict]) -> tuple[str, dict, dict, str | None]:
    model_name, model_overrides, train_overrides = cells[cell]
    chosen = None
    if cell == "pfl":
        chosen, choice = pfl_choice(runs)
        model_overrides = {**model_overrides, **choice}
    return model_name, model_overrides, train_overrides, chosen


def run_cell(cell: str, seed: int, feature_map, data, runs: list[dict], max_epochs: int) -> dict:
    model_name, model_overrides, train_overrides, chosen = _cell_settings(cell, CELLS, runs)
    cls, config_cls = MODELS[model_name]
    seed_all(seed)
    model = cls(config_cls(**model_overrides), feature_map)
    result = train_fields(model, data["train"], data["valid"],
                          FieldTrainConfig(seed=seed, max_epochs=max_epochs, threads=1, **train_overrides))
    test = evaluate(model, data["test"])
    return {"cell": cell, "model": model_name, "seed": seed, "test_AUC": test["AUC"], "test_LogLoss": test["LogLoss"],
            **_fit_row(model, result, max_epochs, {**model_overrides, **train_overrides}, chosen)}


def _fit_row(model, result, max_epochs: int, settings: dict, chosen: str | None) -> dict:
    return {"valid_AUC": result.best_valid["AUC"], "best_epoch": result.best_epoch, "epochs": result.epochs,
            "fit_seconds": result.fit_seconds, "samples_per_s": result.samples_per_s, "IA": mean_ia(model),
            "IA_kind": "concatenated sets", "params": sum(p.numel() for p in model.parameters()),
            "max_epochs": max_epochs, "settings": settings, **({"chosen_from": chosen} if chosen else {})}


def ml100k_fields_config(cfg, cell: str, runs: list[dict], max_epochs: int):
    """The recipe's ``fields`` section with one model: the cell's overrides, one thread, ``max_epochs``."""
    model_name, model_overrides, train_overrides, chosen = _cell_settings(cell, ML_CELLS, runs)
    name = f"zoo_{model_name}"
    return name, chosen, dataclasses.replace(
        cfg.fields, models=[name], model_overrides={name: model_overrides},
        train_overrides={name: {"threads": 1, "max_epochs": max_epochs, **train_overrides}})


def run_cell_ml100k(cell: str, seed: int, ml, runs: list[dict], max_epochs: int) -> dict:
    """One ml-100k cell as the fields stage trains and tests it: overall AUC / GAUC / LogLoss and cold / warm AUC."""
    cfg, feature_map, data, pretrained = ml
    name, chosen, fields = ml100k_fields_config(cfg, cell, runs, max_epochs)
    model, result = train_model(fields, name, seed, feature_map, data, pretrained)
    report = test_report(model, data, fields, cfg.eval, fields.train.eval_batch_size)
    return {"cell": cell, "model": name.removeprefix("zoo_"), "seed": seed, "test_AUC": report["overall"]["AUC"],
            "test_LogLoss": report["overall"]["LogLoss"], "test_GAUC": report["overall"]["GAUC"],
            "cold_AUC": report["cold"]["AUC"], "warm_AUC": report["warm"]["AUC"], "n_cold": report["cold"]["n"],
            **_fit_row(model, result, max_epochs, {**fields.model_overrides[name], **fields.train_overrides[name]},
                       chosen)}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for cell in dict.fromkeys(r["cell"] for r in runs):
        mine = [r for r in runs if r["cell"] == cell]
        out[cell] = {}
        for m in ("test_AUC", "test_LogLoss", "test_GAUC", "cold_AUC", "valid_AUC", "epochs", "samples_per_s", "IA",
                  "params", "fit_seconds"):
            values = [r[m] for r in mine if r.get(m) is not None and (m != "IA" or _ia_comparable(r))]
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
    for width, suffix in ((256, ""), (128, "_w128"), (64, "_w64")):
        add(f"APG-DNN > DNN, 3 x {width} (test AUC)", _compare(s, f"dnn{suffix}", f"apg_dnn{suffix}", ">"))
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


TITLES = {"frappe": "Zoo I on Frappe (seeded 8:1:1 re-split)",
          "ml100k": "Zoo I on ml-100k CTR (recipes/ml-100k-ctr.yaml's events and flat features, frozen text / "
                    "image / llm vectors)"}


def markdown(s: dict, checks: list[dict], throughput_rows: list[dict], command: str, dataset: str = "frappe",
             equal: dict | None = None) -> str:
    cold = any("cold_AUC" in v for v in s.values())
    lines = [f"# {TITLES[dataset]}, test AUC / LogLoss, mean ± std over seeds", "", f"`{command}`", "",
             "| cell | seeds | test AUC | test LogLoss |" + (" cold AUC |" if cold else "") +
             " valid AUC | IA, mean over fields (runs) | params | epochs (cap) |",
             "|---|---|---|---|" + ("---|" if cold else "") + "---|---|---|---|"]
    for cell, v in s.items():
        ia = f"{v['IA']['mean']:.2f} ± {v['IA']['std']:.2f} ({v['IA']['n']})" if "IA" in v else "–"
        params = f"{v['params']['mean']:,.0f}" if "params" in v else "–"
        cold_cell = (f" {v['cold_AUC']['mean']:.4f} ± {v['cold_AUC']['std']:.4f} |" if "cold_AUC" in v else " – |") \
            if cold else ""
        lines.append(f"| {cell} | {v['n']} | {v['test_AUC']['mean']:.4f} ± {v['test_AUC']['std']:.4f} | "
                     f"{v['test_LogLoss']['mean']:.4f} ± {v['test_LogLoss']['std']:.4f} |{cold_cell} "
                     f"{v['valid_AUC']['mean']:.4f} | {ia} | {params} | {v['epochs']['mean']:.1f} "
                     f"({v.get('max_epochs', 100)}) |")
    lines += ["", "| claim (issue 13) | Δ (better = +) | 2 std | held |", "|---|---|---|---|"]
    lines += [f"| {c['claim']} | {c['diff']:+.4f} | {c['two_std']:.4f} | {'held' if c['held'] else 'not held'} |"
              for c in checks]
    if throughput_rows:
        batch = throughput_rows[0].get("batch_size", 4096)
        lines += ["", f"## Throughput (1 thread, batch {batch}, fixed training batches)", "",
                  "| model | params | train samples/s | × DCNv2 | infer samples/s | train peak RSS MB |",
                  "|---|---|---|---|---|---|"]
        base = next((t["train_samples_per_s"] for t in throughput_rows if t["model"] == "dcnv2"), None)
        for t in throughput_rows:
            ratio = f"{t['train_samples_per_s'] / base:.2f}" if base else "–"
            lines.append(f"| {t['model']} | {t['params']:,} | {t['train_samples_per_s']:,.0f} | {ratio} | "
                         f"{t['infer_samples_per_s']:,.0f} | {t['train_peak_rss_mb']:.0f} |")
    if equal:
        lines += ["", "## APG-DNN against DNN at equal AUC", "",
                  (f"Target: {equal['target']}'s test AUC (the best DNN width). Of each family, the fastest width "
                   f"within 2 std of it: DNN → {equal['dnn']}, APG-DNN → {equal['apg'] or 'none reaches it'}.")]
        if equal["apg"]:
            lines.append(f"APG's training time is {equal['time_ratio_apg_over_dnn']:.2f}x DNN's and its peak RSS "
                         f"{equal['rss_ratio_apg_over_dnn']:.2f}x: the claim (lower time and memory) is "
                         f"**{'held' if equal['held'] else 'not held'}**.")
        else:
            lines.append("The claim (lower time and memory at equal AUC) is **not held**: no APG width reaches it.")
    return "\n".join(lines) + "\n"


THROUGHPUT = {"dcnv2": ("dcnv2", {**DEEP, "cross_layers": 3}), "apg_dcnv2": ("apg_dcnv2", {**DEEP, "cross_layers": 3}),
              "apg_dcnv2_merged": ("apg_dcnv2", {**DEEP, "cross_layers": 3}), "pfl": ("pfl", DEEP),
              "dhen": ("dhen", DEEP), "me_dcnv2_2x10": ("me_dcnv2", {**ME, "num_sets": 2}),
              "me_dnn_2x10": ("me_dnn", {**ME, "num_sets": 2}), "dnn": ("dnn", DEEP), "deepfm": ("deepfm", DEEP)}


ML_THROUGHPUT = ["dcnv2", "apg_dcnv2", "apg_dcnv2_merged", "pfl", "dhen", "me_2x10", "deepfm", "dnn_w64", "dnn_w128",
                 "dnn", "apg_dnn_w64", "apg_dnn_w128", "apg_dnn", "apg_dnn_w64_merged", "apg_dnn_merged"]


def throughput_one(name: str, args) -> dict:
    """One model's training and inference samples/s on the first training batches (after one warm-up batch) and
    the peak RSS increase of building and training it; meant for a fresh process (see :func:`throughput`).
    Frappe: 8 batches of 4096; ml-100k: 16 of 1024 (the recipe's batch size)."""
    cell = name.removesuffix("_merged")
    if args.dataset == "frappe":
        feature_map, data = frappe_data(args.splits)
        model_name, overrides = THROUGHPUT[name]
        cls, config_cls = MODELS[model_name]

        def build():
            seed_all(0)
            return cls(config_cls(**overrides), feature_map)
        batches, batch_size = 8, 4096
    else:
        cfg, feature_map, data, pretrained = ml100k_data(args.prepared, args.modalities)
        model_name, _, fields = ml100k_fields_config(cfg, cell, _load_state(args.out)["runs"], 1)

        def build():
            return build_model(fields, model_name, 0, feature_map, pretrained)
        batches, batch_size = 16, 1024
    label = feature_map.labels[0]
    inputs = {k: v[:batches * batch_size] for k, v in data["train"].items() if k not in feature_map.labels}
    labels = data["train"][label][:batches * batch_size].float()
    with PeakRSS() as rss:
        model = build()
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
            "infer_samples_per_s": len(labels) / (time.perf_counter() - tick), "train_peak_rss_mb": rss.peak_mb,
            "batch_size": batch_size}


def throughput(args) -> list[dict]:
    """:func:`throughput_one` for every model, each in its own process (so peak RSS is that model's alone)."""
    rows = []
    data_args = (["--splits", str(args.splits)] if args.dataset == "frappe" else
                 ["--prepared", str(args.prepared), "--modalities", str(args.modalities), "--out", str(args.out)])
    for name in THROUGHPUT if args.dataset == "frappe" else ML_THROUGHPUT:
        out = subprocess.run([sys.executable, __file__, "--throughput-one", name, "--dataset", args.dataset,
                              *data_args], check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def equal_auc(s: dict, throughput_rows: list[dict]) -> dict | None:
    """APG-DNN against DNN at equal AUC: the best DNN width's test AUC is the target; of each family, the fastest
    width within 2 std of it (the larger std of the two cells) is its representative; APG's claim (lower time and
    memory than a plain deep model) holds if APG's representative trains faster and with no more peak memory."""
    rate = {t["model"]: t for t in throughput_rows}
    families = {"DNN": ["dnn_w64", "dnn_w128", "dnn"], "APG-DNN": ["apg_dnn_w64", "apg_dnn_w128", "apg_dnn"]}
    families = {k: [c for c in v if c in s and c in rate and s[c]["test_AUC"]["n"] > 1] for k, v in families.items()}
    if not families["DNN"] or not families["APG-DNN"]:
        return None
    target = max(families["DNN"], key=lambda c: s[c]["test_AUC"]["mean"])

    def reached(c: str) -> bool:
        tol = 2 * max(s[c]["test_AUC"]["std"], s[target]["test_AUC"]["std"])
        return s[c]["test_AUC"]["mean"] >= s[target]["test_AUC"]["mean"] - tol

    picks = {k: max([c for c in v if reached(c)], key=lambda c: rate[c]["train_samples_per_s"], default=None)
             for k, v in families.items()}
    dnn, apg = picks["DNN"], picks["APG-DNN"]
    held = apg is not None and rate[apg]["train_samples_per_s"] > rate[dnn]["train_samples_per_s"] and \
        rate[apg]["train_peak_rss_mb"] <= rate[dnn]["train_peak_rss_mb"]
    return {"target": target, "dnn": dnn, "apg": apg, "held": bool(held),
            "time_ratio_apg_over_dnn": (rate[dnn]["train_samples_per_s"] / rate[apg]["train_samples_per_s"]
                                        if apg else None),
            "rss_ratio_apg_over_dnn": (rate[apg]["train_peak_rss_mb"] / rate[dnn]["train_peak_rss_mb"]
                                       if apg else None)}


@contextmanager
def locked_state(path: Path):
    """The JSON state, read and written under an exclusive lock, so several jobs can add runs to one file."""
    with open(Path("/tmp") / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = _load_state(path)
        yield state
        write_json(path.with_suffix(".json"), state)


def _load_state(path: Path) -> dict:
    path = path.with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else {"runs": [], "throughput": [], "commands": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["frappe", "ml100k"], default="frappe")
    ap.add_argument("--cells", default="")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=float, default=540.0, help="seconds after which no new run starts")
    ap.add_argument("--stop-at", default="", help="UTC HH:MM after which no new run starts (a shared slot's end)")
    ap.add_argument("--splits", type=Path, default=Path("/tmp/mmrec-frappe/seed0"))
    ap.add_argument("--prepared", type=Path, help="ml100k: a prepare artifact of ml-100k (its tables/)")
    ap.add_argument("--modalities", type=Path, help="ml100k: text / image / llm .safetensors (an encode artifact)")
    ap.add_argument("--max-epochs", type=int, help="default: 100 (Frappe), the recipe's 30 (ml-100k)")
    ap.add_argument("--reuse", type=Path, default=REPO / "benchmarks" / "results" / "frappe.json",
                    help="Frappe: the baselines' runs (bench_frappe.py's JSON)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--throughput-one", default="", help=argparse.SUPPRESS)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    ml = args.dataset == "ml100k"
    args.out = args.out or REPO / "benchmarks" / "results" / ("zoo13_ml100k" if ml else "zoo13")
    max_epochs = args.max_epochs or (30 if ml else 100)
    torch.set_num_threads(1)
    if args.throughput_one:
        print(json.dumps(throughput_one(args.throughput_one, args)))
        return
    if ml and not args.report and not (args.prepared and args.modalities):
        raise SystemExit("--dataset ml100k needs --prepared and --modalities")
    cells_table = ML_CELLS if ml else CELLS
    started = time.perf_counter()
    command = "flock /tmp/mmrec-heavy.lock python benchmarks/bench_zoo13.py " + " ".join(sys.argv[1:])
    if not args.report:
        with locked_state(args.out) as state:
            state["commands"].append(command)
        data = ml100k_data(args.prepared, args.modalities) if ml else frappe_data(args.splits)
        if args.throughput:
            rows = throughput(args)
            with locked_state(args.out) as state:
                state["throughput"] = rows
        cells = [c for c in args.cells.split(",") if c]
        unknown = [c for c in cells if c not in cells_table]
        if unknown:
            raise SystemExit(f"unknown cell '{unknown[0]}' (known: {', '.join(cells_table)})")
        for seed, cell in [(seed, cell) for seed in args.seeds for cell in cells]:  # seed-major: cells grow together
            runs = _load_state(args.out)["runs"]
            if any(r["cell"] == cell and r["seed"] == seed for r in runs):
                continue
            if time.perf_counter() - started > args.budget or (args.stop_at and time.strftime(
                    "%H:%M", time.gmtime()) >= args.stop_at):
                print(f"budget spent: {cell} seed {seed} and later runs left for the next job", flush=True)
                break
            if cell == "pfl" and not all(any(r["cell"] == c and r["seed"] == 0 for r in runs) for c in IPA_CHOICES):
                print("pfl waits for every ipa_* cell at seed 0 (its choice); skipped", flush=True)
                continue
            run = (run_cell_ml100k(cell, seed, data, runs, max_epochs) if ml
                   else run_cell(cell, seed, *data, runs, max_epochs))
            with locked_state(args.out) as state:
                state["runs"].append(run)
            print(json.dumps(run), flush=True)
    with locked_state(args.out) as state:
        runs = ([] if ml else reused_baselines(args.reuse, args.seeds)) + state["runs"]
        summary = summarise(runs)
        checks = claims(summary)
        equal = equal_auc(summary, state["throughput"]) if ml else None
        state.update({"platform": platform.platform(), "torch": torch.__version__, "summary": summary,
                      "claims": checks, **({"equal_auc": equal} if ml else {"reused": str(args.reuse)})})
        text = markdown(summary, checks, state["throughput"], " ; ".join(dict.fromkeys(state["commands"])),
                        args.dataset, equal)
    write_text(args.out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
