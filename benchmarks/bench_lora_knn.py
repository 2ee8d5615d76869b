"""Does LoRA tuning make text embeddings more useful for recommendation? Content k-NN, frozen vs LoRA MiniLM.

Frozen all-MiniLM-L6-v2 embeddings of the ml-100k item texts against the same encoder LoRA-tuned with in-batch
InfoNCE on co-interaction pairs, taken only from interactions that are training data in every split (no
validation or test interaction, no new item). Both feed the same content k-NN baseline, scored on the
leave-one-out **validation** cases (model selection data; the test split is not touched). One run, JSON out.

    python benchmarks/bench_lora_knn.py [--steps 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from encoders import build_encoder, tune_lora
from mmrec.data import load_tables
from mmrec.data.splits import shared_training_sequences, user_sequences
from mmrec.data.tables import numpy_columns
from mmrec.eval.evaluate import evaluate, ranking_cases
from mmrec.models.content_knn import ContentKNN
from mmrec.recipe import load_recipe
from mmrec.stages.encode import co_interaction_pairs, encoder_inputs
from mmrec.stages.prepare import build_splits

REPO = Path(__file__).resolve().parents[1]


def knn_valid(emb: np.ndarray, split, cfg) -> dict:
    content = torch.zeros(len(emb) + 1, emb.shape[1])
    content[1:] = torch.from_numpy(emb)
    result = evaluate(ContentKNN(content), ranking_cases(split, "valid"), split.item_train_counts(), cfg.eval)
    return {m: result["overall"][m] for m in ("HR@10", "NDCG@10", "MRR@10")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "lora_knn.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_recipe(REPO / "recipes" / "ml-100k.yaml")
    tables = load_tables(cfg.data)
    splits = build_splits(tables, cfg)
    loo = splits["leave-one-out"]
    texts = encoder_inputs(tables, "text")
    users, items, stamps, order = numpy_columns(tables.interactions, "user_idx", "item_idx", "timestamp", "order")
    shared = shared_training_sequences(user_sequences(users, items, stamps, order, tables.n_users),
                                       list(splits.values()))
    pairs = co_interaction_pairs(shared)

    out: dict = {"n_pairs": int(len(pairs)), "steps": args.steps, "load_avg_start": os.getloadavg()}
    tick = time.perf_counter()
    frozen = build_encoder("text", normalize=True).encode(texts)
    out["frozen"] = {**knn_valid(frozen.emb, loo, cfg), "encode_s": time.perf_counter() - tick}

    tick = time.perf_counter()
    encoder = build_encoder("text", normalize=True, tuning="lora", lora={"steps": args.steps, "seed": 0})
    tuned = tune_lora(encoder, texts, pairs=pairs)
    tune_s = time.perf_counter() - tick
    lora = encoder.encode(texts)
    out["lora"] = {**knn_valid(lora.emb, loo, cfg), "tune_s": tune_s, "loss_first10": float(np.mean(tuned.losses[:10])),
                   "loss_last10": float(np.mean(tuned.losses[-10:])), "total_s": time.perf_counter() - tick}
    out["ndcg10_ratio_lora_over_frozen"] = out["lora"]["NDCG@10"] / out["frozen"]["NDCG@10"]
    out["load_avg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'encoder':8} {'HR@10':>8} {'NDCG@10':>8} {'MRR@10':>8}   (content k-NN, ml-100k leave-one-out validation)")
    for name in ("frozen", "lora"):
        r = out[name]
        print(f"{name:8} {r['HR@10']:8.4f} {r['NDCG@10']:8.4f} {r['MRR@10']:8.4f}")
    print(f"LoRA loss {out['lora']['loss_first10']:.3f} -> {out['lora']['loss_last10']:.3f} over {args.steps} steps "
          f"on {len(pairs)} pairs; NDCG@10 ratio {out['ndcg10_ratio_lora_over_frozen']:.2f}")


if __name__ == "__main__":
    main()
