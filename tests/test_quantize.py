"""The quantize stage (Mixture-of-Codes semantic IDs) and SASRec with a semantic item side."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mmrec import catalogue
from mmrec.core.config import ConfigError, from_dict
from mmrec.items.codes import load_codes
from mmrec.models.base import ModelData
from mmrec.pipeline import Pipeline, Stage
from mmrec.recipe import QuantizeConfig, RecipeConfig
from mmrec.stages import quantize, sequential
from semantic_ids import MixtureOfCodes

N_ITEMS, DIM = 300, 16
MISSING = [5, 77]  # items without the source modality


def fake_encode(ctx):
    """An encode artifact: 'text' embeddings for items 1..N in 6 clusters, two items missing."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, DIM))
    emb = np.zeros((N_ITEMS + 1, DIM), dtype=np.float32)
    emb[1:] = centres[np.arange(N_ITEMS) % 6] + 0.3 * rng.normal(size=(N_ITEMS, DIM))
    mask = np.ones(N_ITEMS + 1, dtype=bool)
    mask[0] = False
    mask[MISSING] = False
    emb[MISSING] = 0
    save_file({"embeddings": torch.from_numpy(emb), "mask": torch.from_numpy(mask)}, str(ctx.out / "text.safetensors"))


ENCODE = Stage(name="encode", run=fake_encode, sections=("encode",))


def recipe(**quantize) -> RecipeConfig:
    settings = {"n_codebooks": [1, 3], "rq_scales": [1], "levels": 2, "nbits": 4, **quantize}
    return from_dict(RecipeConfig, {"quantize": settings})


def test_quantize_artifact_round_trips_and_stats_are_sane(tmp_path):
    out = Pipeline(recipe(), tmp_path / "run", [ENCODE, quantize.STAGE]).run(["quantize"])["quantize"]
    codes = load_codes(out)
    assert sorted(codes) == ["moc1", "moc3", "rq1"]
    moc3 = codes["moc3"]
    assert moc3.shape == (N_ITEMS + 1, 3, 2) and moc3.dtype == np.int64
    assert (moc3[0] == 0).all()  # padding row
    assert (moc3[MISSING] == 16).all()  # reserved code 2**nbits for items without the modality
    present = [i for i in range(1, N_ITEMS + 1) if i not in MISSING]
    assert moc3[present].max() < 16
    # the saved quantizer re-encodes the present items to exactly the saved codes
    from safetensors.torch import load_file
    emb = load_file(str(next((tmp_path / "run" / "artifacts").glob("encode-*")) / "text.safetensors"))["embeddings"]
    again = MixtureOfCodes.load(out / "moc3" / "quantizer").encode(emb.numpy()[present])
    np.testing.assert_array_equal(again, moc3[present])
    stats = json.loads((out / "moc3" / "stats.json").read_text())
    assert stats["n_items"] == len(present) and stats["n_missing_reserved_code"] == len(MISSING)
    assert len(stats["codebooks"]) == 3
    for book in stats["codebooks"]:
        assert all(0 < u <= 1 for u in book["utilisation"])
        assert all(0 <= e <= 4 for e in book["entropy_bits"])
        assert 0 <= book["collision_rate"] <= 1
        assert 0 <= book["reconstruction"]["relative"] < 1
    # three codebooks separate more items than one
    one = json.loads((out / "moc1" / "stats.json").read_text())
    assert stats["unique_rate"] >= one["unique_rate"]


def test_quantize_is_cached_and_reruns_when_its_config_changes(tmp_path):
    run = tmp_path / "run"
    first = Pipeline(recipe(), run, [ENCODE, quantize.STAGE]).run(["quantize"])["quantize"]
    stamp = (first / "stage.json").stat().st_mtime_ns
    again = Pipeline(recipe(), run, [ENCODE, quantize.STAGE]).run(["quantize"])["quantize"]
    assert again == first and (again / "stage.json").stat().st_mtime_ns == stamp
    changed = Pipeline(recipe(nbits=3), run, [ENCODE, quantize.STAGE]).run(["quantize"])["quantize"]
    assert changed != first and load_codes(changed)["moc3"][1:].max() <= 8


