"""The machine a stage ran on (CPU model, usable cores, vector extensions), recorded beside its time.

Stage times mean little without it: the same demo took 711 s on the project's earlier 2-core machine (34 GFLOP/s
fp32 matmul per thread; an AVX2 AMD EPYC by the brief) and 272 s on a 2-core Intel Xeon with AVX-512 and AMX
(186 GFLOP/s), at the same commit. Linux's ``/proc/cpuinfo`` gives the model and flags; other
systems get ``platform.processor()`` and no flags.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# the flags that change what torch's CPU kernels can do, in the order a reader compares them
VECTOR_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX"}


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, as in a container with a CPU limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def describe_machine(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """``{"cpu": model name, "cores": usable cores, "vector": [AVX2, AVX-512, ...]}``."""
    model, flags = platform.processor() or platform.machine(), set()
    path = Path(cpuinfo)
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key == "flags":  # after "model name" in each processor's block: the first CPU's is enough
                flags = set(value.split())
                break
    return {"cpu": model, "cores": usable_cores(), "vector": [name for f, name in VECTOR_FLAGS.items() if f in flags]}


def machine_line(machine: dict) -> str:
    """``"Intel(R) Xeon(R) Processor, 2 cores, AVX2 / AVX-512 / AMX"``: one phrase for a report."""
    vector = " / ".join(machine.get("vector", []))
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores" + (f", {vector}" if vector else "")
