"""`main.py peek` attaches to a session's hand state by name from another process and leaves it in place."""
import os
from pathlib import Path

from conftest import run_app
from game import handstate


def test_peek_prints_the_live_hand_state_and_leaves_the_segment():
    names = handstate.segment_names(f"peek{os.getpid()}")
    rec = handstate.create_hand(names["hand"])
    voice = handstate.create_voice(names["voice"])
    try:
        values = [42, 3.5, 1, 0.0625, 0.25, 0.75, 0.9, 0, 0, 3.51]
        rec.write(values)
        voice.write([3.52, 69.0, 0.5, 42])
        proc = run_app("peek", names["hand"], "--count", "3", "--interval", "0.01", timeout=30)
        assert proc.returncode == 0, proc.stderr
        lines = [l for l in proc.stdout.splitlines() if l.startswith("frame")]
        assert len(lines) == 3
        assert "frame     42" in lines[0] and "area 0.0625" in lines[0] and "(0.25, 0.75)" in lines[0]
        assert "playing A4 (440.0 Hz, amp 0.50)" in lines[0]
        assert Path(f"/dev/shm/{names['hand']}").exists() and Path(f"/dev/shm/{names['voice']}").exists()
    finally:
        rec.close()
        voice.close()


def test_peek_without_a_session_says_what_to_do():
    proc = run_app("peek", "handtone-none-hand", "--count", "1", timeout=30)
    assert proc.returncode == 2
    assert "is the session running" in proc.stderr


def test_peek_by_the_sessions_number():
    """The number a session prints (its launcher's pid) names its segments: `peek NUMBER` finds them, as it must
    where shared memory cannot be listed."""
    number = f"9{os.getpid()}"
    names = handstate.segment_names(number)
    rec = handstate.create_hand(names["hand"])
    try:
        rec.write([7, 0.25, 1, 0.04, 0.5, 0.5, 0.9, 0, 0, 0.26])
        proc = run_app("peek", number, "--count", "1", "--interval", "0.01", timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert "frame      7" in proc.stdout and "area 0.0400" in proc.stdout
    finally:
        rec.close()


def test_where_sessions_cannot_be_listed_peek_asks_for_the_number(monkeypatch, tmp_path):
    """macOS and Windows keep no list of shared memory: `peek` alone says to give the session's number, and the
    launcher prints the command with it; Linux lists /dev/shm and needs neither."""
    import pytest
    from game import peek
    assert peek.can_list() and peek.watch_hint(1234) is None        # this machine: Linux
    monkeypatch.setattr(peek, "SHM_DIR", tmp_path / "no-such-dir")
    assert not peek.can_list() and peek.running_sessions() == []
    assert peek.watch_hint(1234) == "`python main.py peek 1234` watches its hand"
    with pytest.raises(LookupError, match=r"give the session's number, as in `python main.py peek 1234`"):
        peek.resolve_name(None)
    assert peek.resolve_name("1234") == handstate.segment_names("1234")["hand"]
