"""Pieces every training loop shares: seeding, early stopping, resumable checkpoints, the device.

Checkpoints are safetensors (weights) plus JSON (epoch, best metric, RNG states as lists), written
atomically, so resuming never unpickles anything and a kill mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from mmrec.core.io import atomic_dir, read_safetensors
from mmrec.train import distributed


def seed_everything(seed: int) -> None:
    """Same seed, same numbers on CPU: Python, NumPy and torch RNGs, deterministic kernels where available."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    # which fills every new tensor with NaN by default: the same numbers either way (nothing reads memory it has
    # not written), but it costs a bf16 autocast step its gain (a cast output per matmul input)
    torch.utils.deterministic.fill_uninitialized_memory = False


def default_device() -> torch.device:
    """This process's device: its own GPU under torchrun (``LOCAL_RANK``), the GPU when present, else CPU."""
    return distributed.context().device


@dataclasses.dataclass
class EarlyStopping:
    """Stop when the validation metric has not improved (by more than ``min_delta``) for ``patience`` evaluations
    (higher is better)."""

    patience: int = 5
    best: float = -float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    min_delta: float = 0.0

    def step(self, value: float, epoch: int) -> bool:
        """Record ``value``; returns True if it is a new best."""
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience


def _rng_state() -> dict[str, Any]:
    return {
        "python": repr(random.getstate()),
        "numpy": np.random.get_state()[1].tolist(),
        "numpy_pos": int(np.random.get_state()[2]),
    }


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {"param_groups": state["param_groups"], "state": {}}
    for pid, pstate in state["state"].items():
        scalars["state"][str(pid)] = {}
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{name}"] = value.contiguous()
            else:
                scalars["state"][str(pid)][name] = value
    return tensors, scalars


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(pid): dict(values) for pid, values in scalars["state"].items()}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": scalars["param_groups"]}


class Checkpointer:
    """Saves and restores model + optimizer + loop state in ``directory/last`` (and the best model weights)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loop_state: dict[str, Any],
             best: bool = False, ranks_rng: dict[str, torch.Tensor] | None = None) -> None:
        """``ranks_rng``: every rank's RNG state in a multi-process run (``distributed.gather_rng_states``)."""
        opt_tensors, opt_scalars = _flatten_optimizer(optimizer)
        if best:  # before ``last``: a kill between the two must not leave a ``last`` that claims a missing best
            with atomic_dir(self.directory / "best") as tmp:
                save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        with atomic_dir(self.directory / "last") as tmp:
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
            save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
            torch_rng = torch.get_rng_state()
            save_file({"torch_rng": torch_rng, **(ranks_rng or {})}, str(tmp / "rng.safetensors"))
            (tmp / "state.json").write_text(json.dumps({"loop": loop_state, "optimizer": opt_scalars,
                                                        "rng": _rng_state()}))

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
        """Load the last checkpoint into ``model`` and ``optimizer``; returns the loop state, or None if none."""
        last = self.directory / "last"
        if not (last / "state.json").is_file():
            return None
        state = json.loads((last / "state.json").read_text())
        model.load_state_dict(read_safetensors(last / "model.safetensors"))
        optimizer.load_state_dict(_unflatten_optimizer(read_safetensors(last / "optimizer.safetensors"),
                                                       state["optimizer"]))
        rng = read_safetensors(last / "rng.safetensors")
        torch.set_rng_state(rng.get(f"torch_rng.rank{distributed.context().rank}", rng["torch_rng"]))
        random.setstate(ast.literal_eval(state["rng"]["python"]))
        np_state = np.random.get_state()
        np.random.set_state((np_state[0], np.asarray(state["rng"]["numpy"], dtype=np.uint32),
                             state["rng"]["numpy_pos"], 0, 0.0))
        return state["loop"]

    def load_best(self, model: torch.nn.Module) -> None:
        path = self.directory / "best" / "model.safetensors"
        if path.is_file():
            model.load_state_dict(read_safetensors(path))

