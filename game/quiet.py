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


class CStderrLog:
    """For the rest of a child process: what C libraries print on fd 2 goes to a log file in the session folder.

    Why: PortAudio prints "Expression ... failed" lines from its audio thread when a device goes away mid-session;
    the player gets one clear notice instead, and the lines stay in stderr-<process>.log for a bug report.
    Python's own sys.stderr keeps the terminal (tracebacks still show). An empty log is removed at ``close``."""

    _routed = False   # once per process: a second one would take the log for the terminal

    def __init__(self, path):
        self.path = path
        self.active = False
        if CStderrLog._routed:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            terminal = os.dup(2)
        except OSError:
            return
        import sys
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding="utf-8", errors="replace")
        os.dup2(fd, 2)
        os.close(fd)
        self.active = CStderrLog._routed = True

    def close(self) -> None:
        if not self.active:
            return
        if os.name == "nt":   # Windows will not delete a file that is open: give fd 2 back to the terminal first
            try:
                import sys
                os.dup2(sys.stderr.fileno(), 2)
            except (OSError, ValueError, AttributeError):
                pass
        try:
            if os.path.getsize(self.path) == 0:
                os.unlink(self.path)
        except OSError:
            pass


def quiet_ffmpeg() -> None:
    """Keep FFmpeg's own log lines (inside OpenCV) off the terminal: it reads OPENCV_FFMPEG_LOGLEVEL once, when
    OpenCV first uses FFmpeg in the process, so call this before that. A level the user set is kept."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")   # AV_LOG_QUIET
