#!/usr/bin/env python3
"""handtone: a webcam music game. Run `python main.py --help`."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))


def _packages_or_venv() -> None:
    """Started with a Python that lacks our packages (say the system's): use the checkout's .venv, or say how."""
    try:
        import numpy  # noqa: F401
        import dotenv  # noqa: F401
    except ImportError as e:
        venv_python = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
            os.execv(str(venv_python), [str(venv_python), str(ROOT / "main.py"), *sys.argv[1:]])
        sys.exit(f"handtone: error: {e.name} is not installed for {sys.executable}: run `make setup` "
                 f"(or pip install -r requirements.txt), then `.venv/bin/python main.py ...`")


if __name__ == "__main__":
    _packages_or_venv()
    from game.cli import main
    sys.exit(main())
