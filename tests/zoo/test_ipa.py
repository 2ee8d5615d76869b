"""IPA / PFL: FM and DCNv2 are IPA choices (outputs equal to the standalone models for copied weights); the cross
pooling's assembled matrix is the per-pair formula; projected interactions beat naive ones on field-pair bilinear
labels (ZOO.md §5), with a flatter embedding spectrum; bad choices are refused by name; Hub round trips are exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmrec import catalogue
from mmrec.eval.ctr_metrics import auc
from mmrec.eval.embedding_analysis import information_abundance, singular_values
from mmrec.features import FeatureMap, frame_chunks, parse_fields
from mmrec.hub import load_model
from mmrec.models.zoo.dcnv2 import DCNv2, DCNv2Config
from mmrec.models.zoo.fm import FM, FMConfig
from mmrec.models.zoo.ipa import IPA, PFL, IPAConfig, PFLConfig
from mmrec.models.zoo.ipa_parts import CrossPooling, PairInteraction
from mmrec.train.common import seed_everything
from mmrec.train.fields import FieldTrainConfig, evaluate, train_fields

N_FIELDS, VOCAB, K_TRUE = 6, 10, 3
FIELDS = parse_fields([{"name": f"f{i}", "type": "categorical"} for i in range(N_FIELDS)]
                      + [{"name": "click", "type": "label"}])
_rng = np.random.default_rng(11)
TRUE_EMB = _rng.normal(size=(N_FIELDS, VOCAB, K_TRUE))
TRUE_A = _rng.normal(size=(N_FIELDS, N_FIELDS, K_TRUE, K_TRUE))  # one bilinear form per field pair


def _planted(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """logit = Σ_{i<j} t_iᵀ A_ij t_j: each field pair crosses through its own 3×3 matrix (what a projected
    interaction can represent and a shared dot product cannot). Also returns the true probabilities."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, VOCAB, size=(n, N_FIELDS))
    t = TRUE_EMB[np.arange(N_FIELDS), idx]  # (n, F, K)
    logit = sum(np.einsum("nk,kl,nl->n", t[:, i], TRUE_A[i, j], t[:, j])
                for i in range(N_FIELDS) for j in range(i + 1, N_FIELDS))
    p = 1 / (1 + np.exp(-logit / logit.std() * 2.5))
    frame = pd.DataFrame({f"f{i}": idx[:, i].astype(str) for i in range(N_FIELDS)})
    frame["click"] = (rng.random(n) < p).astype(int)
    return frame, p


@pytest.fixture(scope="module")
def fmap():
    return FeatureMap.fit(FIELDS, frame_chunks(_planted(3000, 0)[0]))


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


FM_CHOICE = dict(interaction="naive", pooling="pairs", aggregator="sum", head="sum", first_order=True,
                 hidden_units=[])


def test_fm_is_naive_pairs_sum(fmap):
    seed_everything(0)
    fm = _perturbed(FM(FMConfig(embed_dim=4), fmap))
    ipa = IPA(IPAConfig(embed_dim=4, **FM_CHOICE), fmap).eval()
    ipa.load_state_dict(fm.state_dict())  # strict: the two hold exactly the same tensors
    data = fmap.encode(_planted(300, 1)[0], labels=False)
    expected = fm.predict(data)
    assert expected.std() > 0.05
    np.testing.assert_allclose(ipa.predict(data), expected, rtol=1e-5, atol=1e-6)


def test_dcnv2_is_projected_cross_last_beside_an_mlp(fmap):
    seed_everything(0)
    shape = dict(embed_dim=4, hidden_units=[16, 8], dropout=0.0)
    dcn = _perturbed(DCNv2(DCNv2Config(**shape, cross_layers=3), fmap))
    ipa = IPA(IPAConfig(**shape, interaction="projected", pooling="cross", layers=3, aggregator="last"), fmap).eval()
    with torch.no_grad():
        ipa.features.load_state_dict(dcn.features.state_dict())
        for layer, weight, bias in zip(dcn.cross.layers, ipa.interaction.weights, ipa.interaction.biases):
            weight.copy_(layer.weight)
            bias.copy_(layer.bias)
        ipa.tower.load_state_dict(dcn.tower.state_dict())
        ipa.head.load_state_dict(dcn.head.state_dict())
    data = fmap.encode(_planted(300, 2)[0], labels=False)
    expected = dcn.predict(data)
    assert expected.std() > 0.05
    np.testing.assert_allclose(ipa.predict(data), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["naive", "weighted", "diagonal"])
