"""`python main.py bench all`: every benchmark runs, and every target comes out side by side with pass/short."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from game import benchall

ROOT = Path(__file__).resolve().parents[2]


def test_every_bench_has_its_functions():
    import importlib
    for name, (module, bench, fmt, plot) in benchall.BENCHES.items():
        mod = importlib.import_module(module)
        for fn in (bench, fmt, plot):
            assert callable(getattr(mod, fn, None)), f"{module}.{fn} for bench {name}"
    assert set(benchall.ORDER) == set(benchall.BENCHES)


def test_summary_table_and_plot(tmp_path):
    summary = {"machine": benchall.machine(), "minutes": 1.5, "failed": {"latency": "no speaker"},
               "targets": [{"bench": "ipc", "name": "seqlock >= 20x Queue", "figure": "8.1x", "pass": False},
                           {"bench": "vision", "name": "classic >= 600 fps", "figure": "690 fps", "pass": True},
                           {"bench": "audio", "name": "0 underflows in 10 minutes", "figure": "no speaker",
                            "pass": None}]}
    text = benchall.format_all(summary)
    lines = text.splitlines()
    assert any("seqlock >= 20x Queue" in ln and ln.endswith("short") for ln in lines)
    assert any("classic >= 600 fps" in ln and ln.endswith("pass") for ln in lines)
    assert any("0 underflows" in ln and ln.endswith("not measured") for ln in lines), "no figure is never a pass"
    assert "latency   could not run: no speaker" in text
    assert lines[-1] == "1 of 3 targets pass"
    png = benchall.plot_all(summary, tmp_path / "all.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_all_runs_every_bench_small(tmp_path):
    """The real command on small sizes: each bench's JSON and PNG, and all.json holding each one's targets."""
    results = tmp_path / "results"
    env = os.environ | {"HANDTONE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "bench", "all", "--results", str(results), "--messages", "200",
         "--frames", "20", "--seconds", "6", "--runs", "1", "--report-minutes", "0.1", "--null-sink"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((results / "all.json").read_text())
    assert summary["failed"] == {}
    for name in benchall.ORDER:
        assert (results / f"{name}.json").is_file() and (results / f"{name}.png").is_file(), name
        own = json.loads((results / f"{name}.json").read_text()).get("targets", [])
        assert [t["name"] for t in summary["targets"] if t["bench"] == name] == [t["name"] for t in own], name
    names = " ".join(t["name"] for t in summary["targets"])
    for needed in ("20x Queue", "600 fps", "150 fps", "p50", "p99", "underflows", "300 MB", "1.5 s", "3 s"):
        assert needed in names, f"no target about {needed!r}: {names}"
    for t in summary["targets"]:
        assert t["pass"] in (True, False, None) and t["figure"], t
    assert "targets pass" in proc.stdout and (results / "all.png").is_file()
