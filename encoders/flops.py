"""What encoding costs in floating-point operations, and what this machine's matmul can do.

`transformer_flops` counts the matmul FLOPs (2 per multiply-add) of one forward pass of a BERT- or
Llama-style model over a padded (batch, length) block: the projections and MLP grow with tokens, attention
scores and their weighted sum with tokens x length. `module_flops` counts any module's matmul and
convolution FLOPs by running it once under `torch.utils.flop_counter`. `matmul_flops_per_s` times a square
fp32 (or bf16) matmul, the ceiling an encoder's achieved FLOP/s is compared against;
`int8_linear_flops_per_s` the same product through a dynamically int8-quantised Linear, for comparison.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

#: Model types whose MLP is gated (gate, up and down projections) rather than two matrices.
GATED_MLP = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "smollm3")


def transformer_flops(config: Any, batch: int, length: int) -> int:
    """Matmul FLOPs of one forward pass over `batch` rows padded to `length` tokens (no LM head)."""
    d, n_layers, ff = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    mlp_matrices = 3 if config.model_type in GATED_MLP else 2
    projections = 2 * d * heads * head_dim + 2 * d * kv_heads * head_dim + mlp_matrices * d * ff
    attention = 2 * heads * head_dim * length  # scores and weighted sum, per token, in multiply-adds
    total = 2 * batch * length * n_layers * (projections + attention)
    if config.model_type == "bert":
        total += 2 * batch * d * d  # pooler on the first token
    return int(total)


def module_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Matmul and convolution FLOPs of `module(*inputs)`, counted by `torch.utils.flop_counter`."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        module(*inputs)
    return int(counter.get_total_flops())


def matmul_flops_per_s(threads: int, n: int = 1024, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """Best-of-`repeats` FLOP/s of an (n, n) @ (n, n) matmul on `threads` intra-op threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.mm(a, b)  # warm-up: allocate and pick the kernel
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 2 * n**3 / best


def int8_linear_flops_per_s(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """Best-of-`repeats` equivalent FLOP/s of an (n, n) input through a dynamically int8-quantised (n, n) Linear."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        layer = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(n, n, bias=False)), {nn.Linear})
        x = torch.randn(n, n)
        with torch.inference_mode():
            layer(x)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                layer(x)
                best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 2 * n**3 / best
