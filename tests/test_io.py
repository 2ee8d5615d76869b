"""Atomic writes: all-or-nothing, and files / directories get the permissions a plain open / mkdir would give."""

import os
import stat

import pytest

from mmrec.core.io import atomic_dir, atomic_file, write_json


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_file_gets_umask_permissions_not_mkstemps_0600(tmp_path, umask_022):
    write_json(tmp_path / "a.json", {"x": 1})
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_atomic_dir_gets_umask_permissions_not_mkdtemps_0700(tmp_path, umask_022):
    with atomic_dir(tmp_path / "art") as tmp:
        (tmp / "f.txt").write_text("x")
    assert stat.S_IMODE((tmp_path / "art").stat().st_mode) == 0o755


def test_failed_block_leaves_target_untouched(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as fh:
            fh.write("new")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]
