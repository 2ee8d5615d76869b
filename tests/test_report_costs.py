"""The report's per-stage cost table: every finished stage's seconds, the encoders inside ``encode`` on their own
rows, shares of the whole run, and the total."""

import json

from mmrec.core.machine import describe_machine, machine_line, usable_cores
from mmrec.eval.report import _stage_cost_table
from mmrec.eval.report_summary import cost_line, encoder_costs, stage_costs, stage_machines


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


def test_cost_table_and_line_name_the_machine_each_stage_ran_on(tmp_path):
    stages = {"prepare": "artifacts/prepare-a", "encode": "artifacts/encode-b", "old": "artifacts/old-c"}
    amd = {"cpu": "AMD EPYC 7B13", "cores": 2, "vector": ["AVX2"]}
    for name, machine in (("prepare", amd), ("encode", amd), ("old", None)):  # "old": written before machines
        folder = tmp_path / stages[name]
        folder.mkdir(parents=True)
        (folder / "stage.json").write_text(json.dumps({"stage": name, "seconds": 1.0, "machine": machine}))
    machines = stage_machines(tmp_path, stages)
    assert machines == ["AMD EPYC 7B13, 2 cores, AVX2"]
    assert cost_line([("prepare", 1.0)], machines) == "cost: 1 s in all on AMD EPYC 7B13, 2 cores, AVX2 (prepare 1 s)"
    title, _, _ = _stage_cost_table({"stages": {"prepare": 1.0}, "encoders": {}, "machines": machines})
    assert title == "Cost per stage (whole run, seconds; AMD EPYC 7B13, 2 cores, AVX2)"


def test_describe_machine_reads_the_model_and_vector_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
                       "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n\n"
                       "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n")
    machine = describe_machine(cpuinfo)
    assert machine["cpu"] == "Intel(R) Xeon(R) Processor"
    assert machine["vector"] == ["AVX2", "AVX-512", "AVX-512 BF16", "AMX"]
    assert machine["cores"] == usable_cores() >= 1
    assert machine_line({**machine, "cores": 2}) == \
        "Intel(R) Xeon(R) Processor, 2 cores, AVX2 / AVX-512 / AVX-512 BF16 / AMX"
