"""The README.md model card of a saved model: what it is, how to load it, and (given a run's report) its numbers.

Pure formatting over ``config.json``'s content and a report dict, so the save / load mixin can write it without
knowing any model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from huggingface_hub import ModelCard


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "mean" in value:
        if value.get("n", 2) == 1:  # one seed: its std of 0 says nothing about noise
            return _fmt(value["mean"])
        return f"{value['mean']:.4f} ± {value['std']:.4f} (n={value['n']})"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4f}"
    return "–" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class TaskCard:
    """What a model card says for one task: tags, what the model does, how to call it, which numbers lead."""

    tags: tuple[str, ...]
    what: str
    use: tuple[str, ...]
    headline: str  # the metric `mmrec push` picks the best model by
    seed_metrics: tuple[str, ...]  # per-seed numbers quoted for the pushed weights (keys of the report's per_seed)
    cold_note: str


TASK_CARDS = {
    "sequential": TaskCard(
        ("recommendation", "sequential-recommendation"), "Next-item recommender",
        ("scores = model.score(histories)  # (B, L) item indices, left-padded with 0 -> (B, n_items + 1)", "```", "",
         "or `mmrec score REPO_ID_OR_DIR --history ITEM_ID ITEM_ID ...` for the top items of one history."),
        "NDCG@10", ("NDCG@10",),
        "Cold = test targets with at most the report's `cold_threshold` training interactions, new items = targets "
        "never seen in training (EVALUATION.md). Full ranking over all items, the user's history masked."),
    "ctr": TaskCard(
        ("recommendation", "ctr", "click-through-rate"), "Click-through-rate model (P(click | user, target, history))",
        ("probs = model.predict(batch)  # a CTR batch -> (B,) click probabilities", "```", "",
         "Batches come from `mmrec.data.ctr_batches.build_ctr_samples` over the same item indexing (`items.json`)."),
        "AUC", ("AUC", "GAUC", "cold_AUC"),
        "Cold = test events whose target item has at most the report's `cold_threshold` training interactions "
        "(EVALUATION.md); GAUC weighs each user's AUC by their test events."),
}
TASK_CARDS["fields"] = TASK_CARDS["ctr"]  # the fields stage's report: CTR models on the typed feature layer


def model_card(hub_config: dict[str, Any], report: dict[str, Any] | None = None, model_key: str | None = None,
               seed: int | None = None) -> ModelCard:
    """README.md of a saved model: what it is, how to load it, and (given a report) its data, protocol and numbers."""
    name = hub_config["model_type"]
    task = TASK_CARDS[hub_config.get("task", "sequential")]
    key = model_key or name
    meta = ["---", "library_name: mmrec", "tags:", *[f"- {t}" for t in task.tags], f"- {name}"]
    if report:
        meta.append(f"datasets:\n- {report['dataset']}")
    title = key if key == name else f"{key} ({name})"
    lines = [*meta, "---", "", f"# {title}: an mmrec model", "",
             f"{task.what} over {hub_config.get('n_items')} items, trained with mmrec and saved as "
             "`model.safetensors` + `config.json` (no pickles, no remote code).", ""]
    if seed is not None:
        lines += [f"Training seed: {seed}.", ""]
    lines += ["## Use", "", "```python", "from mmrec.hub import load_model", "",
              "model = load_model(\"REPO_ID_OR_DIR\")", *task.use, "",
              "## Configuration", "", "```json", json.dumps(hub_config["config"], indent=2), "```", ""]
    item_repr = hub_config.get("item_repr") or {}
    if item_repr.get("class", "IDEmbedding") != "IDEmbedding":
        lines += [f"Item side: `{item_repr['class']}` with `{json.dumps(item_repr.get('args', {}))}`.", ""]
    if report:
        result = report.get("models", {}).get(key, {})
        headline = report.get("headline", [task.headline])
        lines += ["## Evaluation", "", f"- dataset: {report['dataset']}", f"- split: {report['split']}",
                  f"- protocol: {report.get('protocol', '')}", f"- seeds: {report.get('seeds')}",
                  f"- cold threshold: {report.get('cold_threshold')} training interactions", "",
                  "| slice | n test cases | " + " | ".join(headline) + " |", "|---|---|" + "---|" * len(headline)]
        for part in ("overall", "warm", "cold"):
            row = result.get(part, {})
            n = row.get("n_targets", row.get("n", result.get("n_targets") if part == "overall" else None))
            lines.append(f"| {part} | {_fmt(n)} | " + " | ".join(_fmt(row.get(m)) for m in headline) + " |")
        new = (result.get("bins") or [{}])[0]
        if new.get("max_count") == 0 and new.get("n_targets"):  # bin 0: targets never seen in training
            lines.append(f"| new items | {_fmt(new['n_targets'])} | " + " | ".join(_fmt(new.get(m)) for m in headline)
                         + " |")
        mine = [r for r in result.get("per_seed", []) if r.get("seed") == seed]
        if mine and isinstance(result.get("overall", {}).get(task.headline), dict):
            quoted = ", ".join(f"{m.replace('_', ' ')} {_fmt(mine[0].get(m))}" for m in task.seed_metrics)
            lines += ["", f"These weights (seed {seed}) alone: test {quoted}."]
        lines += ["", task.cold_note, ""]
    return ModelCard("\n".join(lines))
