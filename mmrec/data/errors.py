"""One error type for bad input data, always naming the file and, where it applies, the row and column."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input: the message says which file, row (1-based line in the file) and column."""

    def __init__(self, file: str | Path, message: str, row: int | None = None, column: str | None = None):
        self.file, self.row, self.column = str(file), row, column
        where = self.file
        if row is not None:
            where += f", line {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")
