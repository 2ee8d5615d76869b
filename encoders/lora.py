"""LoRA tuning (peft) of any encoder towards collaborative signal.

The encoder's backbone gets LoRA adapters and a small projection head; both are trained with in-batch
InfoNCE between the tuned item embedding and a target collaborative embedding per item, or, when no such
embeddings exist, between the two items of co-interaction pairs. Adapters are saved in peft's own format;
after tuning the adapter is merged into the backbone, so encoding costs the same as a frozen encoder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import load_file, save_file
from torch import nn

from encoders.base import Encoder
from encoders.lora_settings import LoraSettings
from encoders.hashing import sha256_tensors

HEAD_WEIGHTS = "head.safetensors"
HEAD_CONFIG = "head.json"


@dataclass
class TuneResult:
    """Loss per step and the trained projection head (encoder dim -> target dim)."""

    losses: list[float] = field(default_factory=list)
    head: nn.Module | None = None


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Two-layer GELU MLP mapping encoder embeddings into the target space."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric in-batch InfoNCE on cosine similarity: row i of `queries` should pick row i of `keys`."""
    logits = F.normalize(queries, dim=-1) @ F.normalize(keys, dim=-1).T / temperature
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def tune_lora(
    encoder: Encoder,
    items: Sequence[str | None],
    *,
    targets: torch.Tensor | np.ndarray | None = None,
    pairs: np.ndarray | None = None,
    settings: LoraSettings | None = None,
    adapter_dir: str | Path | None = None,
    merge: bool = True,
) -> TuneResult:
    """Tune LoRA adapters + head on `items`; `targets` (n_items, d) or else `pairs` (n_pairs, 2) item indices.

    Saves the adapter and head to `adapter_dir` when given; merges the adapter into the encoder unless
    `merge=False` (then call `merge_lora`). Base weights and normalisation statistics stay untouched.
    """
    cfg = settings or encoder.lora or LoraSettings()
    present = np.array([encoder.is_present(it) for it in items], dtype=bool)
    if targets is not None:
        target = torch.as_tensor(np.asarray(targets), dtype=torch.float32).to(encoder.device)
        if target.shape[0] != len(items):
            raise ValueError(f"targets has {target.shape[0]} rows for {len(items)} items")
        pool = np.flatnonzero(present)
        out_dim = int(target.shape[1])
    elif pairs is not None:
        pair_array = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        pool = pair_array[present[pair_array].all(axis=1)]
        out_dim = cfg.proj_dim
    else:
        raise ValueError("LoRA tuning needs collaborative target embeddings or co-interaction pairs")
    if len(pool) < 2:
        raise ValueError("LoRA tuning needs at least two usable items or pairs")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        peft_model = get_peft_model(
            encoder.model,
            LoraConfig(
                r=cfg.r,
                lora_alpha=cfg.alpha,
                lora_dropout=cfg.dropout,
                target_modules=cfg.target_modules or encoder.default_lora_targets(),
            ),
        )
        head = projection_head(encoder.dim, cfg.head_hidden, out_dim).to(encoder.device)
        encoder.model = peft_model
        trainable = [p for p in peft_model.parameters() if p.requires_grad] + list(head.parameters())
        optimiser = torch.optim.AdamW(trainable, lr=cfg.lr)
        _train_mode_for_adapters_only(peft_model)
        generator = torch.Generator().manual_seed(cfg.seed)
        result = TuneResult(head=head)
        for _ in range(cfg.steps):
            pick = torch.randperm(len(pool), generator=generator)[: cfg.batch_size].numpy()
            if targets is not None:
                rows = pool[pick]
                loss = info_nce(head(encoder.embed_batch([items[i] for i in rows])), target[rows], cfg.temperature)  # type: ignore[misc]
            else:
                a, b = pool[pick, 0], pool[pick, 1]
                both = head(encoder.embed_batch([items[i] for i in np.concatenate([a, b])]))  # type: ignore[misc]
                loss = info_nce(both[: len(a)], both[len(a) :], cfg.temperature)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            result.losses.append(float(loss.detach()))
    peft_model.eval()
    head.eval()
    if adapter_dir is not None:
        save_adapter(peft_model, head, adapter_dir)
    if merge:
        merge_lora(encoder)
    return result


def _train_mode_for_adapters_only(model: nn.Module) -> None:
    """Backbone in eval mode (frozen dropout and batch-norm statistics), LoRA dropout active."""
    model.eval()
    for name, module in model.named_modules():
        if "lora_dropout" in name:
            module.train()


def save_adapter(peft_model: PeftModel, head: nn.Module, directory: str | Path) -> None:
    """peft's own adapter format (`save_pretrained`) plus the head as safetensors with its shape in JSON."""
    directory = Path(directory)
    peft_model.save_pretrained(str(directory))
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    shape = {"in_dim": linears[0].in_features, "hidden": linears[0].out_features, "out_dim": linears[-1].out_features}
    (directory / HEAD_CONFIG).write_text(json.dumps(shape))
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, str(directory / HEAD_WEIGHTS))


def merge_lora(encoder: Encoder) -> None:
    """Merge the encoder's LoRA adapter into its backbone and record the adapter's hash for cache keys."""
    if not isinstance(encoder.model, PeftModel):
        raise TypeError("encoder has no LoRA adapter to merge")
    encoder.adapter_sha256 = sha256_tensors(get_peft_model_state_dict(encoder.model))
    encoder.model = encoder.model.merge_and_unload()
    encoder.model.eval()


def load_adapter(encoder: Encoder, directory: str | Path) -> nn.Module:
    """Load an adapter saved by `tune_lora`, merge it into the encoder, and return its projection head."""
    directory = Path(directory)
    encoder.model = PeftModel.from_pretrained(encoder.model, str(directory)).to(encoder.device)
    merge_lora(encoder)
    shape = json.loads((directory / HEAD_CONFIG).read_text())
    head = projection_head(shape["in_dim"], shape["hidden"], shape["out_dim"])
    head.load_state_dict(load_file(str(directory / HEAD_WEIGHTS)))
    return head.to(encoder.device).eval()
