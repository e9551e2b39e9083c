#!/usr/bin/env python3
"""handtone: a webcam music game. Run `python main.py --help`."""
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


def _clock_for(platform: str, version: tuple):
    """The clock every process stamps with. On Windows before Python 3.13 time.monotonic is GetTickCount64, which
    moves in 15.6 ms steps: too coarse for motion-to-sound times and for placing the audio tracks on one clock.
    time.perf_counter is QueryPerformanceCounter there, as fine as monotonic elsewhere and one clock for every
    process (3.13 made monotonic the same), so it takes monotonic's place."""
    if platform == "win32" and version < (3, 13):
        return time.perf_counter
    return time.monotonic


# at import, so every child (spawn runs this file first, as __mp_main__) stamps with the same clock
time.monotonic = _clock_for(sys.platform, sys.version_info[:2])


def _printable_output() -> None:
    """A title or lyric the terminal's code page cannot show (Windows, output redirected) prints as '?' instead
    of stopping the command with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass


def _packages_or_venv() -> None:
    """Started with a Python that lacks our packages (say the system's): use the checkout's .venv, or say how."""
    try:
        import numpy  # noqa: F401
        import dotenv  # noqa: F401
    except ImportError as e:
        venv_python = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
            args = [str(venv_python), str(ROOT / "main.py"), *sys.argv[1:]]
            if os.name == "nt":   # no real exec there: it would start a second process with its arguments unquoted
                import subprocess
                game = subprocess.Popen(args)
                while True:
                    try:
                        sys.exit(game.wait())
                    except KeyboardInterrupt:   # Ctrl-C reaches the game too: it stops and writes its reports
                        continue
            os.execv(str(venv_python), args)
        shown = Path(".venv", "Scripts", "python") if os.name == "nt" else Path(".venv", "bin", "python")
        sys.exit(f"handtone: error: {e.name} is not installed for {sys.executable}: run `make setup` "
                 f"(or pip install -r requirements.txt), then `{shown} main.py ...`")


if __name__ == "__main__":
    _printable_output()
    _packages_or_venv()
    from game.cli import main
    sys.exit(main())
