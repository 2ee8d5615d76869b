"""FuxiCTR's side of ``bench_fuxictr.py``: run in FuxiCTR's own virtualenv, never imported by mmrec.

Builds FuxiCTR's encoded data once from the given train / valid / test CSVs (its own vocabularies, fitted on
train; Ray on one CPU), re-saves it as its npz format (read by its ``NpzDataLoader``, ``num_workers`` 0), then
trains the model-zoo class per seed and prints one JSON line per seed: test AUC / LogLoss, epochs, fit seconds.

  RAY_TMPDIR=/tmp/fuxictr-ray OMP_NUM_THREADS=1 /tmp/fuxictr-venv/bin/python benchmarks/fuxictr_side.py \
      --data DIR --work DIR --zoo /tmp/fuxictr-zoo --model DeepFM --seeds 0 1 2 --params '{...}'
"""

import argparse
import json
import logging
import os
import sys
import time

import numpy as np
import pandas as pd
import ray
import torch

ZOO_DIRS = {"DeepFM": "DeepFM/DeepFM_torch", "DCNv2": "DCNv2", "DNN": "DNN/DNN_torch", "LR": "LR", "FM": "FM"}
FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]


def build(data: str, work: str, dataset_id: str, settings: dict) -> tuple:
    from fuxictr.features import FeatureMap
    from fuxictr.preprocess import FeatureProcessor, build_dataset

    params = {"dataset_id": dataset_id, "data_root": work, "data_format": "csv",
              "train_data": f"{data}/train.csv", "valid_data": f"{data}/valid.csv", "test_data": f"{data}/test.csv",
              "min_categr_count": 1,
              "feature_cols": [{"name": FIELDS, "active": True, "dtype": "str", "type": "categorical"}],
              "label_col": {"name": "label", "dtype": "float"}}
    data_dir = os.path.join(work, dataset_id)
    if not os.path.exists(os.path.join(data_dir, "valid.npz")):
        ray.init(num_cpus=1, include_dashboard=False, logging_level=logging.ERROR)
        encoder = FeatureProcessor(**params)
        paths = build_dataset(encoder, **params)
        for split, path in zip(("train", "valid", "test"), paths):
            frame = pd.read_parquet(path)
            np.savez(os.path.join(data_dir, f"{split}.npz"), **{c: frame[c].to_numpy() for c in frame.columns})
        ray.shutdown()
    feature_map = FeatureMap(dataset_id, data_dir)
    feature_map.load(os.path.join(data_dir, "feature_map.json"), {**params, **settings})
    return feature_map, data_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--zoo", default="/tmp/fuxictr-zoo")
    ap.add_argument("--model", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--params", required=True, help="JSON: the model / training settings")
    args = ap.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, os.path.join(args.zoo, ZOO_DIRS[args.model]))
    import src  # the peer's model_zoo entry
    from fuxictr.pytorch.dataloaders import RankDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    settings = json.loads(args.params)
    feature_map, data_dir = build(args.data, args.work, "frappe_" + os.path.basename(args.data.rstrip("/")), settings)
    for seed in args.seeds:
        params = {"model": args.model, "gpu": -1, "loss": "binary_crossentropy", "metrics": ["logloss", "AUC"],
                  "task": "binary_classification", "optimizer": "adam", "monitor": "AUC", "monitor_mode": "max",
                  "model_root": os.path.join(args.work, "checkpoints"), "verbose": 0, "save_best_only": True,
                  "eval_steps": None, "shuffle": True, "data_format": "npz", "num_workers": 0,
                  "train_data": f"{data_dir}/train.npz", "valid_data": f"{data_dir}/valid.npz",
                  "test_data": f"{data_dir}/test.npz", "seed": seed, "model_id": f"{args.model}_seed{seed}",
                  **settings}
        os.makedirs(os.path.join(params["model_root"], feature_map.dataset_id), exist_ok=True)
        seed_everything(seed=seed)
        model = getattr(src, args.model)(feature_map, **params)
        train_gen, valid_gen = RankDataLoader(feature_map, stage="train", **params)
        started = time.perf_counter()
        model.fit(train_gen, validation_data=valid_gen, **params)
        fit_seconds = time.perf_counter() - started
        test = model.evaluate(RankDataLoader(feature_map, stage="test", **params))
        epochs = model._epoch_index + 1
        print(json.dumps({"side": "fuxictr", "model": args.model, "seed": seed, "test_AUC": test["AUC"],
                          "test_LogLoss": test["logloss"], "epochs": epochs, "fit_seconds": fit_seconds,
                          "samples_per_s": epochs * train_gen.num_samples / fit_seconds}), flush=True)


if __name__ == "__main__":
    main()
