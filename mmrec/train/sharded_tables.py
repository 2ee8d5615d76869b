"""CTR embedding tables sharded across processes with TorchRec (the optional ``torchrec`` extra; README
"Scaling CTR tables").

A zoo model's flat categorical fields move from the feature layer's one packed table into a TorchRec
``EmbeddingBagCollection`` (one table per field, the same rows: local index 0 = missing, looked up as an empty bag,
so it embeds to zero as the packed table's padding row does). ``DistributedModelParallel`` shards those tables
table-wise or row-wise across the ``torchrun`` ranks and wraps the rest of the model (interaction, head) in DDP.
Each global batch is split evenly over the ranks. The sharded tables train with FBGEMM's fused exact Adagrad, the
only adaptive optimizer its CPU kernels have; the dense part keeps Adam. The same code on one process (world size
1) is the single-process reference, so a comparison changes only the sharding. After training,
:func:`gather_tables` writes the shards back into the feature layer's packed table: the result is a plain zoo model
that saves to the Hub and predicts without TorchRec.

FBGEMM's kernels need the embedding width to be a multiple of 4 (Frappe's BARS width 10 is not: use 8 or 12).
Supported: zoo models whose flat fields are categorical / numeric / frozen embeddings, without first-order
weights or an embedding regulariser (DNN, DCNv2, APG-DNN, ...); anything else is refused by name.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from mmrec.eval.ctr_metrics import auc, logloss
from mmrec.features.layer import FeatureLayer
from mmrec.models.zoo.base import ZooModel

try:  # the optional extra: every name below needs it, and says so when it is missing
    from fbgemm_gpu.split_embedding_configs import EmbOptimType
    from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
    from torchrec.distributed import DistributedModelParallel
    from torchrec.distributed.embedding_types import EmbeddingComputeKernel
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.planner import EmbeddingShardingPlanner, ParameterConstraints, Topology
    TORCHREC_ERROR = ""
except ImportError as exc:  # pragma: no cover - exercised where the extra is absent
    TORCHREC_ERROR = (f"sharded CTR tables need the torchrec extra ({exc}); install it with `make torchrec` "
                      "(README: Scaling CTR tables)")

SHARDINGS = ("table_wise", "row_wise")


@dataclasses.dataclass
class ShardedTrainConfig:
    """Global batch (split over the ranks), learning rates of the dense part (Adam) and the tables (Adagrad)."""

    sharding: str = "table_wise"
    batch_size: int = 4096
    lr: float = 1e-3
    table_lr: float = 0.05
    max_epochs: int = 10
    patience: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sharding not in SHARDINGS:
            raise ValueError(f"sharding '{self.sharding}' is not one of {', '.join(SHARDINGS)}")


class CategoricalBags(nn.Module):
    """The flat categorical fields as a TorchRec collection: (B, F_cat) local indices -> (B, F_cat, d)."""

    def __init__(self, layer: FeatureLayer):
        super().__init__()
        self.fields = list(layer.categorical)
        sizes = [layer.feature_map.entry(name).size for name in self.fields]
        self.bags = EmbeddingBagCollection(tables=[
            EmbeddingBagConfig(name=name, embedding_dim=layer.embed_dim, num_embeddings=size, feature_names=[name])
            for name, size in zip(self.fields, sizes)])

    def forward(self, local: torch.Tensor) -> torch.Tensor:
        present = local > 0
        values = local.t()[present.t()]  # feature-major, as KeyedJaggedTensor lays keys out
        features = KeyedJaggedTensor.from_lengths_sync(keys=self.fields, values=values,
                                                       lengths=present.t().reshape(-1).int())
        pooled = self.bags(features).to_dict()  # select by key: sharded outputs may come back in another order
        return torch.stack([pooled[name] for name in self.fields], 1)


def _check_supported(model: ZooModel) -> None:
    layer = model.features
    unsupported = [e.name for e in layer.multi] + [e.name for e in layer.seqs]
    if TORCHREC_ERROR:
        raise RuntimeError(TORCHREC_ERROR)
    if unsupported or layer.linear is not None or model.config.embedding_regularizer:
        raise ValueError(f"{type(model).__name__}: sharded tables support flat categorical / numeric / embedding "
                         "fields without first-order weights or an embedding regulariser; this model has "
                         + (f"fields {', '.join(unsupported)}" if unsupported else "first-order weights or a "
                            "regulariser"))
    if not layer.categorical:
        raise ValueError(f"{type(model).__name__}: no flat categorical field to shard")
    if layer.embed_dim % 4:
        raise ValueError(f"{type(model).__name__}: embed_dim {layer.embed_dim} is not a multiple of 4, which FBGEMM's "
                         "table kernels need (use 8, 12, 16, ...)")


def _table_entries(dmp: nn.Module):
    """(field name, ShardedTensor) of every sharded table in ``dmp``'s state."""
    for key, value in dmp.state_dict().items():
        if ".bags.embedding_bags." in key:
            yield key.split(".embedding_bags.")[1].removesuffix(".weight"), value


