"""Quiet C libraries: PortAudio/ALSA and LiteRT print to file descriptor 2 directly, not through sys.stderr, so
silencing them means pointing fd 2 at /dev/null for a moment."""
from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def quiet_stderr():
    """Send fd 2 to /dev/null for the duration."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
