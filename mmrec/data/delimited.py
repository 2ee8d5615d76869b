"""Headerless delimited text files (GroupLens ``::`` files, Criteo's tab-separated logs), read in chunks.

pandas pads a short line with empty strings and skips blank lines, which would hide a truncated row and shift
every later line number; so each line's separator count is checked here first, and a line with the wrong
number of fields stops with its exact line number. Fields are strings, read literally (no quoting).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from mmrec.data.errors import DataError


def iter_delimited(path: Path, names: list[str], sep: str, encoding: str = "utf-8", max_rows: int | None = None,
                   chunk_rows: int = 250_000) -> Iterator[tuple[int, pd.DataFrame]]:
    """``(file line of the chunk's first row, chunk frame)`` over the first ``max_rows`` lines of ``path``."""
    if not path.is_file():
        raise DataError(path, "file not found")
    expected = len(names) - 1
    line_no = 1
    try:
        with open(path, encoding=encoding, newline="") as fh:
            remaining = max_rows
            while remaining is None or remaining > 0:
                take = chunk_rows if remaining is None else min(chunk_rows, remaining)
                lines = [line.rstrip("\r\n") for line in itertools.islice(fh, take)]
                if not lines:
                    break
                counts = [line.count(sep) for line in lines]
                bad = next((i for i, c in enumerate(counts) if c != expected), None)
                if bad is not None:
                    raise DataError(path, f"expected {len(names)} fields separated by {sep!r}, found {counts[bad] + 1}"
                                          f": {lines[bad][:80]!r}", row=line_no + bad)
                text = "\n".join(lines) if sep == "\t" else "\n".join(line.replace(sep, "\t") for line in lines)
                frame = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=names, dtype=str,
                                    keep_default_na=False, quoting=csv.QUOTE_NONE, skip_blank_lines=False)
                yield line_no, frame
                line_no += len(lines)
                if remaining is not None:
                    remaining -= len(lines)
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not {encoding} text ({exc})") from None
    if line_no == 1:
        raise DataError(path, "file is empty")


def read_delimited(path: Path, names: list[str], sep: str, encoding: str = "utf-8") -> pd.DataFrame:
    """The whole file as one frame of strings (row i = file line i + 1)."""
    return pd.concat([frame for _, frame in iter_delimited(path, names, sep, encoding)], ignore_index=True)
