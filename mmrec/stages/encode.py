"""``encode``: item embeddings per encoder (text, image, LLM), frozen or LoRA-tuned, with missing-modality masks.

Writes ``<name>.safetensors`` per encoder holding ``embeddings`` (N+1, d) float32 (row 0 = padding zeros) and
``mask`` (N+1,) bool, plus ``encode.json`` (dims, counts, timings). Embeddings are cached across runs
(``<run>/cache/embeddings``) keyed by model weights, pooling, adapter and item inputs, so changing an unrelated
setting re-uses them. LoRA tuning learns from co-interactions that are training data in every split. Under
torchrun every rank encodes its own contiguous block of items and the blocks are all-gathered. With
``encode.workers`` > 1 (single process) the encoders run in that many worker processes at once, slowest first.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from mmrec.core.config import ConfigError
from mmrec.core.io import write_json
from mmrec.core.parallel import run_in_workers
from mmrec.data.prepared import load_prepared
from mmrec.data.splits import shared_training_sequences, user_sequences
from mmrec.data.tables import Tables, numpy_columns
from mmrec.pipeline import Stage, StageContext
from mmrec.recipe import EncoderSpec
from mmrec.train import distributed

log = logging.getLogger("mmrec")


def co_interaction_pairs(sequences: list[np.ndarray]) -> np.ndarray:
    """Consecutive item pairs of the sequences, as 0-based item rows (item_idx - 1), shape (n, 2)."""
    pairs = [np.stack([s[:-1], s[1:]], axis=1) for s in sequences if len(s) > 1]
    return (np.concatenate(pairs) - 1) if pairs else np.zeros((0, 2), dtype=np.int64)


def encoder_inputs(tables: Tables, kind: str) -> list[str | None]:
    """What each item is encoded from: its text, or its image path relative to the dataset root."""
    if kind == "image":
        return [p if ok else None for p, ok in zip(tables.items["image_path"], tables.items["has_image"])]
    return [t if t else None for t in tables.items["text"]]


def _build(spec: EncoderSpec, name: str, tables: Tables):
    from encoders import build_encoder

    options = dict(spec.options)
    if spec.kind == "image":
        options.setdefault("root", tables.root)
    try:
        return build_encoder(spec.kind, model=spec.model, tuning=spec.tuning, lora=spec.lora, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"encode.encoders.{name}: {exc}") from None


def encode_sharded(encoder, inputs: list[str | None], cache_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """All items' (embeddings, mask); with several ranks each encodes (and caches) its block, then all-gather."""
    from encoders import cached_encode

    group = distributed.context()
    if group.world_size == 1:
        encoded = cached_encode(encoder, inputs, cache_dir, name)
        return encoded.emb, encoded.mask
    rows = distributed.shard_indices(len(inputs), group.rank, group.world_size)
    part = cached_encode(encoder, [inputs[i] for i in rows], cache_dir,
                         f"{name}-shard{group.rank}of{group.world_size}")
    emb = distributed.all_gather_rows(torch.from_numpy(np.ascontiguousarray(part.emb)), len(inputs))
    mask = distributed.all_gather_rows(torch.from_numpy(part.mask.astype(np.uint8)), len(inputs))
    return emb.numpy(), mask.numpy().astype(bool)


def encode_one(cfg, prepared: str, out: str, cache_dir: str, name: str) -> dict:
    """Build, (LoRA-tune,) run and save one encoder: ``<out>/<name>.safetensors``; returns its ``encode.json``
    entry. Module-level and path-based, so a worker process can run it (``encode.workers``)."""
    from encoders import tune_lora

    spec = cfg.encode.encoders[name]
    tables, splits = load_prepared(prepared)
    start = time.perf_counter()
    encoder = _build(spec, name, tables)
    inputs = encoder_inputs(tables, spec.kind)
    tuned = None
    if spec.tuning == "lora" and not spec.lora.get("adapter"):
        users, items, stamps, order = numpy_columns(tables.interactions, "user_idx", "item_idx", "timestamp",
                                                    "order")
        shared = shared_training_sequences(user_sequences(users, items, stamps, order, tables.n_users),
                                           list(splits.values()))
        pairs = co_interaction_pairs(shared)
        log.info("encode %s: LoRA tuning on %d co-interaction pairs", name, len(pairs))
        tuned = tune_lora(encoder, inputs, pairs=pairs, adapter_dir=Path(out) / f"{name}-adapter")
    log.info("encode %s: %s encoder over %d items", name, spec.kind, len(inputs))
    item_emb, item_mask = encode_sharded(encoder, inputs, Path(cache_dir) / name, name)
    emb = np.zeros((len(inputs) + 1, item_emb.shape[1]), dtype=np.float32)
    mask = np.zeros(len(inputs) + 1, dtype=bool)
    emb[1:], mask[1:] = item_emb, item_mask
    save_file({"embeddings": torch.from_numpy(emb), "mask": torch.from_numpy(mask)},
              str(Path(out) / f"{name}.safetensors"))
    return {"kind": spec.kind, "model": spec.model or "default", "tuning": spec.tuning,
            "dim": int(emb.shape[1]), "n_present": int(mask.sum()), "n_missing": int((~mask[1:]).sum()),
            "seconds": round(time.perf_counter() - start, 2),
            **({"lora_loss_first": tuned.losses[0], "lora_loss_last": tuned.losses[-1]} if tuned else {})}


COST_ORDER = {"llm": 0, "image": 1, "text": 2}  # slowest first, so parallel workers finish close together


def run(ctx: StageContext) -> None:
    cfg = ctx.cfg
    cache_dir = str(cfg.encode.cache_dir or ctx.run_dir / "cache" / "embeddings")
    names = list(cfg.encode.encoders)
    workers = distributed.local_workers(cfg.encode.workers)  # torchrun: the ranks share the items instead
    order = sorted(names, key=lambda n: COST_ORDER.get(cfg.encode.encoders[n].kind, 3)) if workers > 1 else names
    tasks = [(cfg, str(ctx.inputs["prepare"]), str(ctx.out), cache_dir, name) for name in order]
    entries = dict(zip(order, run_in_workers(encode_one, tasks, workers)))
    write_json(ctx.out / "encode.json", {name: entries[name] for name in names})


STAGE = Stage(name="encode", run=run, needs=("prepare",), sections=("encode",), version="1", distributed=True)
