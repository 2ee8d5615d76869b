"""Run under torchrun: a zoo DNN on Frappe with its categorical tables sharded by TorchRec; rank 0 writes JSON.

    torchrun --nproc_per_node=N tests/distributed/sharded_worker.py OUT.json ROWS EPOCHS BATCH [SEED]

Trains once per sharding (table-wise, row-wise) from the same seeded start. ROWS > 0 trains on the first ROWS
rows of the seeded re-split's train part (the test's reduced run). Per sharding the result holds the validation
history, the test AUC scored by the sharded model and by the gathered plain model, and the training throughput.
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import yaml

from mmrec.data.frappe import load_frappe, resplit
from mmrec.eval.ctr_metrics import auc
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.train.fields import evaluate, seed_all
from mmrec.train.sharded_tables import SHARDINGS, ShardedTrainConfig, gather_tables, predict_sharded, train_sharded

REPO = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    out, rows, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    frame = load_frappe(Path(os.environ["MMREC_DATA"]) / "frappe")
    parts = resplit(frame, seed=0)
    if rows:
        parts = {"train": parts["train"].iloc[:rows], "valid": parts["valid"].iloc[:rows // 8],
                 "test": parts["test"].iloc[:rows // 8]}
    fields = parse_fields(yaml.safe_load((REPO / "recipes" / "frappe.yaml").read_text())["features"])
    fmap = FeatureMap.fit(fields, frame_chunks(parts["train"]))
    data = {name: fmap.encode(part) for name, part in parts.items()}
    runs = {}
    for sharding in SHARDINGS:
        seed_all(seed)
        model = DNN(DNNConfig(embed_dim=8, hidden_units=[200, 200], dropout=0.0, embedding_regularizer=0.0), fmap)
        dmp, result = train_sharded(model, data["train"], data["valid"], ShardedTrainConfig(
            sharding=sharding, batch_size=batch, max_epochs=epochs, seed=seed))
        test_inputs = model.features.pack({k: v for k, v in data["test"].items() if k != "label"})
        sharded_probs = predict_sharded(dmp, test_inputs)
        plain = gather_tables(model, dmp)
        if dist.get_rank() == 0:
            runs[sharding] = {"history": result.history, "best_epoch": result.best_epoch, "valid": result.best_valid,
                              "test": evaluate(plain, data["test"]),
                              "test_sharded_auc": auc(data["test"]["label"].numpy(), sharded_probs),
                              "samples_per_s": result.samples_per_s}
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps({"world_size": dist.get_world_size(), "seed": seed, "rows": rows,
                                         "batch_size": batch, "runs": runs}, indent=1))
    dist.destroy_process_group()
