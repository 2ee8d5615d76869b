"""DPN's two-step fit: self-supervised pattern denoising (:meth:`~mmrec.models.zoo.dpn.DPN.denoising_loss`) on
the training rows' histories, then the ordinary CTR fit (:func:`~mmrec.train.fields.train_fields`).

``pretrain_epochs`` and ``pretrain_lr`` come from the model's config, so ``train_dpn`` has the signature of every
fields trainer and the catalogue row needs nothing else; ``pretrain_epochs: 0`` is DPN without pre-training.
"""

from __future__ import annotations

import torch

from mmrec.models.zoo.dpn import DPN
from mmrec.train.fields import FieldTrainConfig, FieldTrainResult, seed_all, train_fields


def pretrain_patterns(model: DPN, train: dict[str, torch.Tensor], epochs: int, lr: float, batch_size: int,
                      seed: int = 0) -> list[float]:
    """Denoising epochs with Adam on every parameter (embeddings included); mean loss per epoch."""
    seed_all(seed)
    generator = torch.Generator().manual_seed(seed)
    inputs = model.features.pack({k: v for k, v in train.items() if k not in model.feature_map.labels})
    n = next(iter(inputs.values())).shape[0]
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(epochs):
        order, total = torch.randperm(n, generator=generator), []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss = model.denoising_loss({k: v[idx] for k, v in inputs.items()}, generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total.append(float(loss.detach()))
        losses.append(sum(total) / max(len(total), 1))
    return losses


def train_dpn(model: DPN, train: dict[str, torch.Tensor], valid: dict[str, torch.Tensor],
              config: FieldTrainConfig) -> FieldTrainResult:
    """Pre-train the pattern refinement by denoising (the model config's epochs and lr), then fit on clicks."""
    if config.threads:
        torch.set_num_threads(config.threads)
    if model.config.pretrain_epochs:
        pretrain_patterns(model, train, model.config.pretrain_epochs, model.config.pretrain_lr,
                          config.batch_size, config.seed)
    return train_fields(model, train, valid, config)
