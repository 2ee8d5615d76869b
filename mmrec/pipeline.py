"""The staged pipeline: each stage writes one artifact keyed by a hash of its inputs and config.

``RUN/artifacts/<stage>-<key>/`` appears atomically when a stage finishes, so re-running skips finished
stages and a killed run resumes at the first unfinished one. Changing a stage's config (or anything
upstream of it) changes its key, so stale artifacts are never reused. One process at a time may use a run
directory: a second one is refused with a clear message. ``RUN/status.json`` says which planned stages are done,
which are not run yet and which one failed, updated after every stage, so a report rendered mid-run (``on_stage``,
called after each stage that ran) can say it is incomplete.

Under ``torchrun`` only rank 0 takes the lock and writes artifacts; a stage marked ``distributed`` runs on every
rank (each writes into a private scratch directory that is discarded), any other stage runs on rank 0 while the
rest wait at a barrier, and every rank moves to the next stage together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmrec.core.config import to_dict
from mmrec.core.io import atomic_dir, hash_obj, remove_stale_temporaries, write_json, write_text
from mmrec.core.machine import describe_machine
from mmrec.recipe import RecipeConfig
from mmrec.train import distributed

log = logging.getLogger("mmrec")


@dataclasses.dataclass
class StageContext:
    """What a stage function gets: the recipe, its upstream artifacts, and a directory to write into."""

    cfg: RecipeConfig
    run_dir: Path
    out: Path  # temporary directory; becomes the artifact when the stage returns
    inputs: dict[str, Path]  # upstream stage name -> its artifact directory
    key: str = ""  # this artifact's key: names state that must outlive a killed attempt (checkpoints)


@dataclasses.dataclass(frozen=True)
class Stage:
    """A pipeline step: what it needs, which config sections key it, and the function that builds it."""

    name: str
    run: Callable[[StageContext], None]
    needs: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()  # recipe sections whose values are part of the key
    version: str = "1"  # bump when the stage's output format or semantics change
    fingerprint: Callable[[RecipeConfig], str] | None = None  # hash of external inputs (dataset files)
    distributed: bool = False  # every rank runs it (it shards its own work); otherwise rank 0 alone
    wants: Callable[[RecipeConfig], tuple[str, ...]] | None = None  # extra needs that depend on the recipe
    on_demand: bool = False  # runs only when named or wanted by another stage, not in a plain full run


class RunLockedError(RuntimeError):
    """Another process holds the run directory."""


class Pipeline:
    """Runs stages of a recipe into a run directory, skipping those whose artifact already exists."""

    def __init__(self, cfg: RecipeConfig, run_dir: str | Path, stages: list[Stage],
                 on_stage: Callable[[str, Path], None] | None = None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.on_stage = on_stage  # (stage name, artifact) after each stage that ran (not cached), on rank 0
        self.stages = {s.name: s for s in stages}
        self._keys: dict[str, str] = {}

    def needs(self, name: str) -> tuple[str, ...]:
        """A stage's upstream stages: its fixed ``needs`` plus what the recipe makes it want (e.g. codes)."""
        stage = self.stages[name]
        extra = stage.wants(self.cfg) if stage.wants else ()
        return stage.needs + tuple(n for n in extra if n not in stage.needs)

    def key(self, name: str) -> str:
        if name not in self._keys:
            stage = self.stages[name]
            cfg = to_dict(self.cfg)
            self._keys[name] = hash_obj({
                "stage": name,
                "version": stage.version,
                "config": {section: cfg[section] for section in stage.sections},
                "upstream": {need: self.key(need) for need in self.needs(name)},
                "external": stage.fingerprint(self.cfg) if stage.fingerprint else None,
            })
        return self._keys[name]

    def artifact(self, name: str) -> Path:
        return self.run_dir / "artifacts" / f"{name}-{self.key(name)}"

    def plan(self, targets: list[str] | None = None) -> list[str]:
        """Stages to visit, upstream first: the targets and everything they need."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name not in self.stages:
                raise KeyError(f"unknown stage '{name}'; stages: {', '.join(self.stages)}")
            for need in self.needs(name):
                visit(need)
            if name not in order:
                order.append(name)

        for name in targets or [n for n, s in self.stages.items() if not s.on_demand]:
            visit(name)
        return order

    def run(self, targets: list[str] | None = None) -> dict[str, Path]:
        main = distributed.context().is_main
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock() if main else _Locked(None):
            if main:
                remove_stale_temporaries(self.run_dir / "artifacts")
                write_text(self.run_dir / "recipe.json", json.dumps(to_dict(self.cfg), indent=2) + "\n")
            done: dict[str, Path] = {}
            plan = self.plan(targets)
            for name in plan:
                path = self.artifact(name)
                distributed.barrier()  # every rank sees the same finished artifacts
                ran = not (path / "stage.json").is_file()
                if not ran:
                    log.info("stage %-9s cached   %s", name, path.name)
                else:
                    try:
                        self._run_stage(name, path, {need: done[need] for need in self.needs(name)})
                    except BaseException:
                        if main:
                            self._write_status(plan, done, failed=name)
                        raise
                done[name] = path
                if main:
                    self._write_status(plan, done)
                    if self.on_stage is not None and ran:
                        self.on_stage(name, path)
            distributed.barrier()
            return done

    def _write_status(self, plan: list[str], done: dict[str, Path], failed: str | None = None) -> None:
        """``stages.json`` (finished stages -> artifact) and ``status.json`` (done / not run yet / failed)."""
        write_json(self.run_dir / "stages.json", {name: str(p.relative_to(self.run_dir)) for name, p in done.items()})
        whole = plan + [n for n in self.plan() if n not in plan]  # a --stage run leaves the rest of the recipe
        write_json(self.run_dir / "status.json", {"planned": whole, "done": list(done), "failed": failed,
                                                  "pending": [n for n in whole if n not in done]})

    def _run_stage(self, name: str, path: Path, inputs: dict[str, Path]) -> None:
        stage = self.stages[name]
        if not distributed.context().is_main:
            if stage.distributed:  # a helper rank: its share of the work counts, its files do not
                with tempfile.TemporaryDirectory(prefix="mmrec-rank-") as scratch:
                    stage.run(StageContext(self.cfg, self.run_dir, Path(scratch), inputs, self.key(name)))
            return
        log.info("stage %-9s running  %s", name, path.name)
        start = time.perf_counter()
        alone = contextlib.nullcontext() if stage.distributed else distributed.single_process()
        with atomic_dir(path) as tmp, alone:
            stage.run(StageContext(self.cfg, self.run_dir, tmp, inputs, self.key(name)))
            write_json(tmp / "stage.json", {"stage": name, "key": self.key(name), "seconds": time.perf_counter() - start,
                                            "inputs": {k: v.name for k, v in inputs.items()},
                                            "machine": describe_machine()})
        log.info("stage %-9s done in %.1fs", name, time.perf_counter() - start)

    def _lock(self) -> Any:
        lock_path = self.run_dir / ".lock"
        handle = open(lock_path, "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunLockedError(f"another mmrec process is using {self.run_dir} (lock {lock_path}); "
                                 "wait for it or choose another --output") from None
        return _Locked(handle)


class _Locked:
    def __init__(self, handle: Any):
        self.handle = handle  # None: nothing to release (a helper rank of a distributed run)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
