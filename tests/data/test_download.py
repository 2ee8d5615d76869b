"""The upstream download path, exercised against a local file:// URL (nothing here reaches the internet)."""

import zipfile

import pytest

from mmrec.data import DataError
from mmrec.data.download import SOURCES, download, locate


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
