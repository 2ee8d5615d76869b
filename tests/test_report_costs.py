"""The report's per-stage cost table: every finished stage's seconds, the encoders inside ``encode`` on their own
rows, shares of the whole run, and the total."""

import json

from mmrec.eval.report import _stage_cost_table
from mmrec.eval.report_summary import encoder_costs, stage_costs


def test_stage_costs_table_from_the_artifacts(tmp_path):
    stages = {"prepare": "artifacts/prepare-a", "encode": "artifacts/encode-b", "train_seq": "artifacts/train_seq-c"}
    for name, seconds in (("prepare", 2.0), ("encode", 60.0)):  # train_seq has not finished: no stage.json
        folder = tmp_path / stages[name]
        folder.mkdir(parents=True)
        (folder / "stage.json").write_text(json.dumps({"stage": name, "seconds": seconds}))
    (tmp_path / stages["encode"] / "encode.json").write_text(json.dumps(
        {"text": {"seconds": 20.0}, "llm": {"seconds": 38.0}}))
    costs = {"stages": dict(stage_costs(tmp_path, stages)), "encoders": dict(encoder_costs(tmp_path, stages))}
    assert costs == {"stages": {"prepare": 2.0, "encode": 60.0}, "encoders": {"text": 20.0, "llm": 38.0}}
    title, header, rows = _stage_cost_table(costs)
    assert header == ["stage", "seconds", "share"]
    assert rows == [["prepare", "2.0", "3 %"], ["encode", "60.0", "97 %"], ["  encode: text", "20.0", "32 %"],
                    ["  encode: llm", "38.0", "61 %"], ["total", "62.0", "100 %"]]
    assert encoder_costs(tmp_path, {"prepare": stages["prepare"]}) == []
