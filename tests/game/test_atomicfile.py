"""write_atomic: whole files or none, on every OS (Windows has no os.fchmod before 3.13, and briefly locked files)."""
import os

import pytest

from game import atomicfile
from game.atomicfile import write_atomic


def test_a_file_is_replaced_whole_and_no_temporary_is_left(tmp_path):
    target = tmp_path / "stats.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new contents", mode=0o600)
    assert target.read_bytes() == b"new contents"
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_without_fchmod_the_file_is_still_written(tmp_path, monkeypatch):
    """Windows before Python 3.13 has no os.fchmod: every session.json and stats file goes through here."""
    monkeypatch.delattr(os, "fchmod")
    write_atomic(tmp_path / "session.json", b"{}")
    assert (tmp_path / "session.json").read_bytes() == b"{}"


def test_a_briefly_locked_file_is_retried_on_windows_and_a_lasting_lock_raises(tmp_path, monkeypatch):
    """An antivirus holding the new file makes os.replace fail with PermissionError for a moment (Windows)."""
    real_replace, calls = os.replace, []

    def locked_twice(src, dst):
        calls.append(dst)
        if len(calls) <= 2:
            raise PermissionError(13, "locked by another process")
        real_replace(src, dst)

    monkeypatch.setattr(atomicfile, "RETRY_LOCKED", True)     # as on Windows
    monkeypatch.setattr(atomicfile.os, "replace", locked_twice)
    monkeypatch.setattr(atomicfile, "REPLACE_WAIT_S", 0.001)
    write_atomic(tmp_path / "a.json", b"1")
    assert (tmp_path / "a.json").read_bytes() == b"1" and len(calls) == 3

    def always_locked(src, dst):
        raise PermissionError(13, "locked")

    monkeypatch.setattr(atomicfile.os, "replace", always_locked)
    with pytest.raises(PermissionError):
        write_atomic(tmp_path / "b.json", b"2")
    assert not (tmp_path / "b.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"], "the temporary file is removed"
    monkeypatch.setattr(atomicfile, "RETRY_LOCKED", False)    # elsewhere a PermissionError is a real one: at once
    calls.clear()
    monkeypatch.setattr(atomicfile.os, "replace", locked_twice)
    with pytest.raises(PermissionError):
        write_atomic(tmp_path / "c.json", b"3")
    assert len(calls) == 1
