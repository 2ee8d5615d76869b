"""Diff-MSIN (METHODS.md §3) on the typed feature layer: the CTRBatch model's modules over the feature layer's
item vectors, the flat fields and a richer behaviour sequence.

Modalities per item: the ID (the item field's embedding, or the triple-expert mix with ``item_side: triple``) and
each content field of ``modalities`` (frozen vectors, L2-normalised and projected, masked where missing;
:mod:`mmrec.models.zoo.item_content`). Over the behaviours: MFE (specific experts per modality, a common expert
on their mean), SRC (the cross-modal denoiser of :class:`~mmrec.models.ctr.diff_msin.SynergyDiffusion`: it starts
where ᾱ ≥ 0.9 on layer-normalised states, noise is drawn only in its ε loss, one deterministic path in training
and evaluation), the synergy state, FDAF (channel mixer, target attention per channel, target-gated fusion).
The head (DNN tower) reads every flat field, a DIN interest over the behaviours' target fields (item and
category: the DIN activation unit with Dice), the fused channel interests and the target's common vector.
Loss = BCE + ``decouple_weight`` · L_dec + ``eps_weight`` · ε-MSE, the auxiliary terms of the last training forward.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from mmrec.models.ctr.diff_msin import ChannelMixer, Expert, SynergyDiffusion, decoupling_loss, synergy_channels
from mmrec.models.ctr.diff_msin import TargetAttention as ChannelAttention
from mmrec.features.layer import FieldEmbeddings
from mmrec.models.ctr.layers import mlp as plain_mlp
from mmrec.models.zoo.base import ZooModel, mlp
from mmrec.models.zoo.din import TargetAttention
from mmrec.models.zoo.history import HistoryReader
from mmrec.models.zoo.item_content import ItemContent, ItemContentConfig


@dataclasses.dataclass
class DiffMSINConfig(ItemContentConfig):
    expert_hidden: int = 64
    use_src: bool = True
    diffusion_steps: int = 12  # T of the cosine schedule
    inference_steps: int = 12
    start_alpha_bar: float = 0.9  # SRC keeps the steps with ᾱ >= this (SynergyDiffusion's decision)
    decouple_weight: float = 0.1
    eps_weight: float = 0.1  # ε-prediction MSE of SRC, on by default; 0 turns it off
    include_target_content: bool = True  # the target's common (content) vector also enters the head
    attention_units: list[int] = dataclasses.field(default_factory=lambda: [64])  # the DIN interest's unit


@dataclasses.dataclass
class ModalityInputs:
    """Per modality (ID first): target (B, d) and behaviour (B, H, d) vectors, which items have that modality,
    and the behaviours' key masks (real event and vector present)."""

    target: list[torch.Tensor]
    target_present: list[torch.Tensor]
    history: list[torch.Tensor]
    history_present: list[torch.Tensor]
    key_masks: list[torch.Tensor]


class DiffMSIN(ZooModel):
    model_type = "zoo_diff_msin"
    config_class = DiffMSINConfig

    def __init__(self, config: DiffMSINConfig, feature_map, pretrained=None, item_counts: torch.Tensor | None = None):
        super().__init__(config, feature_map, pretrained)
        self.history = HistoryReader(self.features, config)
        self.items = ItemContent(self.features, self.history, config, item_counts)
        if not self.items.modalities:
            raise ValueError("Diff-MSIN needs at least one content modality (an embedding field keyed by the item)")
        if self.items.triple is not None:
            self.register_buffer("item_counts", self.items.triple.item_counts.clone())  # Hub hands it back on load
        d, n_mod = config.embed_dim, 1 + len(self.items.modalities)
        self.specific = nn.ModuleList(Expert(d, config.expert_hidden) for _ in range(n_mod))
        self.common = Expert(d, config.expert_hidden)
        self.synergy = plain_mlp([n_mod * d, config.expert_hidden, d], activation=nn.GELU)
        self.src = (SynergyDiffusion(n_mod, d, config.diffusion_steps, config.inference_steps, config.start_alpha_bar)
                    if config.use_src else None)
        self.n_channels = n_mod + 2  # specific experts, common expert, synergy
        self.mixer = ChannelMixer(d)
        self.channel_attention = nn.ModuleList(ChannelAttention(d) for _ in range(self.n_channels))
        self.fusion_gate = nn.Linear(self.n_channels * d + d, self.n_channels)
        self.id_attention = TargetAttention(self.history.width, config.attention_units)
        head = (self.features.num_fields * d + self.history.width + self.n_channels * d
                + (d if config.include_target_content else 0))
        self.tower = mlp(head, config)
        self._aux: dict[str, torch.Tensor] = {}

    def modality_inputs(self, batch: dict[str, torch.Tensor], emb: FieldEmbeddings, mask: torch.Tensor
                        ) -> ModalityInputs:
        t_id, h_id = self.items.ids(emb, batch)
        t_content, t_present, h_content, h_present = self.items.content(batch)
        return ModalityInputs([t_id, *t_content.unbind(1)], [torch.ones_like(t_present[:, 0]), *t_present.unbind(1)],
                              [h_id, *h_content.unbind(2)], [torch.ones_like(mask), *h_present.unbind(2)],
                              [mask, *(mask & p for p in h_present.unbind(2))])

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = self.features.pack(batch)
        emb = self.features(batch)
        keys, mask = self.history.behaviours(emb)
        x = self.modality_inputs(batch, emb, mask)
        key_masks = x.key_masks
        flat, target, keys = self.items.swap(emb, self.history.target(emb), keys, x.target[0], x.history[0])
        hist_channels, eps = synergy_channels(self.specific, self.common, self.synergy, self.src, x.history,
                                              x.history_present, key_masks, self.config.eps_weight > 0)
        tgt_channels, _ = synergy_channels(self.specific, self.common, self.synergy, None, x.target,
                                           x.target_present, None, False)
        channel_masks = key_masks + [mask, mask]
        hist = self.mixer(torch.stack(hist_channels, -2))  # (B, H, C, d)
        tgt = self.mixer(torch.stack(tgt_channels, -2))  # (B, C, d)
        interests = torch.stack([attend(tgt[:, c], hist[:, :, c], channel_masks[c])
                                 for c, attend in enumerate(self.channel_attention)], 1)  # (B, C, d)
        gates = torch.softmax(self.fusion_gate(torch.cat([interests.flatten(1), x.target[0]], -1)), -1)
        parts = [flat.flatten(1), self.id_attention(target, keys, mask), (interests * gates.unsqueeze(-1)).flatten(1)]
        if self.config.include_target_content:
            parts.append(tgt_channels[-2])  # the target's common expert vector
        if self.training:
            self._aux = {"decouple": decoupling_loss(hist_channels, channel_masks)}
            if eps is not None:
                self._aux["eps"] = eps
        return self.tower(torch.cat(parts, -1)).squeeze(-1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": BCE + λ·½‖E‖² + decouple_weight · L_dec + eps_weight · ε-MSE, "bce", "decouple", "eps"}``
        with the auxiliary terms of the training forward that produced ``logits`` (none after an eval forward)."""
        out = super().loss(logits, labels)
        weights = {"decouple": self.config.decouple_weight, "eps": self.config.eps_weight}
        aux, self._aux = self._aux, {}
        for name, value in aux.items():
            out[name] = value
            if weights[name]:
                out["loss"] = out["loss"] + weights[name] * value
        return out
