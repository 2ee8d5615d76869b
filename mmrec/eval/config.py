"""The recipe's ``eval`` section: full-ranking evaluation settings and the cold-item breakdown."""

from __future__ import annotations

import dataclasses
from typing import Literal

from mmrec.core.config import ConfigError
from mmrec.core.precision import Precision


@dataclasses.dataclass
class EvalConfig:
    """Full-ranking evaluation and the cold-item breakdown."""

    ks: list[int] = dataclasses.field(default_factory=lambda: [5, 10, 20])
    cold_threshold: int = 5
    n_bins: int = 10
    noisy_bin_min_targets: int = 30
    # users per scored chunk: 128 keeps a CPU chunk's activations in cache (1,024: 1.23x slower with freed memory
    # kept, 1.46x without; benchmarks/bench_allocator.py)
    batch_size: int = 128
    ties: Literal["expected", "optimistic", "pessimistic"] = "expected"  # tied items: half / none / all beat the target
    # a backbone's encoder in bf16 autocast (scores stay fp32; mmrec.core.precision): on a Xeon with AMX SASRec's
    # 943 ml-100k users score 1.4x faster, NDCG@10 within rounding (benchmarks/bench_eval.py)
    precision: Precision = "fp32"
    # chunks scored at once by that many threads, torch's threads split between them (at most torch's thread
    # count): pays where a model's ops are too small to split between threads; 943 ml-100k users on the 2-core
    # Xeon: GRU4Rec 1.2x and content k-NN 1.3-1.5x faster with 2, the SASRec-based models up to 1.4x slower
    # (benchmarks/bench_eval.py, "w2")
    workers: int = 1

    def validate(self) -> None:
        if min(self.batch_size, self.workers) < 1:
            raise ConfigError(f"eval.batch_size and eval.workers must be >= 1, got {self.batch_size} and "
                              f"{self.workers}")