def test_auto_nbits_sizes_codes_to_the_catalogue_and_a_toy_catalogue_still_runs(tmp_path):
    """auto: min(8, round(log2(298) / 2), floor(log2(298 / 39))) = 2 bits for the 298 present items here; a catalogue
    under 78 items (too few for auto's rule) gets 1 bit per level instead of an error."""
    out = Pipeline(recipe(nbits="auto"), tmp_path / "run", [ENCODE, quantize.STAGE]).run(["quantize"])["quantize"]
    assert json.loads((out / "moc3" / "stats.json").read_text())["settings"]["nbits"] == 2

    def tiny_encode(ctx):
        emb = torch.randn(41, DIM, generator=torch.Generator().manual_seed(0))
        emb[0] = 0
        save_file({"embeddings": emb, "mask": torch.arange(41) > 0}, str(ctx.out / "text.safetensors"))

    stages = [Stage(name="encode", run=tiny_encode, sections=("encode",)), quantize.STAGE]
    small = Pipeline(recipe(nbits="auto"), tmp_path / "small", stages).run(["quantize"])["quantize"]
    assert load_codes(small)["moc1"][1:].max() <= 1  # two codes per level, every item present


def test_quantize_source_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="no such encoder"):
        Pipeline(recipe(source="llm"), tmp_path / "run", [ENCODE, quantize.STAGE]).run(["quantize"])


def test_config_names_variants_and_checks_values():
    cfg = QuantizeConfig(n_codebooks=[1, 2, 7], rq_scales=[1, 2], levels=3)
    variants = cfg.all_variants()
    assert list(variants) == ["rq1", "rq2", "moc1", "moc2", "moc7"]
    assert (variants["rq2"].n_codebooks, variants["rq2"].levels) == (1, 6)
    assert (variants["moc7"].n_codebooks, variants["moc7"].levels) == (7, 3)
    with pytest.raises(ConfigError):
        from_dict(QuantizeConfig, {"n_codebooks": [0]})
    with pytest.raises(ConfigError, match="source"):
        from_dict(QuantizeConfig, {"source": "aligend"})


def test_train_seq_wants_codes_only_for_semantic_models():
    plain = from_dict(RecipeConfig, {"train": {"models": {"sasrec": {}}}})
    semantic = from_dict(RecipeConfig, {"train": {"models": {"sasrec": {}, "moc3": {}}}})
    assert sequential.wants(plain) == () and sequential.wants(semantic) == ("quantize",)
    stages = [Stage("prepare", lambda ctx: None), ENCODE, quantize.STAGE, sequential.STAGE]
    assert "quantize" not in Pipeline(plain, "/nonexistent", stages).plan(["train_seq"])
    assert Pipeline(semantic, "/nonexistent", stages).plan(["train_seq"]) == ["prepare", "encode", "quantize",
                                                                            "train_seq"]


def semantic_sasrec(codes: np.ndarray, with_id: bool, code_width: int | None = 24):
    spec = catalogue.lookup("moc2")
    config = from_dict(spec.config_class, {"dim": 16, "n_heads": 2, "max_len": 6, "dropout": 0.0,
                                           "with_id": with_id, "code_width": code_width})
    data = ModelData(len(codes) - 1, [np.zeros(0, np.int64), np.array([1, 2, 3, 5])], item_codes={"moc2": codes})
    torch.manual_seed(0)
    return catalogue.build("moc2", config, data).eval()


def item_codes() -> np.ndarray:
    """Items 1..6 over 2 codebooks x 2 levels; items 5 and 6 share every code; 4 and 6 are never seen in training."""
    codes = np.array([[[0, 0], [0, 0]], [[1, 2], [3, 0]], [[1, 3], [2, 1]], [[2, 0], [1, 1]],
                      [[3, 1], [0, 2]], [[0, 1], [2, 3]], [[0, 1], [2, 3]]], dtype=np.int64)
    return codes


