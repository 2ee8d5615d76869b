"""Find a named dataset under ``$MMREC_DATA`` or download it from upstream into a cache, with checksums.

Every built-in dataset takes one code path: each upstream file is fetched into a temporary folder inside the
cache, its size and SHA-256 are checked where a trusted value is known, archives are unpacked (zip / tar,
refusing members that would land outside the folder), gzip files are read through once so their CRC-32 and
length trailer catch a truncated download, the files the loader reads are checked (by SHA-256 where known),
and only then does one atomic rename populate ``cache/<name>``. ``source.json`` in that folder records the
URL, size and SHA-256 of everything fetched, so a changed upstream file is visible.

Checksums: GroupLens publishes MD5s of its zips; the SHA-256 and byte sizes recorded here for ml-1m / ml-20m
are the ones TensorFlow Datasets pinned for the same URLs (``url_checksums/movielens.txt``), and ml-100k's are
of its extracted files. The Amazon review releases and Criteo publish no checksum: those downloads are
checked by their gzip CRC-32 / length trailer only, and their SHA-256 is recorded in ``source.json``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from mmrec.data.errors import DataError
from mmrec.core.io import TMP_PREFIX


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One upstream file: an archive to unpack or a gzip file kept as it is."""

    url: str
    unpack: Literal["zip", "tar", "gzip"]
    sha256: str | None = None  # of the downloaded bytes, where a trusted value is known
    size: int | None = None  # bytes, likewise


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where a built-in dataset comes from, which files its loader reads, and what they must hash to."""

    name: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]  # files the loader reads (inside archive_folder)
    archive_folder: str = ""  # folder inside the archives that holds them ("" = top level)
    sha256: dict[str, str] = dataclasses.field(default_factory=dict)  # required file -> SHA-256, where known


GROUPLENS = "https://files.grouplens.org/datasets/movielens"
AMAZON_2018 = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
AMAZON_2023 = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023/raw"


def amazon_2018(name: str, category: str) -> DatasetSource:
    """A 2018 (Ni et al.) category: its 5-core reviews plus the category's item metadata."""
    return DatasetSource(
        name=name,
        files=(RemoteFile(f"{AMAZON_2018}/categoryFilesSmall/{category}_5.json.gz", "gzip"),
               RemoteFile(f"{AMAZON_2018}/metaFiles2/meta_{category}.json.gz", "gzip")),
        required=(f"{category}_5.json.gz", f"meta_{category}.json.gz"),
    )


def amazon_2023(name: str, category: str) -> DatasetSource:
    """A 2023 (Hou et al.) category: all its reviews plus its item metadata (keyed by ``parent_asin``)."""
    return DatasetSource(
        name=name,
        files=(RemoteFile(f"{AMAZON_2023}/review_categories/{category}.jsonl.gz", "gzip"),
               RemoteFile(f"{AMAZON_2023}/meta_categories/meta_{category}.jsonl.gz", "gzip")),
        required=(f"{category}.jsonl.gz", f"meta_{category}.jsonl.gz"),
    )


SOURCES = {
    "ml-100k": DatasetSource(
        name="ml-100k",
        files=(RemoteFile(f"{GROUPLENS}/ml-100k.zip", "zip"),),
        archive_folder="ml-100k",
        required=("u.data", "u.item", "u.user"),
        sha256={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
        },
    ),
    "ml-1m": DatasetSource(
        name="ml-1m",
        files=(RemoteFile(f"{GROUPLENS}/ml-1m.zip", "zip", size=5_917_549,
                          sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),),
        archive_folder="ml-1m",
        required=("ratings.dat", "movies.dat", "users.dat"),
    ),
    "ml-20m": DatasetSource(
        name="ml-20m",
        files=(RemoteFile(f"{GROUPLENS}/ml-20m.zip", "zip", size=198_702_078,
                          sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),),
        archive_folder="ml-20m",
        required=("ratings.csv", "movies.csv", "tags.csv"),
    ),
    "amazon-beauty": amazon_2018("amazon-beauty", "All_Beauty"),
    "amazon-2023-beauty": amazon_2023("amazon-2023-beauty", "All_Beauty"),
    "criteo": DatasetSource(  # Kaggle Display Advertising Challenge (dac): train.txt, test.txt, readme.txt
        name="criteo",
        files=(RemoteFile("https://go.criteo.net/criteo-research-kaggle-display-advertising-challenge-dataset.tar.gz",
                          "tar"),),
        required=("train.txt",),
    ),
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("MMREC_CACHE", Path.home() / ".cache" / "mmrec")) / "datasets"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(path: Path, expected: str | None, size: int | None, what: str) -> str:
    if size is not None and path.stat().st_size != size:
        raise DataError(what, f"size mismatch ({path.stat().st_size} bytes, expected {size})")
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        raise DataError(what, f"checksum mismatch (sha256 {actual[:12]}…, expected {expected[:12]}…)")
    return actual


