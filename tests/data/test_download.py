"""The upstream download path, exercised against a local file:// URL (nothing here reaches the internet)."""

import dataclasses
import gzip
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from mmrec.data.config import DataConfig
from mmrec.data import DataError, load_tables
from mmrec.data.download import SOURCES, RemoteFile, download, locate, sha256_of


def _zip(data_root, path, tamper=False):
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("u.data", "u.item", "u.user"):
            blob = (data_root / "ml-100k" / name).read_bytes()
            zf.writestr(f"ml-100k/{name}", blob[:-10] if tamper and name == "u.data" else blob)
    return path


def test_download_verifies_and_caches(tmp_path, data_root):
    archive = _zip(data_root, tmp_path / "ml-100k.zip")
    cache = tmp_path / "cache"
    folder = download(SOURCES["ml-100k"], cache, urls=[archive.as_uri()])
    assert folder == cache / "ml-100k" and (folder / "u.data").stat().st_size == 1979173
    archive.unlink()  # a second call is a cache hit: no download
    assert download(SOURCES["ml-100k"], cache, urls=[archive.as_uri()]) == folder


def test_checksum_mismatch_leaves_nothing(tmp_path, data_root):
    archive = _zip(data_root, tmp_path / "ml-100k.zip", tamper=True)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="u.data: checksum mismatch"):
        download(SOURCES["ml-100k"], cache, urls=[archive.as_uri()])
    assert list(cache.iterdir()) == []


def test_locate_prefers_mmrec_data(monkeypatch, data_root, tmp_path):
    monkeypatch.setenv("MMREC_DATA", str(data_root))
    assert locate("ml-100k", tmp_path) == data_root / "ml-100k"
    monkeypatch.setenv("MMREC_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="unknown dataset"):
        locate("not-a-dataset", tmp_path)


SAMPLES = Path(__file__).parent / "samples"


def _zip_sample(name, path, folder):
    with zipfile.ZipFile(path, "w") as zf:
        for file in (SAMPLES / name).iterdir():
            zf.write(file, f"{folder}/{file.name}")
    return path


def test_archive_checksum_and_size(tmp_path):
    """ml-1m's layout behind an archive-level SHA-256 / size (as the real source has), from a local file:// URL."""
    archive = _zip_sample("ml-1m", tmp_path / "ml-1m.zip", "ml-1m")
    good = RemoteFile(archive.as_uri(), "zip", sha256=sha256_of(archive), size=archive.stat().st_size)
    source = dataclasses.replace(SOURCES["ml-1m"], files=(good,))
    folder = download(source, tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == ["movies.dat", "ratings.dat", "source.json", "users.dat"]
    provenance = json.loads((folder / "source.json").read_text())["files"]
    assert provenance == [{"url": archive.as_uri(), "bytes": archive.stat().st_size, "sha256": good.sha256}]
    tables = load_tables(DataConfig(dataset=str(folder), text_fields=["title"], image_field=None))
    assert tables.n_items == 12

    for bad, message in ((dataclasses.replace(good, sha256="0" * 64), "checksum mismatch"),
                         (dataclasses.replace(good, size=good.size + 1), "size mismatch")):
        cache = tmp_path / f"cache-{message[:4]}"
        with pytest.raises(DataError, match=message):
            download(dataclasses.replace(source, files=(bad,)), cache)
        assert list(cache.iterdir()) == []


def _gzip_files(tmp_path, name):
    paths = []
    for file in sorted((SAMPLES / name).iterdir()):
        paths.append(tmp_path / f"{file.name}.gz")
        paths[-1].write_bytes(gzip.compress(file.read_bytes()))
    return paths


def test_gzip_sources_and_locate(tmp_path, monkeypatch):
    """The Amazon 2018 source (two gzip JSON-lines files) through locate() and load_tables, from file:// URLs."""
    reviews, meta = _gzip_files(tmp_path, "amazon-2018")
    assert reviews.name == "All_Beauty_5.json.gz" and meta.name == "meta_All_Beauty.json.gz"
    local = dataclasses.replace(SOURCES["amazon-beauty"], files=tuple(
        dataclasses.replace(f, url=p.as_uri()) for f, p in zip(SOURCES["amazon-beauty"].files, (reviews, meta))))
    monkeypatch.setitem(SOURCES, "amazon-beauty", local)
    monkeypatch.setenv("MMREC_DATA", str(tmp_path / "nowhere"))
    cache = tmp_path / "cache"
    tables = load_tables(DataConfig(dataset="amazon-beauty", cache_dir=str(cache), text_fields=["title"],
                                    image_field=None))
    assert tables.name == "amazon-beauty" and (tables.n_users, tables.n_items) == (6, 7)
    assert (cache / "amazon-beauty" / "All_Beauty_5.json.gz").read_bytes() == reviews.read_bytes()


def test_truncated_gzip_leaves_nothing(tmp_path):
    reviews, meta = _gzip_files(tmp_path, "amazon-2018")
    reviews.write_bytes(reviews.read_bytes()[:-30])
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="not a complete gzip file"):
        download(SOURCES["amazon-beauty"], cache, urls=[reviews.as_uri(), meta.as_uri()])
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("filters", [True, False], ids=["extraction-filters", "python-without-filters"])
def test_tar_source(tmp_path, monkeypatch, filters):
    """Criteo's dac tarball layout: train.txt at the top level; a member escaping the folder is refused. Pythons
    before 3.10.12 / 3.11.4 have no ``tarfile`` extraction filters: there a link member is refused by type."""
    if not filters:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = tmp_path / "dac.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(SAMPLES / "criteo" / "train.txt", "train.txt")
    folder = download(SOURCES["criteo"], tmp_path / "cache", urls=[archive.as_uri()])
    assert (folder / "train.txt").read_bytes() == (SAMPLES / "criteo" / "train.txt").read_bytes()

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tf:
        tf.add(SAMPLES / "criteo" / "train.txt", "../train.txt")
    with pytest.raises(DataError, match="unsafe path in archive: ../train.txt"):
        download(SOURCES["criteo"], tmp_path / "cache2", urls=[evil.as_uri()])
    assert list((tmp_path / "cache2").iterdir()) == []
    if not filters:
        linked = tmp_path / "linked.tar.gz"
        with tarfile.open(linked, "w:gz") as tf:
            link = tarfile.TarInfo("train.txt")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(link)
        with pytest.raises(DataError, match="link or device: train.txt"):
            download(SOURCES["criteo"], tmp_path / "cache3", urls=[linked.as_uri()])


def test_unreachable_url_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="download failed"):
        download(SOURCES["ml-1m"], tmp_path, urls=[(tmp_path / "absent.zip").as_uri()])


def test_every_source_is_consistent():
    """Upstream URLs are https; a gzip file's upstream name is one the loader reads; known digests are SHA-256."""
    for name, source in SOURCES.items():
        assert source.name == name and source.required
        for remote in source.files:
            assert remote.url.startswith("https://")
            if remote.unpack == "gzip":
                assert Path(remote.url).name in source.required
            assert remote.sha256 is None or len(remote.sha256) == 64
