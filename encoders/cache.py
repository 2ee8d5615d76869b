"""Embedding cache: one safetensors file per encoder plus a JSON manifest saying what produced it.

A cache hit needs the manifest's key (model weights hash, pooling, adapter hash, item-table hash, ...) to
equal the current one, and the file to agree with the manifest (content hash, shape, dtype). Anything else
re-encodes; an inconsistent or corrupt file is reported, never used. Both files are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from encoders.base import Encoded, Encoder
from encoders.hashing import sha256_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_DTYPE = "float32"


class CacheError(RuntimeError):
    """A cached file that disagrees with its manifest or cannot be read."""


def cache_key(encoder: Encoder, items: Sequence[str | None]) -> dict[str, Any]:
    """What must match for cached embeddings to be reused."""
    return {
        "format": FORMAT_VERSION,
        **encoder.fingerprint(),
        "items_sha256": encoder.items_fingerprint(items),
        "n_items": len(items),
    }


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EmbeddingCache:
    """Cached embeddings under `directory`, one `<name>.safetensors` + `<name>.json` pair per encoder."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.safetensors", self.directory / f"{name}.json"

    def load(self, name: str, key: dict[str, Any]) -> Encoded | None:
        """Cached embeddings for `key`; None if absent or stale; CacheError if the files are inconsistent."""
        data_path, manifest_path = self.paths(name)
        if not manifest_path.is_file() or not data_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CacheError(f"{manifest_path}: unreadable manifest ({err})") from err
        if manifest.get("key") != key:
            return None
        if sha256_file(data_path) != manifest.get("file_sha256"):
            raise CacheError(f"{data_path}: content hash differs from its manifest (corrupt or replaced)")
        try:
            tensors = load_file(str(data_path))
        except Exception as err:  # safetensors raises its own error types for malformed files
            raise CacheError(f"{data_path}: not a readable safetensors file ({err})") from err
        emb, mask = tensors.get("emb"), tensors.get("mask")
        expected = (key["n_items"], manifest.get("dim"))
        if emb is None or mask is None:
            raise CacheError(f"{data_path}: missing 'emb' or 'mask' tensor")
        if tuple(emb.shape) != expected or str(emb.dtype).removeprefix("torch.") != manifest.get("dtype"):
            raise CacheError(
                f"{data_path}: emb is {tuple(emb.shape)} {emb.dtype}, manifest says {expected} {manifest.get('dtype')}"
            )
        if tuple(mask.shape) != (key["n_items"],):
            raise CacheError(f"{data_path}: mask has shape {tuple(mask.shape)}, expected ({key['n_items']},)")
        return Encoded(emb.numpy(), mask.numpy().astype(bool))

    def save(self, name: str, key: dict[str, Any], encoded: Encoded) -> None:
        """Write embeddings then manifest, each atomically (a stale manifest never matches a new file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data_path, manifest_path = self.paths(name)
        tensors = {
            "emb": torch.from_numpy(np.ascontiguousarray(encoded.emb, dtype=np.float32)),
            "mask": torch.from_numpy(np.ascontiguousarray(encoded.mask, dtype=bool)),
        }
        _atomic_write(data_path, lambda tmp: save_file(tensors, tmp))
        manifest = {
            "key": key,
            "dim": int(encoded.emb.shape[1]),
            "dtype": _DTYPE,
            "file_sha256": sha256_file(data_path),
        }
        _atomic_write(manifest_path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2, sort_keys=True)))


def cached_encode(
    encoder: Encoder, items: Sequence[str | None], cache_dir: str | os.PathLike[str], name: str | None = None
) -> Encoded:
    """`encoder.encode(items)`, reusing `cache_dir/<name>` when it matches; a bad cache file is re-encoded."""
    cache = EmbeddingCache(cache_dir)
    name = name or encoder.kind
    key = cache_key(encoder, items)
    try:
        hit = cache.load(name, key)
    except CacheError as err:
        log.warning("ignoring cached %s embeddings and re-encoding: %s", name, err)
        hit = None
    if hit is not None:
        log.info("%s embeddings: cache hit in %s", name, cache.directory)
        return hit
    encoded = encoder.encode(items)
    cache.save(name, key, encoded)
    return encoded
