"""Bad input across the stack: each case stops with one message that names the file, key or row at fault."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from toy import write_recipe
from train_worker import synthetic_sequences

from mmrec.core.config import ConfigError
from mmrec.core.io import CorruptFileError
from mmrec.data import DataError
from mmrec.data.prepared import load_prepared
from mmrec.eval.metrics import RankingCases
from mmrec.hub import HubError, load_model, recommend
from mmrec.items.base import IDEmbedding
from mmrec.models.content_knn import ContentKNN
from mmrec.models.sasrec import SASRec, SASRecConfig
from mmrec.pad.config import PADConfig
from mmrec.pad.experts import Experts
from mmrec.pad.model import PAD
from mmrec.pipeline import Pipeline
from mmrec.recipe import load_recipe
from mmrec.stages import prepare
from mmrec.train.config import TrainConfig
from mmrec.train.sequential import SequentialTrainer

RECIPE_CASES = [  # (override, exception message pattern)
    ("train.epoch=3", r"unknown config key 'train\.epoch'; did you mean 'epochs'\?"),
    ("train.epochs=ten", r"train\.epochs: expected an integer, got 'ten'"),
    ("split.new_item_fraction=1.5", r"split\.new_item_fraction must be in \(0, 1\), got 1\.5"),
    ("train.batch_size=0", r"train\.epochs and train\.batch_size must be >= 1"),
    ("train.models.sasrek={}", r"unknown model 'train\.models\.sasrek'; did you mean 'sasrec'\?"),
    ("train.models.sasrec.n_head=2", r"train\.models\.sasrec\.n_head'; did you mean 'n_heads'\?"),
    ("train.loss=focal", r"train\.loss: 'focal' is not one of \['ce', 'bce'\]"),
]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    return write_recipe(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("override, message", RECIPE_CASES, ids=[c[0] for c in RECIPE_CASES])
def test_malformed_recipe(recipe, override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_recipe(recipe, [override])
    assert str(recipe) in str(info.value)  # the recipe file is named


def test_corrupt_checkpoint_names_the_file(tmp_path):
    seqs = synthetic_sequences(40, 20)
    valid = RankingCases.build([s[:-1] for s in seqs[1:]], np.array([s[-1] for s in seqs[1:]]))
    optim = TrainConfig(models={}, epochs=1, batch_size=16, progress=False)

    def trainer() -> SequentialTrainer:
        model = SASRec(SASRecConfig(n_items=20, dim=8, n_layers=1, max_len=5))
        return SequentialTrainer(model, [s[:-1] for s in seqs], valid, optim, checkpoint_dir=tmp_path)

    trainer().fit()
    weights = tmp_path / "last" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match=re.escape(str(weights)) + ".*truncated or corrupt"):
        trainer().fit()


def test_content_matrix_with_nan_names_the_rows():
    content = torch.randn(6, 3)
    content[4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"content_knn: content matrix: 1 row\(s\) hold NaN .* item index 4"):
        ContentKNN(content)


def test_item_representation_with_nan_or_wrong_dimension():
    table = IDEmbedding(10, 8)
    with torch.no_grad():
        table.weight.weight[7] = float("inf")
    with pytest.raises(ValueError, match=r"item representation IDEmbedding: 1 row\(s\) .* item index 7"):
        SASRec(SASRecConfig(n_items=10, dim=8, max_len=5), item_repr=table)
    with pytest.raises(ValueError, match=r"item representation is 10 items x 8-d, the model expects 10 x 16-d"):
        SASRec(SASRecConfig(n_items=10, dim=16, max_len=5), item_repr=IDEmbedding(10, 8))


@pytest.fixture()
def saved(tmp_path) -> Path:
    torch.manual_seed(0)
    SASRec(SASRecConfig(n_items=10, dim=8, n_layers=1, max_len=5)).save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def _edit_config(folder: Path, change) -> None:
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def _edit_weights(folder: Path, change) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


HUB_CASES = {
    "no config.json": (lambda f: (f / "config.json").unlink(), r"m/config\.json: missing"),
    "no model.safetensors": (lambda f: (f / "model.safetensors").unlink(), r"m/model\.safetensors: missing"),
    "truncated weights": (lambda f: (f / "model.safetensors").write_bytes(b"\x10\x00"),
                          r"m/model\.safetensors: not a readable safetensors file, truncated or corrupt"),
    "config.json not JSON": (lambda f: (f / "config.json").write_text("{oops"), r"m/config\.json: not readable JSON"),
    "unknown model type": (lambda f: _edit_config(f, lambda c: c.update(model_type="sasrek")),
                           r"m/config\.json: unknown model_type 'sasrek'; did you mean 'sasrec'\?"),
    "newer format": (lambda f: _edit_config(f, lambda c: c.update(mmrec_format=99)),
                     r"m/config\.json: key 'mmrec_format' is 99, written by a newer mmrec"),
    "unknown config key": (lambda f: _edit_config(f, lambda c: c["config"].update(n_head=2)),
                           r"m/config\.json: unknown config key 'config\.n_head'; did you mean 'n_heads'\?"),
    "shape mismatch": (lambda f: _edit_config(f, lambda c: c["config"].update(max_len=7)),
                       r"m/model\.safetensors: key 'positions\.weight' has shape \[5, 8\], but .*m/config\.json "
                       r"describes a model whose 'positions\.weight' is \[7, 8\]"),
    "missing key": (lambda f: _edit_weights(f, lambda t: t.pop("ln_out.bias")),
                    r"m/model\.safetensors: missing key\(s\) ln_out\.bias"),
    "unexpected key": (lambda f: _edit_weights(f, lambda t: t.update(extra=torch.zeros(1))),
                       r"m/model\.safetensors: unexpected key\(s\) extra"),
    "NaN weights": (lambda f: _edit_weights(f, lambda t: t["ln_out.weight"].fill_(float("nan"))),
                    r"m/model\.safetensors: key 'ln_out\.weight' holds 8 NaN"),
}


@pytest.fixture()
def saved_pad(tmp_path) -> Path:
    """A tiny PAD (SASRec experts over 6-d content, 3 frequency bins): only its folder, no training data."""
    torch.manual_seed(0)
    config = PADConfig(n_bins=3)
    experts = Experts(config, SASRecConfig(dim=8, n_layers=1, n_heads=2, max_len=5), content_dim=6)
    counts = np.array([0, 40, 30, 20, 10, 8, 6, 4, 2, 1, 0])  # item 10 never seen
    PAD(config, experts, counts).save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def _edit_experts(change):
    """Change the experts' architecture: ``init_args`` (backbone config, content width) and ``config``."""
    return lambda f: _edit_config(f, lambda c: change(c["init_args"], c["config"]))


