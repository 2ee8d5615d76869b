"""The CTR report's "Embedding analysis" section: tables and plots from the JSON the ctr stage recorded
(:func:`mmrec.eval.embedding_report.analyse_ctr_model`), so ``mmrec report`` re-renders it without torch or the
models (numpy and matplotlib only)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mmrec.core.io import atomic_file

EMBEDDING_GLOSSARY = [
    ("information abundance (IA)", "Σσ_k / σ_1 of an embedding table's singular values: 1 = every row on one line "
                                   "(collapsed), up to min(rows, dim) = all directions used equally"),
    ("effective rank", "exp(entropy of σ_k / Σσ): how many equally strong directions the table is worth"),
    ("test lookups / all rows", "the table's rows weighted by how often the test events look them up / every row "
                                "once"),
    ("learned correlation", "mean |cos| between two fields' looked-up vectors over the test events; beside it the "
                            "plug-in mutual information of the two fields' raw values (nats)"),
    ("gradient cosine", "cosine between the gradients two user domains' click losses send to the item table "
                        "(+1 = same direction, 0 = unrelated, < 0 = conflicting)"),
]



def _finish(fig, path: str | Path | None) -> bytes:
    """PNG bytes of ``fig`` (a bare Figure: no pyplot state, no global backend switch); written atomically to
    ``path`` when given."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        with atomic_file(path, "wb") as fh:
            fh.write(data)
    return data


def plot_spectra(analysis: Mapping[str, dict], title: str = "Singular spectra", path: str | Path | None = None
                 ) -> bytes:
    """σ_k / σ_1 against k (log scale), one line per table of :func:`analyse_tables`' output: solid = over the
    looked-up rows of a batch, dashed = over the table's rows; each line ends at its rank bound min(rows, dim).
    Collapse shows as a line that drops fast before its end."""
    import matplotlib  # here, not at import: `mmrec report` starts without it
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 4.6))
    ax = fig.subplots()
    palette = "tab10" if len(analysis) <= 10 else "tab20"  # one colour per table, never reused
    colors = matplotlib.colormaps[palette](np.arange(len(analysis)) % (10 if palette == "tab10" else 20))
    for (name, parts), color in zip(analysis.items(), colors):
        abundance, handle = [], None
        for part, style in (("batch", "-"), ("table", "--")):
            if part in parts:  # σ_k beyond min(rows, dim) is zero by construction: the line ends there
                s = np.maximum(np.asarray(parts[part]["spectrum"][:parts[part]["max_rank"]]), 1e-6)
                line, = ax.plot(np.arange(1, len(s) + 1), s, style, color=color, marker=".", lw=1.3)
                abundance.append(f"{parts[part]['information_abundance']:.2f}")
                if part == "batch" or "batch" not in parts:
                    handle = line
        if handle is not None:
            handle.set_label(f"{name} (IA {' / '.join(abundance)})")  # one legend entry per table
    ax.set_yscale("log")
    ax.set_xlabel("singular value index k")
    ax.set_ylabel("σ_k / σ_1 (log; floor 1e-6)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    # beside the axes, not over the lines: a report has a dozen or more tables
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              title="table (IA solid / dashed)", title_fontsize=7)
    return _finish(fig, path)