def shard(model: ZooModel, sharding: str, table_lr: float) -> nn.Module:
    """``model`` with its flat categorical tables in a sharded collection (initialised from the packed table, so
    every rank and the single-process run start from the same weights); returns the DMP wrapper to train."""
    _check_supported(model)
    layer = model.features
    initial = {name: layer.field_table(name).detach().clone() for name in layer.categorical}
    layer.categorical_lookup = CategoricalBags(layer)
    layer.table = nn.Embedding(1, layer.embed_dim, padding_idx=0)  # only the shared padding row stays local

    class Sharder(EmbeddingBagCollectionSharder):
        def sharding_types(self, compute_device_type: str) -> list[str]:
            return [sharding]

    sharders = [Sharder(fused_params={"optimizer": EmbOptimType.EXACT_ADAGRAD, "learning_rate": table_lr})]
    constraints = {name: ParameterConstraints(sharding_types=[sharding],
                                              compute_kernels=[EmbeddingComputeKernel.FUSED.value])
                   for name in layer.categorical}
    world = dist.get_world_size()
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=world, compute_device="cpu"),
                                       constraints=constraints)
    plan = planner.collective_plan(model, sharders, dist.GroupMember.WORLD)
    dmp = DistributedModelParallel(model, device=torch.device("cpu"), plan=plan, sharders=sharders)
    with torch.no_grad():
        for name, table in _table_entries(dmp):
            for piece in table.local_shards():
                row, col = piece.metadata.shard_offsets
                rows, cols = piece.tensor.shape
                piece.tensor.copy_(initial[name][row:row + rows, col:col + cols])
    return dmp


def gather_tables(model: ZooModel, dmp: nn.Module) -> ZooModel:
    """Every rank's shards back into one packed table on ``model`` (a plain zoo model again); collective."""
    layer = model.features
    tables = {}
    for name, table in _table_entries(dmp):
        full = torch.zeros(table.size()) if dist.get_rank() == 0 else None
        table.gather(dst=0, out=full)
        tables[name] = full
    rows = max(layer.offsets[name] + layer.feature_map.entry(name).size for name in layer.categorical)
    layer.categorical_lookup = None
    layer.table = nn.Embedding(rows, layer.embed_dim, padding_idx=0)
    if dist.get_rank() == 0:
        with torch.no_grad():
            layer.table.weight.zero_()
            for name, full in tables.items():
                start = layer.offsets[name]
                layer.table.weight[start:start + full.shape[0]] = full
            layer.table.weight[0].zero_()
    return model


def _rank_rows(n: int, rank: int, world: int) -> slice:
    per = n // world
    return slice(rank * per, (rank + 1) * per)