PAD_HUB_CASES = {
    "no config.json": (lambda f: (f / "config.json").unlink(), r"m/config\.json: missing"),
    "no model.safetensors": (lambda f: (f / "model.safetensors").unlink(), r"m/model\.safetensors: missing"),
    "gate changed": (lambda f: _edit_config(f, lambda c: c["config"].update(gate="user")),
                     r"m/model\.safetensors: missing key\(s\) item_repr\.positions, user_gate\.bins"),
    "unknown gate": (lambda f: _edit_config(f, lambda c: c["config"].update(gate="users")),
                     r"m/config\.json: config\.gate: 'users' is not one of \['frequency', 'uniform', 'user'\]; "
                     r"did you mean 'user'\?"),
    "more bins": (lambda f: _edit_config(f, lambda c: c["config"].update(n_bins=5)),
                  r"m/model\.safetensors: key 'item_repr\.gate\.logits' has shape \[3, 4\], but .*m/config\.json "
                  r"describes a model whose 'item_repr\.gate\.logits' is \[3, 5\]"),
    "backbone changed": (_edit_experts(lambda a, c: (c.update(backbone="gru4rec"), a.update(backbone_config={"dim": 8}))),
                         r"m/model\.safetensors: missing key\(s\) experts\.0\.gru"),
    "unknown backbone": (_edit_experts(lambda a, c: c.update(backbone="sasrek")),
                         r"m/config\.json: config\.backbone: 'sasrek' is not one of .*"
                         r"did you mean 'sasrec'\?"),
    "unknown backbone key": (_edit_experts(lambda a, c: a["backbone_config"].update(n_head=2)),
                             r"m/config\.json: .*unknown config key 'init_args\.backbone_config\.n_head'; "
                             r"did you mean 'n_heads'\?"),
    "expert width": (_edit_experts(lambda a, c: a["backbone_config"].update(dim=16)),
                     r"m/model\.safetensors: key 'experts\.0\.item_repr\.weight\.weight' has shape \[11, 8\], but "
                     r".*describes a model whose 'experts\.0\.item_repr\.weight\.weight' is \[11, 16\]"),
    "content width": (_edit_experts(lambda a, c: a.update(content_dim=7)),
                      r"m/model\.safetensors: key 'experts\.1\.item_repr\.aligned\.content\.content' has shape "
                      r"\[11, 6\], but .*is \[11, 7\]"),
    "no content width": (_edit_experts(lambda a, c: a.pop("content_dim")),
                         r"m/config\.json: key 'init_args' cannot rebuild PAD \(KeyError: 'content_dim'\)"),
    "no item counts": (lambda f: _edit_weights(f, lambda t: t.pop("item_counts")),
                       r"m/model\.safetensors: key 'item_counts' is missing; PAD is built from it"),
    "item counts of a smaller catalogue": (
        lambda f: _edit_weights(f, lambda t: t.update(item_counts=t["item_counts"][:8])),
        r"m/config\.json: key 'n_items' is 10, but the model built from it and .*m/model\.safetensors has 7 items"),
    "negative item count": (lambda f: _edit_weights(f, lambda t: t["item_counts"].__setitem__(2, -1)),
                            r"m/config\.json: cannot build PAD from this config \(item_counts must be one "
                            r"non-negative count per item"),
    "NaN gate": (lambda f: _edit_weights(f, lambda t: t["item_repr.gate.logits"].fill_(float("nan"))),
                 r"m/model\.safetensors: key 'item_repr\.gate\.logits' holds 12 NaN"),
}


