"""Reading a ``prepare`` artifact back: the validated tables and every split, as later stages and tools need them."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from mmrec.data.errors import DataError
from mmrec.data.splits import CTRSplit, SequentialSplit
from mmrec.data.tables import Tables


def load_prepared(path: str | Path, kinds: Collection[str] | None = None
                  ) -> tuple[Tables, dict[str, SequentialSplit | CTRSplit]]:
    """Tables and splits from a ``prepare`` artifact: every split, or only those of ``kinds``.

    A stage names the kinds it reads: a sequential split is decoded into per-user arrays when loaded (at 20M
    events, the leave-one-out and new-items splits are ~1.5 GB a stage that trains CTR models never uses).
    """
    path = Path(path)
    splits: dict[str, SequentialSplit | CTRSplit] = {}
    folder = path
    try:
        for folder in sorted((path / "splits").iterdir()):
            kind = json.loads((folder / "split.json").read_text())["kind"]
            if kinds is not None and kind not in kinds:
                continue
            splits[kind] = CTRSplit.load(folder) if kind == "ctr" else SequentialSplit.load(folder)
        folder = path / "tables"
        return Tables.load(folder), splits
    except (OSError, ValueError, KeyError) as exc:  # missing / truncated Arrow or JSON files of a cached artifact
        raise DataError(folder, f"cached artifact is corrupt ({type(exc).__name__}: {exc}); delete {path} and "
                                "re-run to rebuild it") from None