def test_cross_pooling_matrix_is_the_per_pair_formula(kind):
    """t_i^1 = t_i^0 ⊙ (Σ_j g_ij(t_j^0) + b_i) + t_i^0 with g_ij = identity, r_ij ·, w_ij ⊙, written as loops."""
    torch.manual_seed(0)
    f, k = 3, 4
    pool = CrossPooling(kind, f, k, layers=1)
    with torch.no_grad():
        pool.biases[0].normal_()
    t = torch.randn(5, f, k)
    bias = pool.biases[0].view(f, k)
    expected = torch.empty_like(t)
    for i in range(f):
        total = bias[i].expand(5, k).clone()
        for j in range(f):
            total = total + (t[:, j] if kind == "naive" else pool.weights[0][i, j] * t[:, j])
        expected[:, i] = t[:, i] * total + t[:, i]
    torch.testing.assert_close(pool(t)[0], expected)


def test_pair_interactions_start_at_the_naive_product():
    t = torch.randn(6, 4, 3)
    naive = PairInteraction("naive", 4, 3)(t)
    assert naive.shape == (6, 6, 3)
    torch.testing.assert_close(naive[:, 0], t[:, 0] * t[:, 1])
    for kind in ("weighted", "diagonal", "projected"):
        torch.testing.assert_close(PairInteraction(kind, 4, 3)(t), naive)


def test_projected_beats_naive_on_field_pair_bilinear_labels(fmap):
    """FM (naive) against FmFM (projected), pairs pooling, head sum, embedding 3 = the truth's rank, 2 seeds.
    Measured (valid AUC): projected 0.855 / 0.847, naive 0.760 / 0.785, oracle 0.888 / 0.885; IA of the learned
    tables (mean over fields): projected 2.25 / 2.28, naive 1.76 / 1.82 (a flatter spectrum)."""
    scores, ia = {"projected": [], "naive": []}, {"projected": [], "naive": []}
    for seed in range(2):
        (train, _), (valid, truth) = _planted(4000, 10 + seed), _planted(3000, 20 + seed)
        data = {"train": fmap.encode(train), "valid": fmap.encode(valid)}
        for kind in scores:
            seed_everything(seed)
            model = IPA(IPAConfig(embed_dim=K_TRUE, **{**FM_CHOICE, "interaction": kind}), fmap)
            train_fields(model, data["train"], data["valid"],
                         FieldTrainConfig(lr=2e-2, batch_size=256, max_epochs=8, patience=3, seed=seed))
            scores[kind].append(evaluate(model, data["valid"])["AUC"])
            ia[kind].append(np.mean([information_abundance(singular_values(model.features.field_table(f"f{i}")[2:]))
                                     for i in range(N_FIELDS)]))
        oracle = auc(valid.click.to_numpy(), truth)
        assert scores["projected"][-1] < oracle + 0.005
    assert all(p > n + 0.05 for p, n in zip(scores["projected"], scores["naive"])), (scores, ia)
    assert np.mean(ia["projected"]) > np.mean(ia["naive"]) + 0.2, ia


def test_bad_choices_are_refused_by_name(fmap):
    with pytest.raises(ValueError, match="IPA interaction 'bilinear' is not one of naive, weighted"):
        IPA(IPAConfig(interaction="bilinear"), fmap)
    with pytest.raises(ValueError, match="IPA head 'sum' has no weights to mix an MLP in"):
        IPA(IPAConfig(head="sum"), fmap)


@pytest.mark.parametrize("cls,config", [(IPA, IPAConfig(embed_dim=4, hidden_units=[8], interaction="diagonal",
                                                        aggregator="concat", first_order=True)),
                                        (PFL, PFLConfig(embed_dim=4, hidden_units=[8]))])
def test_hub_round_trip_predicts_identically(cls, config, fmap, tmp_path):
    seed_everything(0)
    model = _perturbed(cls(config, fmap))
    rows = _planted(40, 3)[0].drop(columns="click").to_dict(orient="records")
    before = model.predict(rows)
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is cls and loaded.config == model.config
    assert catalogue.model_class(cls.model_type) is cls
    np.testing.assert_array_equal(loaded.predict(rows), before)
