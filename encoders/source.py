"""Where a model named by Hub id or local path lives on disk, and what identifies its weights.

The same call serves both: a local folder is used as is; a Hub id is resolved through the local HF cache
(`HF_HUB_CACHE`), which works offline. The weights hash, not the name, keys cached embeddings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers.utils import cached_file

from encoders.hashing import sha256_files, weight_files


@dataclass
class ModelSource:
    """A model reference (Hub id or path) with an optional revision, resolved lazily to a local folder."""

    name: str
    revision: str | None = None
    _weights_sha256: str | None = field(default=None, init=False, repr=False)

    @property
    def is_local(self) -> bool:
        return os.path.isdir(self.name)

    def file(self, filename: str) -> Path | None:
        """Local path of a file of the model, or None when the model has no such file."""
        if self.is_local:
            path = Path(self.name, filename)
            return path if path.is_file() else None
        found = cached_file(
            self.name,
            filename,
            revision=self.revision,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
        return Path(found) if found else None

    def json(self, filename: str) -> dict[str, Any] | list[Any] | None:
        """A JSON file of the model, parsed, or None."""
        path = self.file(filename)
        return json.loads(path.read_text()) if path else None

    def folder(self, probe: str = "config.json") -> Path:
        """The local folder holding the model files (the snapshot folder for a Hub id), found via `probe`."""
        path = self.file(probe)
        if path is None:
            raise FileNotFoundError(f"model {self.name!r}: no {probe} locally or in the HF cache")
        return path.parent

    def weights_sha256(self, only: str | None = None) -> str:
        """Hash of the weight files in the model folder, or of the single file `only`; computed once."""
        if self._weights_sha256 is None:
            files = [self.folder(only) / only] if only else weight_files(self.folder())
            if not files:
                raise FileNotFoundError(f"model {self.name!r}: no weight files found")
            self._weights_sha256 = sha256_files(files)
        return self._weights_sha256

    def describe(self, only: str | None = None) -> dict[str, Any]:
        """Identity for cache manifests: name, revision, snapshot (Hub ids) and the weights hash."""
        info: dict[str, Any] = {"model": self.name, "revision": self.revision}
        if not self.is_local:
            info["snapshot"] = self.folder(only or "config.json").name
        info["weights_sha256"] = self.weights_sha256(only)
        return info
