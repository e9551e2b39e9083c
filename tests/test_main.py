"""main.py: the clock every process stamps with, and output that never stops a command on an odd character."""
import subprocess
import sys
import time

import main
from conftest import ROOT


def test_windows_before_3_13_stamps_with_perf_counter_and_everywhere_else_with_monotonic():
    """GetTickCount64 (Windows' monotonic before 3.13) moves in 15.6 ms steps; QueryPerformanceCounter does not."""
    assert main._clock_for("win32", (3, 11)) is time.perf_counter
    assert main._clock_for("win32", (3, 12)) is time.perf_counter
    assert main._clock_for("win32", (3, 13)) is time.monotonic
    assert main._clock_for("linux", (3, 11)) is time.monotonic
    assert main._clock_for("darwin", (3, 12)) is time.monotonic


def test_a_title_the_terminal_cannot_encode_prints_as_a_question_mark(tmp_path):
    """stdout in a code page without the character (Windows, redirected): replaced, not UnicodeEncodeError."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import main; main._printable_output(); "
            "print('Zoë ♪ 日本')")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True,
                          env={"PYTHONIOENCODING": "cp1252", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("cp1252").strip() == "Zoë ? ??"