def verify(folder: Path, source: DatasetSource) -> None:
    """The loader's files are all there and match their recorded SHA-256."""
    for name in source.required:
        path = folder / name
        if not path.is_file():
            raise DataError(path, f"missing from the {source.name} download")
        if name in source.sha256:
            _check_digest(path, source.sha256[name], None, str(path))


def _fetch(url: str, out: Path, label: str) -> None:
    try:
        with urllib.request.urlopen(url) as response, open(out, "wb") as fh:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {label}",
                      disable=None) as bar:  # no bar lines in a log file
                while block := response.read(1 << 16):
                    fh.write(block)
                    bar.update(len(block))
    except OSError as exc:  # URLError, HTTPError and socket errors are all OSErrors
        raise DataError(url, f"download failed ({exc})") from None


def _safe(member: str, url: str) -> None:
    if member.startswith("/") or ".." in Path(member).parts:
        raise DataError(url, f"unsafe path in archive: {member}")


def _unpack(archive: Path, remote: RemoteFile, dest: Path, name: str) -> None:
    url = remote.url
    if remote.unpack == "zip":
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _safe(member, url)
                zf.extractall(dest)
        except zipfile.BadZipFile:
            raise DataError(url, "downloaded file is not a zip archive") from None
    elif remote.unpack == "tar":
        try:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _safe(member.name, url)
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # Python before 3.10.12 / 3.11.4 has no extraction filters: regular files and folders only
                    for member in members:
                        if not (member.isfile() or member.isdir()):
                            raise DataError(url, f"archive member is a link or device: {member.name}")
                    tf.extractall(dest)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(url, f"downloaded file is not a readable tar archive ({exc})") from None
    else:
        try:  # reading to the end checks the gzip CRC-32 and length trailer
            with gzip.open(archive, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (OSError, EOFError) as exc:
            raise DataError(url, f"downloaded file is not a complete gzip file ({exc})") from None
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(archive), str(dest / name))


def download(source: DatasetSource, cache_dir: Path, urls: list[str] | None = None) -> Path:
    """Download, check and unpack ``source`` into ``cache_dir/<name>``; returns that folder.

    ``urls`` replaces the upstream URLs one for one (a mirror, or a local ``file://`` copy).
    """
    target = cache_dir / source.name
    if target.is_dir():
        return target
    urls = urls or [f.url for f in source.files]
    if len(urls) != len(source.files):
        raise ValueError(f"{source.name} has {len(source.files)} upstream files, got {len(urls)} URLs")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX, dir=cache_dir) as tmp:
        unpacked = Path(tmp) / "unpacked"
        provenance = []
        for i, (remote, url) in enumerate(zip(source.files, urls)):
            name = Path(urllib.request.url2pathname(url.rsplit("/", 1)[-1])).name or f"file{i}"
            fetched = Path(tmp) / f"{i}-{name}"
            _fetch(url, fetched, f"{source.name} {name}")
            digest = _check_digest(fetched, remote.sha256, remote.size, url)
            provenance.append({"url": url, "bytes": fetched.stat().st_size, "sha256": digest})
            _unpack(fetched, remote, unpacked / source.archive_folder if remote.unpack == "gzip" else unpacked,
                    Path(remote.url).name)
        folder = unpacked / source.archive_folder
        verify(folder, source)
        (folder / "source.json").write_text(json.dumps({"dataset": source.name, "files": provenance}, indent=2))
        os.replace(folder, target)
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
