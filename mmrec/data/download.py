"""Find a named dataset under ``$MMREC_DATA`` or download it from upstream into a cache, with checksums.

The upstream archive is checked file by file (SHA-256 of the extracted files that the loader reads), so a
truncated or tampered download is refused, and the cache is only populated by an atomic rename.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from mmrec.data.errors import DataError
from mmrec.core.io import TMP_PREFIX


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where a built-in dataset comes from and what its files must hash to."""

    name: str
    url: str
    archive_folder: str  # folder inside the zip that holds the files
    sha256: dict[str, str]  # file name -> SHA-256 of its contents


SOURCES = {
    "ml-100k": DatasetSource(
        name="ml-100k",
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        archive_folder="ml-100k",
        sha256={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
        },
    ),
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("MMREC_CACHE", Path.home() / ".cache" / "mmrec")) / "datasets"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, source: DatasetSource) -> None:
    for name, expected in source.sha256.items():
        path = folder / name
        if not path.is_file():
            raise DataError(path, f"missing from the {source.name} download")
        actual = _sha256(path)
        if actual != expected:
            raise DataError(path, f"checksum mismatch (sha256 {actual[:12]}…, expected {expected[:12]}…)")


def download(source: DatasetSource, cache_dir: Path, url: str | None = None) -> Path:
    """Download and unpack ``source`` into ``cache_dir/<name>``; returns that folder."""
    target = cache_dir / source.name
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    url = url or source.url
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX, dir=cache_dir) as tmp:
        archive = Path(tmp) / "archive.zip"
        with urllib.request.urlopen(url) as response, open(archive, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {source.name}") as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():  # refuse members that would land outside the folder
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise DataError(url, f"unsafe path in archive: {member}")
                zf.extractall(tmp)
        except zipfile.BadZipFile:
            raise DataError(url, "downloaded file is not a zip archive") from None
        unpacked = Path(tmp) / source.archive_folder
        verify(unpacked, source)
        shutil.move(str(unpacked), str(target.with_name(TMP_PREFIX + target.name)))
        os.replace(target.with_name(TMP_PREFIX + target.name), target)
    return target


def locate(name: str, cache_dir: str | Path | None = None) -> Path:
    """A built-in dataset's folder: ``$MMREC_DATA/<name>`` if present, else the cache (downloading if needed)."""
    data_root = os.environ.get("MMREC_DATA")
    if data_root and (Path(data_root) / name).is_dir():
        return Path(data_root) / name
    if name not in SOURCES:
        raise DataError(name, f"unknown dataset: not a directory, not under $MMREC_DATA, and not one of "
                              f"{sorted(SOURCES)}")
    return download(SOURCES[name], Path(cache_dir) if cache_dir else default_cache_dir())