@torch.no_grad()
def predict_sharded(dmp: nn.Module, inputs: dict[str, torch.Tensor], batch_size: int = 16_384) -> np.ndarray:
    """Click probabilities of every row, each rank scoring an equal part (the remainder rows, fewer than the world
    size, are scored by every rank as a last batch); gathered on every rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    n = next(iter(inputs.values())).shape[0]
    part = _rank_rows(n, rank, world)
    _sync_buffers(dmp)
    dmp.eval()
    local = [torch.sigmoid(dmp({k: v[part][i:i + batch_size] for k, v in inputs.items()}))
             for i in range(0, part.stop - part.start, batch_size)]
    local = torch.cat(local) if local else torch.zeros(0)
    pieces = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(pieces, local)
    rest = torch.sigmoid(dmp({k: v[world * (n // world):] for k, v in inputs.items()})) if n % world else None
    return torch.cat(pieces + ([rest] if rest is not None else [])).numpy()


@dataclasses.dataclass
class ShardedTrainResult:
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, float]]
    samples_per_s: float  # global training samples per second of the optimiser steps


def train_sharded(model: ZooModel, train: dict[str, torch.Tensor], valid: dict[str, torch.Tensor],
                  config: ShardedTrainConfig) -> tuple[nn.Module, ShardedTrainResult]:
    """Fit ``model`` with sharded tables inside an initialised process group (every rank calls it with the same
    data and seed); early stopping on validation AUC with the best epoch's weights restored."""
    rank, world = dist.get_rank(), dist.get_world_size()
    labels = {"train": train[model.label].float(), "valid": valid[model.label].numpy()}
    inputs = {split: model.features.pack({k: v for k, v in data.items() if k not in model.feature_map.labels})
              for split, data in (("train", train), ("valid", valid))}
    dmp = shard(model, config.sharding, config.table_lr)
    dense = [p for name, p in dmp.named_parameters() if ".bags." not in name]
    optimiser = torch.optim.Adam(dense, lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    n = labels["train"].shape[0]
    best, best_epoch, bad, best_state, history, step_seconds = -1.0, 0, 0, None, [], 0.0
    for epoch in range(config.max_epochs):
        dmp.train()
        order = torch.randperm(n, generator=generator)
        tick = time.perf_counter()
        for start in range(0, n - world + 1, config.batch_size):
            idx = order[start:start + config.batch_size]
            idx = idx[:(len(idx) // world) * world][rank * (len(idx) // world):(rank + 1) * (len(idx) // world)]
            loss = F.binary_cross_entropy_with_logits(dmp({k: v[idx] for k, v in inputs["train"].items()}),
                                                      labels["train"][idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # the fused table optimizer steps inside backward
            optimiser.step()
        step_seconds += time.perf_counter() - tick
        probs = predict_sharded(dmp, inputs["valid"])
        metrics = {"epoch": epoch, "AUC": auc(labels["valid"], probs), "LogLoss": logloss(labels["valid"], probs)}
        history.append(metrics)
        if metrics["AUC"] > best + 1e-6:
            best, best_epoch, bad = metrics["AUC"], epoch, 0
            best_state = _snapshot(dmp)
        else:
            bad += 1
            if bad >= config.patience:
                break
    if best_state is not None:
        _restore(dmp, best_state)
    kept = history[best_epoch]
    return dmp, ShardedTrainResult(best_epoch, {"AUC": kept["AUC"], "LogLoss": kept["LogLoss"]}, history,
                                   len(history) * n / max(step_seconds, 1e-9))


def _sync_buffers(dmp: nn.Module) -> None:
    """Rank 0's dense buffers (BatchNorm running statistics) on every rank: each rank updates its own in training
    and restores its own snapshot, so without this the ranks would score with different statistics."""
    for name, buffer in dmp.named_buffers():
        if ".bags." not in name and buffer.is_floating_point():
            dist.broadcast(buffer, 0)


def _snapshot(dmp: nn.Module) -> dict[str, list[torch.Tensor]]:
    """This rank's copy of every weight: dense tensors whole, sharded tables as their local shards."""
    out = {}
    for key, value in dmp.state_dict().items():
        shards = value.local_shards() if hasattr(value, "local_shards") else None
        out[key] = [s.tensor.detach().clone() for s in shards] if shards is not None else [value.detach().clone()]
    return out


@torch.no_grad()
def _restore(dmp: nn.Module, state: dict[str, list[torch.Tensor]]) -> None:
    for key, value in dmp.state_dict().items():
        shards = value.local_shards() if hasattr(value, "local_shards") else None
        targets = [s.tensor for s in shards] if shards is not None else [value]
        for target, saved in zip(targets, state[key]):
            target.copy_(saved)
