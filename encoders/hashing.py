"""Content hashes used to key cached embeddings: weights files, item inputs, tensors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf")
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """sha256 of one file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_files(paths: Iterable[str | Path]) -> str:
    """One hash over several files (names and contents, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def weight_files(folder: str | Path) -> list[Path]:
    """Weight files at the top level of a model folder (where HF and sentence-transformers put them)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def sha256_json(obj: object) -> str:
    """Hash of a JSON-serialisable value (keys sorted, so dict order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def sha256_strings(items: Sequence[str | None]) -> str:
    """Hash of a list of optional strings, position-sensitive."""
    return sha256_json(list(items))


def sha256_tensors(tensors: dict[str, torch.Tensor]) -> str:
    """Hash of named tensors' names, shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