@pytest.mark.parametrize("with_id", [True, False])
def test_semantic_sasrec_scores_a_never_seen_item_from_its_codes(with_id):
    model = semantic_sasrec(item_codes(), with_id)
    assert model.item_repr.n_codebooks == 2 and model.item_repr.code_dim == 6  # 24 / (2 x 2)
    vectors = model.item_repr.all_items()
    assert torch.count_nonzero(vectors[0]) == 0 and vectors[6].norm() > 0
    scores = model.score(torch.tensor([[0, 0, 1, 2, 3, 5]]))
    assert scores[0, 6] != scores[0, 0]
    if not with_id:  # items sharing every code are the same item to the model
        assert torch.equal(vectors[5], vectors[6]) and scores[0, 5] == scores[0, 6]
    else:  # item 5 (seen) adds its ID embedding; never-seen item 6 is its codes alone
        assert not torch.equal(vectors[5], vectors[6])
        repr_ = model.item_repr
        repr_.id_embedding = None
        assert torch.equal(repr_.all_items()[6], vectors[6]) and not torch.equal(repr_.all_items()[5], vectors[5])


def test_semantic_sasrec_needs_the_variants_codes():
    spec = catalogue.lookup("moc3")
    config = from_dict(spec.config_class, {"dim": 16, "n_heads": 2})
    with pytest.raises(ConfigError, match="moc3"):
        catalogue.build("moc3", config, ModelData(6, [np.array([1, 2])], item_codes={"moc2": item_codes()}))


def test_same_code_width_across_mixture_sizes():
    from mmrec.models.semantic_sasrec import SemanticSASRecConfig, code_dim_for

    cfg = SemanticSASRecConfig(code_width=252)
    assert [code_dim_for(cfg, n, 3) * n * 3 for n in (1, 2, 3, 7)] == [252] * 4
    # the catalogue's fixed-width rows: moc<n>'s codes at that total width
    fixed = catalogue.model_config("moc7_fixed", {"dim": 16}, "train.models.moc7_fixed")
    assert (fixed.variant, fixed.code_width, code_dim_for(fixed, 7, 3)) == ("moc7", 252, 12)


def test_full_width_code_tables_by_default_so_capacity_grows_with_the_codebooks():
    """The paper's 1x / 2x / 3x / 7x axis: N full-width code tables (the fixed width shrank them to 12-d at N = 7)."""
    widths, params = [], []
    for n in (1, 3):
        codes = np.random.default_rng(n).integers(0, 4, (7, n, 2))
        model = semantic_sasrec(codes, with_id=False, code_width=None)
        widths.append(model.item_repr.code_dim)
        params.append(sum(p.numel() for name, p in model.item_repr.named_parameters() if name.startswith("tables.")))
    assert widths == [16, 16] and params[1] > 2.5 * params[0]


def test_multi_embedding_baseline_is_n_id_tables_fused_like_codes():
    from mmrec.items.codes import SemanticIDRepresentation

    config = catalogue.model_config("me3", {"dim": 16, "n_heads": 2, "max_len": 6}, "train.models.me3")
    data = ModelData(6, [np.zeros(0, np.int64), np.array([1, 2, 3, 5])])
    torch.manual_seed(0)
    model = catalogue.build("me3", config, data)
    side = model.item_repr
    assert isinstance(side, SemanticIDRepresentation) and side.n_codebooks == 3 and side.levels == 1
    assert torch.equal(side.codes[:, :, 0], torch.arange(7)[:, None].expand(7, 3))  # item i is row i of each table
    assert not catalogue.lookup("me3").needs_codes  # no quantize stage
    vectors = side.all_items()
    assert torch.count_nonzero(vectors[0]) == 0 and not torch.equal(vectors[5], vectors[6])


def test_softmax_over_seen_items_leaves_unseen_items_out_of_the_loss():
    from mmrec.items.base import IDEmbedding
    from mmrec.train.losses import full_softmax_ce

    torch.manual_seed(0)
    table = IDEmbedding(6, 4)
    states, targets = torch.randn(2, 3, 4), torch.tensor([[1, 2, 0], [3, 1, 2]])
    exclude = torch.tensor([False, False, False, False, True, True, True])  # items 4..6 never seen in training
    loss = full_softmax_ce(states, targets, table, exclude)
    logits = states[targets > 0] @ table.weight.weight[1:4].T
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, targets[targets > 0] - 1))
    loss.backward()
    assert torch.count_nonzero(table.weight.weight.grad[4:]) == 0
