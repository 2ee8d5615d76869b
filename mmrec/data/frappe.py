"""Frappe (BARS Frappe_x1) from its libsvm files: 10 named categorical fields + label, and a seeded 8:1:1 re-split.

Only the x1 validation and test parts exist offline (see the dataset's README), so both are read (sha256
checked), concatenated, shuffled with a seed and cut 8:1:1 into train / valid / test files that mmrec and
FuxiCTR both read. Field values are local indices (global libsvm index minus the field's offset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmrec.core.io import atomic_file, hash_file
from mmrec.data.errors import DataError

FIELDS: list[tuple[str, int, int]] = [  # (name, offset, cardinality), from the dataset's README
    ("user", 0, 957), ("item", 957, 4082), ("daytime", 5039, 7), ("weekday", 5046, 7), ("isweekend", 5053, 2),
    ("homework", 5055, 3), ("cost", 5058, 2), ("weather", 5060, 9), ("country", 5069, 80), ("city", 5149, 233)]
FIELD_NAMES = [name for name, _, _ in FIELDS]
SHA256 = {"x1_valid.libsvm": "fc9de537bfb9aacca043730cfa7e7878c3a8b49781bbe66a35dd27d6bad7bd29",
          "x1_test.libsvm": "20d3d26705874eea94bcc416dc2e266d4558cc5fba25526fd46807d316b16fd7"}
SPLITS = ("train", "valid", "test")


def read_libsvm(path: str | Path, sha256: str | None = None) -> pd.DataFrame:
    """One Frappe libsvm file as a frame of the 10 fields (local indices) + ``label``; bad lines name their line."""
    path = Path(path)
    if sha256 is not None and hash_file(path) != sha256:
        raise DataError(path, f"sha256 is {hash_file(path)}, expected {sha256} (a different or damaged file)")
    lines = path.read_text().splitlines()
    cells = [line.split() for line in lines]
    for line_no, parts in enumerate(cells, 1):
        if len(parts) != len(FIELDS) + 1 or parts[0] not in ("0", "1"):
            raise DataError(path, f"expected 'label idx:1 x {len(FIELDS)}' with label 0/1, "
                            f"got {lines[line_no - 1][:80]!r}", row=line_no)
    try:
        idx = np.array([[int(c.partition(":")[0]) for c in parts[1:]] for parts in cells], dtype=np.int64)
    except ValueError:
        raise DataError(path, "a feature index is not an integer") from None
    idx = idx.reshape(len(cells), len(FIELDS))
    offsets = np.array([offset for _, offset, _ in FIELDS])
    ends = offsets + np.array([card for _, _, card in FIELDS])
    bad = (idx < offsets) | (idx >= ends)  # one index per field, in field order, inside the README's offsets
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DataError(path, f"index {idx[row, col]} is outside field {FIELD_NAMES[col]}'s range "
                        f"[{offsets[col]}, {ends[col]})", row=row + 1, column=FIELD_NAMES[col])
    frame = pd.DataFrame(idx - offsets, columns=FIELD_NAMES)
    frame["label"] = np.array([parts[0] for parts in cells], dtype=np.int64)
    return frame


def load_frappe(root: str | Path) -> pd.DataFrame:
    """The x1 validation then test rows (86,582), checked against the README's sha256s."""
    root = Path(root)
    return pd.concat([read_libsvm(root / name, digest) for name, digest in SHA256.items()], ignore_index=True)


def resplit(frame: pd.DataFrame, seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
            ) -> dict[str, pd.DataFrame]:
    """A seeded shuffle cut into train / valid / test by ``fractions``."""
    order = np.random.default_rng(seed).permutation(len(frame))
    cuts = np.cumsum([int(round(f * len(frame))) for f in fractions[:2]])
    parts = np.split(order, cuts)
    return {name: frame.iloc[np.sort(idx)].reset_index(drop=True) for name, idx in zip(SPLITS, parts)}


def write_splits(root: str | Path, out_dir: str | Path, seed: int = 0, fmt: str = "csv") -> dict[str, Path]:
    """Write the re-split as ``{train,valid,test}.{csv,parquet}`` (atomic); returns the paths."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format '{fmt}' is not csv or parquet")
    out_dir = Path(out_dir)
    paths = {}
    for name, part in resplit(load_frappe(root), seed).items():
        paths[name] = out_dir / f"{name}.{fmt}"
        with atomic_file(paths[name], "wb") as fh:
            if fmt == "csv":
                part.to_csv(fh, index=False)
            else:
                part.to_parquet(fh, index=False)
    return paths