@pytest.mark.parametrize("folder,case", [("saved", c) for c in HUB_CASES] + [("saved_pad", c) for c in PAD_HUB_CASES])
def test_hub_folder_defects(request, folder, case):
    """Each defect of a saved SASRec (``saved``) or PAD (``saved_pad``) folder is one HubError naming it."""
    damage, message = (HUB_CASES if folder == "saved" else PAD_HUB_CASES)[case]
    path = request.getfixturevalue(folder)
    damage(path)
    with pytest.raises(HubError, match=message):
        load_model(path)


def test_unknown_item_id_when_scoring(saved):
    model = load_model(saved)
    model.item_ids = [f"i{i}" for i in range(10)]
    with pytest.raises(HubError, match=r"item id\(s\) i99 not in this model's 10-item catalogue"):
        recommend(model, ["i1", "i99"])


def test_corrupt_cached_split_artifact_names_the_folder(recipe, tmp_path):
    cfg = load_recipe(recipe)
    artifact = Pipeline(cfg, tmp_path / "run", [prepare.STAGE]).run()["prepare"]
    (arrow,) = (artifact / "splits" / "leave-one-out" / "train").glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:100])
    with pytest.raises(DataError, match=re.escape(str(artifact / "splits" / "leave-one-out")) +
                       r": cached artifact is corrupt .* delete .* and re-run"):
        load_prepared(artifact)
