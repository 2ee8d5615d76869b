"""Using saved models: the top items of one history, and a run's trained models as Hub folders (``mmrec push``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from mmrec.core.hub_mixin import CONFIG_FILE, ITEMS_FILE, HubError
from mmrec.core.model_card import TASK_CARDS
from mmrec.core.sequences import left_pad
from mmrec.data.tables import Tables
from mmrec.hub.auto import load_model


def recommend(model: Any, history: list[str], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` items for one history of item IDs (``items.json``; plain indices when the model has none),
    the history itself excluded: ``[{"item_id", "score"}, ...]``, best first."""
    if getattr(model, "task", "sequential") != "sequential":
        raise HubError(f"{type(model).__name__} is a {model.task} model: it predicts clicks for (user, item, history) "
                       "batches with model.predict(batch) and does not rank next items")
    ids = list(getattr(model, "item_ids", None) or [str(i) for i in range(1, model.n_items + 1)])
    index = {str(item): i + 1 for i, item in enumerate(ids)}
    unknown = [item for item in history if str(item) not in index]
    if unknown:
        raise HubError(f"item id(s) {', '.join(map(str, unknown))} not in this model's {len(ids)}-item catalogue "
                       f"({ITEMS_FILE})")
    seq = [index[str(item)] for item in history]
    with torch.no_grad():
        scores = model.score(left_pad([torch.tensor(seq).numpy()], model.max_len))[0].float()
    scores[[0, *seq]] = -torch.inf
    best = torch.topk(scores, min(top, int(torch.isfinite(scores).sum())))
    return [{"item_id": ids[i - 1], "score": float(s)} for i, s in zip(best.indices.tolist(), best.values.tolist())]


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """One trained model inside a run directory."""

    split: str
    name: str
    seed: int
    path: Path


def run_models(run_dir: str | Path) -> list[SavedModel]:
    """Trained models a finished run saved (``<artifact>/models/<split>/<model>/seed<seed>/``)."""
    run_dir = Path(run_dir)
    stages_file = run_dir / "stages.json"
    if not stages_file.is_file():
        raise HubError(f"{run_dir} is not a finished mmrec run (no stages.json)")
    found = []
    for rel in json.loads(stages_file.read_text()).values():
        for config in sorted((run_dir / rel / "models").glob(f"*/*/seed*/{CONFIG_FILE}")):
            folder = config.parent
            found.append(SavedModel(folder.parent.parent.name, folder.parent.name, int(folder.name[4:]), folder))
    return found


def _rank_key(report: dict[str, Any], name: str) -> tuple[bool, float]:
    """Sequential models first (the default before CTR models were saved), then the task's headline metric."""
    task = report.get("task", "sequential")
    value = report.get("models", {}).get(name, {}).get("overall", {}).get(TASK_CARDS[task].headline, -1.0)
    return task == "sequential", float(value["mean"] if isinstance(value, dict) else value)


def export_run_model(run_dir: str | Path, target: str | Path | None = None, split: str | None = None,
                     name: str | None = None, seed: int | None = None) -> tuple[Any, SavedModel, dict[str, Any]]:
    """Pick a run's model (default: the best sequential model by NDCG@10, else the best CTR model by AUC; its first
    seed), attach the dataset's item IDs, and (given ``target``) write its Hub folder with a model card from the
    run's report."""
    run_dir = Path(run_dir)
    saved = [m for m in run_models(run_dir) if (split is None or m.split == split) and (name is None or m.name == name)
             and (seed is None or m.seed == seed)]
    if not saved:
        wanted = ", ".join(f"{k}={v}" for k, v in (("split", split), ("model", name), ("seed", seed)) if v is not None)
        raise HubError(f"{run_dir}: no saved model{' with ' + wanted if wanted else ''}; saved: "
                       f"{', '.join(sorted({f'{m.split}/{m.name}/seed{m.seed}' for m in run_models(run_dir)})) or 'none'}")
    reports = {m.split: run_dir / m.split / "report.json" for m in saved}
    reports = {s: json.loads(p.read_text()) for s, p in reports.items() if p.is_file()}
    choice = max(saved, key=lambda m: (*_rank_key(reports.get(m.split, {}), m.name), -m.seed))
    model = load_model(choice.path)
    stages = json.loads((run_dir / "stages.json").read_text())
    if getattr(model, "item_ids", None) is None and "prepare" in stages:
        model.item_ids = [str(i) for i in Tables.load(run_dir / stages["prepare"] / "tables").items["item_id"]]
    report = reports.get(choice.split)
    if target is not None:
        target = Path(target)
        (target / "README.md").unlink(missing_ok=True)  # save_pretrained keeps an existing card
        model.save_pretrained(target, model_card_kwargs={"report": report, "model_key": choice.name,
                                                         "seed": choice.seed})
    return model, choice, {"report": report, "model_key": choice.name, "seed": choice.seed}