def _heatmap(ax, fig, matrix: np.ndarray, names: list[str], title: str, cmap: str) -> None:
    shown = matrix.copy()
    np.fill_diagonal(shown, np.nan)  # a field against itself says nothing about learning
    image = ax.imshow(shown, cmap=cmap, vmin=0.0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j and np.isfinite(shown[i, j]) and len(names) <= 12:
                ax.text(j, i, f"{shown[i, j]:.2f}", ha="center", va="center", fontsize=7, color="black",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6, "lw": 0})
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def plot_correlation_vs_mi(correlation: dict, mutual_info: dict, title: str = "Learned correlation vs data MI",
                           path: str | Path | None = None) -> bytes:
    """Two heatmaps side by side over the same field pairs: learned mean |cos| (left, from
    :func:`field_correlation`) and the raw values' mutual information in nats (right; bias-adjusted when
    :func:`field_mutual_information` gave ``adjusted``)."""
    from matplotlib.figure import Figure  # here, not at import: `mmrec report` starts without it

    names = [n for n in correlation["fields"] if n in mutual_info["fields"]]
    ci = [correlation["fields"].index(n) for n in names]
    mi = [mutual_info["fields"].index(n) for n in names]
    corr = np.asarray(correlation["matrix"], dtype=np.float64)[np.ix_(ci, ci)]
    adjusted = "adjusted" in mutual_info
    info = np.asarray(mutual_info["adjusted" if adjusted else "matrix"], dtype=np.float64)[np.ix_(mi, mi)]
    fig = Figure(figsize=(12.5, 4.8))
    axes = fig.subplots(1, 2, gridspec_kw={"wspace": 0.45})  # room for the left colour bar beside the right labels
    chance = correlation.get("chance")
    _heatmap(axes[0], fig, corr, names, "learned: mean |cos| of looked-up vectors"
             + (f" (chance ≈ {chance:.2f})" if chance else ""), "viridis")
    _heatmap(axes[1], fig, np.maximum(info, 0.0), names, "data: MI of raw values, nats"
             + (" (less shuffled-pair MI)" if adjusted else ""), "magma")
    fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def _f(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def embedding_tables(models: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the section's tables, for the models whose result has ``embedding_analysis``."""
    found = {n: r["embedding_analysis"] for n, r in models.items() if r.get("embedding_analysis")}
    if not found:
        return []
    seeds = sorted({a["seed"] for a in found.values()})
    rows = []
    for name, a in found.items():
        for table, parts in a["tables"].items():
            batch, whole = parts.get("batch", {}), parts["table"]
            rows.append([name, table, str(batch.get("rows", "–")), str(whole["rows"]), str(whole["dim"]),
                         _f(batch.get("information_abundance")), _f(batch.get("effective_rank")),
                         _f(whole["information_abundance"]), _f(whole["effective_rank"])])
    out = [(f"Embedding analysis (model seed {', '.join(map(str, seeds))}): information abundance and effective "
            "rank per table (higher = less collapsed; at most min(rows, dim))",
            ["model", "table", "rows looked up (test)", "rows (non-zero)", "dim", "IA (test lookups)",
             "eff. rank (test lookups)", "IA (all rows)", "eff. rank (all rows)"], rows)]
    tangled = {n: a["entanglement"] for n, a in found.items() if a.get("entanglement")}
    if tangled:
        tasks = next(iter(tangled.values()))["tasks"]
        first = next(iter(tangled.values()))
        out.append((f"Embedding analysis: gradient cosine between {first['domain_field']} domains on the "
                    f"{first['table']} table (training events per domain: "
                    f"{', '.join(f'{k} {v}' for k, v in first['events'].items())})",
                    ["model", "domain", *tasks],
                    [[n, task, *[_f(c) for c in row]] for n, e in tangled.items()
                     for task, row in zip(e["tasks"], e["matrix"])]))
    return out


def embedding_plots(models: dict) -> dict[str, bytes]:
    """PNG per model: ``embedding_spectra_<model>.png`` and ``embedding_correlation_mi_<model>.png``."""
    images = {}
    for name, result in models.items():
        a = result.get("embedding_analysis")
        if not a:
            continue
        if a["tables"]:
            images[f"embedding_spectra_{name}.png"] = plot_spectra(
                a["tables"], f"{name}: normalised singular spectra per table (seed {a['seed']}; solid = over "
                             f"{a['events']} test events' lookups, dashed = all rows)")
        if a.get("correlation") and a.get("mutual_information"):
            images[f"embedding_correlation_mi_{name}.png"] = plot_correlation_vs_mi(
                a["correlation"], a["mutual_information"],
                f"{name}: learned field-pair correlation vs mutual information ({a['events']} test events)")
    return images


__all__ = ["EMBEDDING_GLOSSARY", "embedding_plots", "embedding_tables"]
