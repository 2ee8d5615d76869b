"""The user's path on a generated dataset: logs without bar updates, reports that survive a late failure, a
recipe checked against the data's columns before any stage runs."""

from __future__ import annotations

import subprocess

from toy import env, mmrec, write_dataset


def _recipe(tmp, root, ctr: str = "{models: [lr], modalities: [], user_fields: [], max_epochs: 1}",
            extra: str = "") -> str:
    path = tmp / "recipe.yaml"
    path.write_text(f"""
name: toy
data: {{dataset: {root}, format: directory, text_fields: [title, genres], image_field: null}}
split: {{kinds: [leave-one-out, ctr], ctr_click_threshold: null}}
eval: {{n_bins: 3}}
train:
  splits: [leave-one-out]
  epochs: 2
  patience: 1000
  batch_size: 16
  models:
    sasrec: {{dim: 16, n_layers: 1, max_len: 8, dropout: 0.0}}
ctr: {ctr}
{extra}
""")
    return str(path)


def test_a_log_file_gets_one_line_per_epoch_and_no_bar_updates(tmp_path):
    recipe = _recipe(tmp_path, write_dataset(tmp_path / "toy"))
    log = tmp_path / "run.log"
    with open(log, "w") as out:  # what `nohup mmrec run ... > run.log 2>&1` gives: no TTY
        code = subprocess.run(mmrec("run", recipe, "--output", tmp_path / "run"), stdout=out,
                              stderr=subprocess.STDOUT, env=env(), cwd=tmp_path).returncode
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "\r" not in text  # no carriage-return bar refreshes
    epochs = [line for line in text.splitlines() if " epoch " in line and ": loss " in line]
    assert [line.split(" epoch ")[1].split(":")[0] for line in epochs] == ["1/2", "2/2", "1/1"], epochs
    assert "valid NDCG@10" in epochs[0] and "valid AUC" in epochs[2]
