"""The report's plots as PNG bytes: a headline metric per item-frequency bin, and the item-frequency curve."""

from __future__ import annotations

import io

import numpy as np



def _mean(value) -> float:
    """A metric's value: the seed mean of a ``{"mean", "std"}`` row, or the plain number (0 when missing)."""
    return 0.0 if value is None else float(value["mean"]) if isinstance(value, dict) else float(value)


def _std(value) -> float:
    return float(value["std"]) if isinstance(value, dict) else 0.0

def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def plot_bins(models: dict, metric: str) -> bytes | None:
    """Grouped bars: ``metric`` per frequency bin for every model (error bars = std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = [(n, r["bins"]) for n, r in models.items() if r.get("bins")]
    if not named:
        return None
    bins = named[0][1]
    x = np.arange(len(bins))
    width = 0.8 / len(named)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(bins) + 2), 4.2))
    for k, (name, rows) in enumerate(named):
        ax.bar(x + (k - (len(named) - 1) / 2) * width, [_mean(r.get(metric)) for r in rows], width,
               yerr=[_std(r.get(metric)) for r in rows], capsize=2, label=name)
    labels = [f"{b['bin']}\n{b['min_count']}–{b['max_count']}\n(n={b['n_targets']}{'*' if b['noisy'] else ''})"
              for b in bins]
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_xlabel("frequency bin: training-count range (test cases; * = noisy, < 30)")
    ax.set_ylabel(f"{metric} (test)")
    ax.set_title(f"{metric} per item-frequency bin (bin 0 = never seen in training)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    data = _png(fig)
    plt.close(fig)
    return data


def plot_frequency(counts: np.ndarray, bins: list[dict]) -> bytes:
    """Items sorted by training count (log scale), shaded by frequency bin, with the bins' count edges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = np.sort(counts[1:])[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    ax.plot(np.arange(1, len(ordered) + 1), np.maximum(ordered, 0.8), color="black", lw=1.2)
    colors = plt.cm.viridis(np.linspace(0.1, 0.9, max(len(bins), 1)))
    label_y = max(float(ordered.max(initial=1)), 1.0) * 0.9
    for b, color in zip(bins, colors):
        inside = np.flatnonzero((ordered >= b["min_count"]) & (ordered <= b["max_count"]))
        if len(inside):
            ax.axvspan(inside[0] + 0.5, inside[-1] + 1.5, color=color, alpha=0.25, lw=0)
            ax.text((inside[0] + inside[-1]) / 2 + 1, label_y, str(b["bin"]), ha="center", va="top", fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("items, most interacted first")
    ax.set_ylabel("training interactions (log; never-seen items drawn at 0.8)")
    edges = ", ".join(f"{b['min_count']}–{b['max_count']}" for b in bins)
    ax.set_title("Item-frequency distribution and bins", fontsize=10)
    fig.text(0.01, -0.04, f"bin count ranges: {edges}", fontsize=7, wrap=True)
    data = _png(fig)
    plt.close(fig)
    return data
