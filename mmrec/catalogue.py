"""The model catalogue: the one explicit table of every model mmrec trains, in the style of RecBole 3.0's
``MODEL_TABLE``. No import-time registration, no import magic.

A row is a :class:`ModelSpec`: the name a recipe uses, the task (which stage trains it), the model class, its
config dataclass, its trainer (``None`` for models fitted by counting or reading content, which have no seed), and
named variants (config overrides that a recipe names like models and the report shows as rows, e.g. ``moc3``,
``din_mm``, ``pad_no_mmd``). A model class says its own ``model_type`` (what a saved ``config.json`` records);
:func:`model_class` finds a class by it, which is how :func:`mmrec.hub.load_model` loads any saved model.

Adding a model = one file (config dataclass + model class) and one row below; see CONTRIBUTING.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from torch import nn

from mmrec.core.config import ConfigError, from_dict, suggest
from mmrec.ctr.train import train_ctr
from mmrec.models.content_knn import ContentKNN, ContentKNNConfig
from mmrec.models.ctr.deepfm import DeepFM, DeepFMConfig
from mmrec.models.ctr.diff_msin import DiffMSIN, DiffMSINConfig
from mmrec.models.ctr.din import DIN, DINConfig
from mmrec.models.ctr.lr import LogisticRegression, LRConfig
from mmrec.models.gru4rec import GRU4Rec, GRU4RecConfig
from mmrec.models.popularity import Popularity, PopularityConfig
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.models.semantic_sasrec import (
    MultiEmbeddingConfig,
    MultiEmbeddingSASRec,
    SemanticSASRec,
    SemanticSASRecConfig,
)
from mmrec.models.zoo.apg import APGDNN, APGConfig, APGDCNv2, APGDCNv2Config, APGDeepFM
from mmrec.models.zoo.dare import DARE, DAREConfig
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.models.zoo.deepfm import DeepFM as FieldDeepFM
from mmrec.models.zoo.deepfm import DeepFMConfig as FieldDeepFMConfig
from mmrec.models.zoo.dfgr import DFGR, DFGRConfig
from mmrec.models.zoo.dhen import DHEN, DHENConfig
from mmrec.models.zoo.dhen_multitask import DHENMultiTask, DHENMultiTaskConfig
from mmrec.models.zoo.diff_msin import DiffMSIN as FieldDiffMSIN
from mmrec.models.zoo.diff_msin import DiffMSINConfig as FieldDiffMSINConfig
from mmrec.models.zoo.din import DIN as FieldDIN
from mmrec.models.zoo.din import DINConfig as FieldDINConfig
from mmrec.models.zoo.din_mm import DINMM, DINMMConfig
from mmrec.models.zoo.dnn import DNN, DNNConfig
from mmrec.models.zoo.dpn import DPN, DPNConfig
from mmrec.models.zoo.fm import FM, FMConfig
from mmrec.models.zoo.id_pretrain import IDDotProduct, IDPretrainConfig
from mmrec.models.zoo.interleaved import Interleaved
from mmrec.models.zoo.ipa import IPA, PFL, IPAConfig, PFLConfig
from mmrec.models.zoo.lr import LR
from mmrec.models.zoo.lr import LRConfig as FieldLRConfig
from mmrec.models.zoo.multi_embedding import MEDNN, MEConfig, MEDCNv2
from mmrec.models.zoo.multidomain.crocodile import Crocodile, CrocodileConfig
from mmrec.models.zoo.multidomain.me_mmoe import MEMMoE, MEMMoEConfig
from mmrec.models.zoo.multidomain.mmoe import MMoE, MMoEConfig
from mmrec.models.zoo.multidomain.ple import PLE, PLEConfig
from mmrec.models.zoo.multidomain.shared_bottom import SharedBottom, SharedBottomConfig
from mmrec.models.zoo.stem import STEM, STEMConfig
from mmrec.models.zoo.tarq import TARQ, TARQConfig
from mmrec.models.zoo.tim import TIM, TIMConfig
from mmrec.models.zoo.tlsi import TLSI, TLSIConfig
from mmrec.pad.config import PADConfig
from mmrec.pad.model import PAD
from mmrec.pad.tower import AlignedTower
from mmrec.pad.train import align, train_pad
from mmrec.train.fields import train_fields
from mmrec.train.id_pretrain import train_id_pretrain
from mmrec.train.multitask import train_multitask
from mmrec.train.pattern_pretrain import train_dpn
from mmrec.train.sequential import SequentialTrainer

Task = Literal["sequential", "pad", "ctr", "fields"]
_NONE: Mapping[str, Any] = MappingProxyType({})


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named setting of a model: config overrides (the recipe's own values win), and for CTR models whether
    items come through the triple-expert item side (:class:`~mmrec.items.triple.TripleExpertItems`)."""

    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    triple_items: bool = False


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One catalogue row."""

    name: str
    task: Task  # sequential: stage train_seq; pad: stages align / pad; ctr: stage ctr; fields: the feature-layer zoo
    model_class: type[nn.Module]
    config_class: type
    trainer: Callable[..., Any] | None  # None: no training (count / content baselines), evaluated once
    description: str
    variants: Mapping[str, Variant] = dataclasses.field(default_factory=dict)

    @property
    def needs_codes(self) -> bool:
        """Whether the model reads semantic IDs from the quantize stage."""
        return getattr(self.model_class, "needs_codes", False)


def _variants(**rows: Variant) -> Mapping[str, Variant]:
    return MappingProxyType(rows)


MODEL_TABLE: tuple[ModelSpec, ...] = (
    # sequential recommenders (stage train_seq)
    ModelSpec("popularity", "sequential", Popularity, PopularityConfig, None, "most-interacted items first (floor)"),
    ModelSpec("content_knn", "sequential", ContentKNN, ContentKNNConfig, None,
              "cosine of item content to the history's mean"),
    ModelSpec("sasrec", "sequential", SASRec, SASRecConfig, SequentialTrainer, "causal self-attention over item IDs"),
    ModelSpec("gru4rec", "sequential", GRU4Rec, GRU4RecConfig, SequentialTrainer, "GRU over item IDs"),
    ModelSpec("sasrec_sem", "sequential", SemanticSASRec, SemanticSASRecConfig, SequentialTrainer,
              "SASRec over item ID + the semantic IDs of a quantize variant (rq<s>: one residual quantizer with s x "
              "the levels; moc<n>: n Mixture-of-Codes codebooks, each table dim wide; moc<n>_fixed: the code "
              "width held at 252 in total, so more codebooks means narrower tables)",
              _variants(**{f"{kind}{n}": Variant({"variant": f"{kind}{n}"}) for kind in ("rq", "moc")
                           for n in (1, 2, 3, 7)},
                        **{f"moc{n}_fixed": Variant({"variant": f"moc{n}", "code_width": 252}) for n in (1, 2, 3, 7)})),
    ModelSpec("multi_embedding", "sequential", MultiEmbeddingSASRec, MultiEmbeddingConfig, SequentialTrainer,
              "SASRec over n independent ID tables fused like codes: MoC's equal-size baseline (me<k>: k tables, "
              "k = 3 x the codebooks of moc1 / moc3 / moc7)",
              _variants(**{f"me{k}": Variant({"n_tables": k}) for k in (3, 6, 9, 21)})),
    # PAD (stages align, then pad): the aligned tower, then triple experts; ablations are pad_<name> variants
    ModelSpec("aligned_tower", "pad", AlignedTower, PADConfig, align,
              "PAD's align step: a copy of the anchor over GELU(W[e'; P(t)]), trained with L_rec + λ MK-MMD"),
    ModelSpec("pad", "pad", PAD, PADConfig, train_pad, "ID / aligned / content experts mixed by a frequency gate",
              _variants(pad_no_mmd=Variant({"mmd_weight": 0.0}), pad_uniform_gate=Variant({"gate": "uniform"}),
                        pad_user_gate=Variant({"gate": "user"}), pad_text=Variant({"content": ["text"]}),
                        pad_image=Variant({"content": ["image"]}), pad_llm=Variant({"content": ["llm"]}),
                        pad_concat=Variant({"content": ["text", "image", "llm"]}))),
    # CTR models (stage ctr)
    ModelSpec("lr", "ctr", LogisticRegression, LRConfig, train_ctr, "logistic regression on IDs and features"),
    ModelSpec("deepfm", "ctr", DeepFM, DeepFMConfig, train_ctr, "FM + MLP over the feature fields"),
    ModelSpec("din", "ctr", DIN, DINConfig, train_ctr, "target attention over the history",
              _variants(din_mm=Variant({"use_modalities": True}), din_te=Variant(triple_items=True),
                        din_mm_te=Variant({"use_modalities": True}, triple_items=True))),
    ModelSpec("diff_msin", "ctr", DiffMSIN, DiffMSINConfig, train_ctr,
              "diffusion-based multimodal synergy interest network",
              _variants(diff_msin_no_src=Variant({"use_src": False, "eps_weight": 0.0}),
                        diff_msin_no_dec=Variant({"decouple_weight": 0.0}),
                        diff_msin_no_image=Variant({"modalities": ["text"]}),
                        diff_msin_te=Variant(triple_items=True))),
    # CTR models on the typed feature layer (mmrec.features; benchmarks/bench_frappe.py, bench_fuxictr.py)
    ModelSpec("zoo_lr", "fields", LR, FieldLRConfig, train_fields, "logistic regression over every field"),
    ModelSpec("zoo_fm", "fields", FM, FMConfig, train_fields, "factorization machine"),
    ModelSpec("zoo_dnn", "fields", DNN, DNNConfig, train_fields, "MLP over the concatenated field embeddings"),
    ModelSpec("zoo_deepfm", "fields", FieldDeepFM, FieldDeepFMConfig, train_fields, "FM + MLP, shared embeddings"),
    ModelSpec("zoo_dcnv2", "fields", DCNv2, DCNv2Config, train_fields, "full-rank cross network + MLP"),
    ModelSpec("zoo_apg_dnn", "fields", APGDNN, APGConfig, train_fields,
              "DNN whose MLP weights a hypernet adapts per sample (APG: U S(z) V, self- or group-wise)"),
    ModelSpec("zoo_apg_deepfm", "fields", APGDeepFM, APGConfig, train_fields, "DeepFM with an APG tower"),
    # behaviour-sequence models on the feature layer (fields named by mmrec.models.zoo.history.HistoryConfig)
    ModelSpec("zoo_din", "fields", FieldDIN, FieldDINConfig, train_fields,
              "target attention (DIN) over the behaviour sequence + every flat field"),
    # zoo I: APG-DCNv2, IPA / PFL, Multi-Embedding, DHEN (every zoo model: two_logit for the JRC loss)
    ModelSpec("zoo_apg_dcnv2", "fields", APGDCNv2, APGDCNv2Config, train_fields,
              "DCNv2 with an APG tower (static cross network)"),
    ModelSpec("zoo_ipa", "fields", IPA, IPAConfig, train_fields,
              "IPA: interaction function x layer pooling x layer aggregator (FM, DCNv2, FwFM, FmFM as choices)"),
    ModelSpec("zoo_pfl", "fields", PFL, PFLConfig, train_fields,
              "PFL: IPA with projected x cross x concat (the choice bench_zoo13 validates)"),
    ModelSpec("zoo_me_dcnv2", "fields", MEDCNv2, MEConfig, train_fields,
              "Multi-Embedding: M embedding sets, each through its own cross network + ReLU layer, averaged"),
    ModelSpec("zoo_me_dnn", "fields", MEDNN, MEConfig, train_fields, "Multi-Embedding with a ReLU layer per set"),
    ModelSpec("zoo_dhen", "fields", DHEN, DHENConfig, train_fields,
              "DHEN: stacked LayerNorm(ensemble of {MLP, DCN, Transformer, dot, conv} + shortcut) layers, MLP head"),
    # zoo III: multi-domain / multi-task (domain towers, one logit per label; train.dtrain for D-Train), STEM,
    # two-stage ID pre-training
    ModelSpec("zoo_shared_bottom", "fields", SharedBottom, SharedBottomConfig, train_multitask,
              "one shared MLP, then the sample's domain tower"),
    ModelSpec("zoo_mmoe", "fields", MMoE, MMoEConfig, train_multitask, "MLP experts, a softmax gate per domain"),
    ModelSpec("zoo_ple", "fields", PLE, PLEConfig, train_multitask,
              "shared + per-domain experts, progressive layered extraction"),
    ModelSpec("zoo_me_mmoe", "fields", MEMMoE, MEMMoEConfig, train_multitask,
              "MMoE whose expert m reads its own embedding set m"),
    ModelSpec("zoo_crocodile", "fields", Crocodile, CrocodileConfig, train_multitask,
              "ME-MMoE + cross-expert covariance loss + domain-prior element-wise gate"),
    ModelSpec("zoo_stem", "fields", STEM, STEMConfig, train_multitask,
              "shared + per-task embeddings, stop-gradient from each task into the others' (STEM / AME)"),
    ModelSpec("zoo_dhen_multitask", "fields", DHENMultiTask, DHENMultiTaskConfig, train_multitask,
              "DHEN backbone over the fields + a causal sequence token, one head per task, next-action aux loss",
              _variants(zoo_dhen_multitask_no_aux=Variant({"aux_weight": 0.0}))),
    ModelSpec("zoo_id_pretrain", "fields", IDDotProduct, IDPretrainConfig, train_id_pretrain,
              "stage 1 of ID pre-training: user / item tables, dot product, in-batch softmax"),
    # zoo II: DARE, TWIN, TLSI, TIM
    ModelSpec("zoo_dare", "fields", DARE, DAREConfig, train_fields,
              "top-k soft search over a long history with separate attention / representation embeddings (DARE); "
              "zoo_twin: one shared table (TWIN)",
              _variants(zoo_twin=Variant({"decoupled": False}))),
    ModelSpec("zoo_tlsi", "fields", TLSI, TLSIConfig, train_fields,
              "time-aware long-term attention (content + hour / weekday / age terms), a Δt-gated LSTM over recent "
              "behaviours, gated fusion (Time Matters)"),
    ModelSpec("zoo_tim", "fields", TIM, TIMConfig, train_fields,
              "target-aware temporal encoding, attention and representation (TIM, Tencent ads paper)"),
    # zoo II: DPN, TARQ, DFGR
    ModelSpec("zoo_dfgr", "fields", DFGR, DFGRConfig, train_fields,
              "dual-flow (real / fake action) Transformer, masked QKV, one-pass multi-candidate scoring"),
    ModelSpec("zoo_interleaved", "fields", Interleaved, DFGRConfig, train_fields,
              "HSTU-style interleaved item / action tokens (2n long), DFGR's baseline"),
    ModelSpec("zoo_tarq", "fields", TARQ, TARQConfig, train_fields,
              "two-tower pre-ranker, per-user target attention of every residual codeword, distilled from full TA",
              _variants(zoo_tarq_full_ta=Variant({"mode": "target_attention"}),
                        zoo_tarq_two_tower=Variant({"mode": "two_tower"}))),
    ModelSpec("zoo_dpn", "fields", DPN, DPNConfig, train_dpn,
              "target-pattern retrieval, denoising-pre-trained pattern Transformer, target pattern attention",
              _variants(zoo_dpn_no_pretrain=Variant({"pretrain_epochs": 0}))),
    # feature-layer DIN family and Diff-MSIN (*_te: item_side triple, built with item_counts from the training events)
    ModelSpec("zoo_din_mm", "fields", DINMM, DINMMConfig, train_fields,
              "DIN whose target and behaviour vectors also carry the items' frozen content vectors",
              _variants(zoo_din_te=Variant({"modalities": [], "item_side": "triple"}),
                        zoo_din_mm_te=Variant({"item_side": "triple"}))),
    ModelSpec("zoo_diff_msin", "fields", FieldDiffMSIN, FieldDiffMSINConfig, train_fields,
              "Diff-MSIN: modality experts, SRC denoiser, decoupled channels, target-gated fusion + a DIN interest",
              _variants(zoo_diff_msin_no_src=Variant({"use_src": False, "eps_weight": 0.0}),
                        zoo_diff_msin_no_dec=Variant({"decouple_weight": 0.0}),
                        zoo_diff_msin_no_image=Variant({"modalities": ["text"]}),
                        zoo_diff_msin_te=Variant({"item_side": "triple"}))),
)

_BY_NAME: dict[str, tuple[ModelSpec, Variant]] = {}
for _spec in MODEL_TABLE:
    _BY_NAME[_spec.name] = (_spec, Variant())
    _BY_NAME.update({name: (_spec, variant) for name, variant in _spec.variants.items()})


def names(task: Task | None = None) -> list[str]:
    """Every name a recipe may use (models and their variants), of one task or all."""
    return [name for name, (spec, _) in _BY_NAME.items() if task is None or spec.task == task]


def resolve(name: str, where: str = "model", task: Task | None = None) -> tuple[ModelSpec, Variant]:
    """The row and variant a recipe name stands for; an unknown name is a ConfigError with the closest one."""
    valid = names(task)
    if name not in valid:
        raise ConfigError(f"unknown model '{where}.{name}'{suggest(name, valid)}" if where != "model"
                          else f"unknown model '{name}'{suggest(name, valid)}")
    return _BY_NAME[name]


def lookup(name: str, where: str = "model", task: Task | None = None) -> ModelSpec:
    return resolve(name, where, task)[0]


def model_config(name: str, params: Mapping[str, Any] | Any, where: str, shared: Mapping[str, Any] = _NONE) -> Any:
    """The typed config of ``name``: ``shared`` section settings (where the config has the field), the variant's
    overrides, then the recipe's own ``params`` (unknown keys are an error naming ``where``)."""
    spec, variant = resolve(name)
    if isinstance(params, spec.config_class):
        return params
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    data = {**{k: v for k, v in shared.items() if k in fields}, **variant.overrides, **params}
    return from_dict(spec.config_class, data, where)


def model_class(model_type: str) -> type[nn.Module]:
    """The class whose saved folders record ``model_type`` (KeyError naming the known types otherwise)."""
    for spec in MODEL_TABLE:
        if getattr(spec.model_class, "model_type", None) == model_type:
            return spec.model_class
    known = sorted({spec.model_class.model_type for spec in MODEL_TABLE})
    raise KeyError(f"unknown model_type '{model_type}'{suggest(model_type, known)}")


def build(name: str, config: Any, data: Any, item_repr: Any = None) -> nn.Module:
    """A sequential model of row or variant ``name`` from its typed config and the training data
    (:class:`~mmrec.models.base.ModelData`); variant settings fill the config fields left empty."""
    spec, variant = resolve(name)
    unset = {k: v for k, v in variant.overrides.items() if not getattr(config, k)}
    config = dataclasses.replace(config, **unset) if unset else config
    return spec.model_class.build(config, data, item_repr)


def rows(task: Task) -> list[ModelSpec]:
    """The catalogue rows of one task, in table order."""
    return [spec for spec in MODEL_TABLE if spec.task == task]
