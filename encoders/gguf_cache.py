"""De-quantise a GGUF checkpoint once and keep its float weights as safetensors, keyed by the GGUF's sha256.

Loading a GGUF through transformers parses the file's metadata three times (config, tokenizer, weights) and
de-quantises every tensor in numpy: tens of seconds for a 135M model, minutes on a loaded machine. The float
model never changes for a given file, so the first load writes it out as a plain HF folder
(`config.json`, `model.safetensors`, tokenizer files) plus a manifest with every file's sha256; later loads
read that folder with the ordinary loaders and never open the GGUF except to hash it.

A GGUF-loaded model refuses `save_pretrained` (it carries the GGUF quantization config), so the model is
rebuilt from its config without that entry and given the de-quantised state dict first.

Cache location: `weights_cache` when given, else `$ENCODERS_CACHE`, else `$XDG_CACHE_HOME/encoders`, else
`~/.cache/encoders`; entries live in `<that>/gguf-float/<sha256>/`. An entry is written in a temporary folder
and renamed into place, so a crash never leaves a half-written entry that a later load would trust.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from encoders.hashing import sha256_file

log = logging.getLogger(__name__)

MANIFEST = "gguf-float.json"
FORMAT_VERSION = 1


def default_weights_cache() -> Path:
    """`$ENCODERS_CACHE`, else `$XDG_CACHE_HOME/encoders`, else `~/.cache/encoders`."""
    if os.environ.get("ENCODERS_CACHE"):
        return Path(os.environ["ENCODERS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "encoders"


def entry_dir(cache_root: str | os.PathLike[str], gguf_sha256: str) -> Path:
    """The cache folder of one GGUF file's float weights."""
    return Path(cache_root) / "gguf-float" / gguf_sha256


def float_copy(model: PreTrainedModel) -> PreTrainedModel:
    """The same model rebuilt from its config without the GGUF quantization config, holding the same weights."""
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    rebuilt = type(model)(config)
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    return rebuilt.eval()


def _read_entry(folder: Path, gguf_sha256: str) -> bool:
    """Whether `folder` is a complete entry for this GGUF whose files all match their recorded hashes."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        log.warning("%s: unreadable manifest (%s); rebuilding the float weights", manifest_path, err)
        return False
    if manifest.get("format") != FORMAT_VERSION or manifest.get("gguf_sha256") != gguf_sha256:
        return False
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            log.warning("%s: differs from its manifest (corrupt or replaced); rebuilding the float weights", path)
            return False
    return bool(manifest.get("files"))


def _write_entry(folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, info: dict[str, Any]) -> None:
    """Save model and tokenizer into a temporary sibling folder, hash every file, then rename it to `folder`."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the entry is an ordinary shared cache folder
        float_copy(model).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {"format": FORMAT_VERSION, **info, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if folder.exists():  # a stale or corrupt entry: replace it
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except OSError as err:
        if folder.is_dir() and (folder / MANIFEST).is_file():  # another process won the race; use its entry
            return
        raise RuntimeError(f"could not write the float weights cache {folder}: {err}") from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_gguf_model(
    folder: str | os.PathLike[str],
    gguf_file: str,
    gguf_sha256: str,
    cache_root: str | os.PathLike[str],
    load: dict[str, Any],
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, bool]:
    """(bare float32 model, tokenizer, cache hit?) for `folder/gguf_file`, de-quantising only on a cache miss."""
    entry = entry_dir(cache_root, gguf_sha256)
    if _read_entry(entry, gguf_sha256):
        log.info("float weights of %s: cache hit in %s", gguf_file, entry)
        tokenizer = AutoTokenizer.from_pretrained(str(entry))
        return AutoModel.from_pretrained(str(entry), dtype=torch.float32), tokenizer, True
    log.info("de-quantising %s once; float weights go to %s", gguf_file, entry)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file, **load)
    model = AutoModel.from_pretrained(str(folder), gguf_file=gguf_file, dtype=torch.float32, **load)
    _write_entry(entry, model, tokenizer, {"gguf_file": gguf_file, "gguf_sha256": gguf_sha256})
    return model, tokenizer, False
