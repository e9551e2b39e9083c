"""`python main.py bench vision` prints real figures for every detector (the speed goals are read from its output,
not asserted here: a timed test on a shared machine would only be noise)."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_bench_vision_prints_every_detector():
    out = subprocess.run([sys.executable, "main.py", "bench", "vision", "--frames", "30", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    got = {(r["detector"], r["mode"]) for r in rows}
    assert got == {("classic", "-"), ("landmarks lite", "tracking"), ("landmarks lite", "palm each frame"),
                   ("landmarks full", "tracking"), ("landmarks full", "palm each frame")}, rows
    for r in rows:
        assert r["fps"] > 0 and 0 < r["ms_p50"] <= r["ms_p95"], r
        assert r["found"] >= 0.9, r      # the bench's hand is found: the figures are for real work
        assert r["width"] == 640 and r["height"] == 480 and "1 thread" in r["cpu"]


def test_bench_table_is_readable():
    out = subprocess.run([sys.executable, "main.py", "bench", "vision", "--frames", "20"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("vision bench, 640x480, ")
    assert lines[1].split() == ["detector", "mode", "fps", "ms", "p50", "ms", "p95", "hand", "found"]
    assert len(lines) == 7
