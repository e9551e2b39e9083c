"""Append-only CSV logs in the session folder, written by a plain thread (never by an audio callback).

Each write is flushed so that a process killed mid-session leaves every row written before the kill.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence


class CsvLog:
    def __init__(self, path: Path, header: Sequence[str]):
        self.path = Path(path)
        self.header = tuple(header)
        self._f = open(self.path, "w", newline="", encoding="utf-8")
        self._w = csv.writer(self._f)
        self._w.writerow(self.header)
        self._f.flush()
        self.rows = 0

    def write(self, row: Sequence) -> None:
        self._w.writerow([_fmt(v) for v in row])
        self.rows += 1

    def write_many(self, rows: Iterable[Sequence]) -> None:
        for row in rows:
            self.write(row)
        self.flush()

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            self._f.close()


def _fmt(v):
    # microseconds for session times (exact for hours), and no float noise like 0.09782999996
    if isinstance(v, float):
        text = f"{v:.6f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return v


def read_csv(path: Path) -> list[dict]:
    """Rows of a session CSV as dicts of floats where the value is numeric (empty list if missing)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        out = []
        for row in csv.DictReader(f):
            out.append({k: _num(v) for k, v in row.items()})
        return out


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v
