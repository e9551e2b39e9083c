#!/usr/bin/env python3
"""handtone: a webcam music game. Run `python main.py --help`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    from game.cli import main
    sys.exit(main())
