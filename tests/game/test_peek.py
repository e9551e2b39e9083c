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
