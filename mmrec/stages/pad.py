"""``pad``: PAD's triple experts on each sequential split, for every seed, from the ``align`` stage's towers.

Per (split, seed, row): the ID expert (a copy of the ``train_seq`` anchor), the aligned expert (the row's tower)
and a fresh content expert, mixed by the frequency gate and fine-tuned with the recommendation loss; tested once
with the best-validation weights, which are saved with ``save_pretrained`` under
``models/<split>/<row>/seed<seed>/`` (what ``mmrec push`` and ``mmrec.hub.load_model`` read). Rows are ``pad`` and
``pad_<ablation>`` for each of ``pad.ablations``; seeds are summarised as mean ± std like every other row of the
report.
"""

from __future__ import annotations

import dataclasses
import logging

from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.io import write_json
from mmrec.models.aligned_tower import AlignedTower
from mmrec.pipeline import Stage, StageContext
from mmrec.stages.align import ContentCache, content_dir, content_fingerprint, load_anchor, sequential_splits
from mmrec.stages.sequential import summarise
from mmrec.train.pad import tower_key, train_pad, variants

log = logging.getLogger("mmrec")


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    if not cfg.pad.enabled:
        write_json(ctx.out / "results.json", {})
        return
    name, bcfg = cfg.pad.backbone, cfg.train.models.get(cfg.pad.backbone)
    rows = variants(cfg.pad)
    results: dict[str, dict] = {}
    for split_name, split in sequential_splits(cfg, ctx.inputs["prepare"]).items():
        content = ContentCache(content_dir(ctx), split.n_items)
        per_row: dict[str, list[dict]] = {row: [] for row in rows}
        for seed in cfg.seeds:
            anchor = load_anchor(cfg, ctx.inputs["train_seq"], split_name, split.n_items, seed)
            for row, settings in rows.items():
                tower = AlignedTower.from_pretrained(
                    ctx.inputs["align"] / "towers" / split_name / tower_key(settings) / f"seed{seed}")
                model = train_pad(anchor, tower, name, bcfg, content(settings.content), split, settings, cfg.train,
                                  seed)
                per_row[row].append(evaluate(model, ranking_cases(split, "test"), split.item_train_counts(),
                                             cfg.eval))
                model.save_pretrained(ctx.out / "models" / split_name / row / f"seed{seed}")
        for row, per_seed in per_row.items():
            summary = summarise(per_seed)
            summary["seeds"], summary["config"] = cfg.seeds, dataclasses.asdict(rows[row])
            summary["per_seed"] = [{"seed": s, "NDCG@10": r["overall"]["NDCG@10"]} for s, r in zip(cfg.seeds, per_seed)]
            results.setdefault(split_name, {})[row] = summary
    write_json(ctx.out / "results.json", results)


STAGE = Stage(name="pad", run=run, needs=("prepare", "encode", "train_seq", "align"), sections=("seeds", "eval", "train", "pad"),
              version="2", fingerprint=content_fingerprint)
