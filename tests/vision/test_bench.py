"""`python main.py bench vision` on a small size: real figures for every detector in every thread configuration,
self-consistent, with both targets, saved as JSON and PNG (the speed goals are read from its output, not asserted
here: a timed test on a shared machine would only be noise)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

CONFIGS = ("one", "session", "default")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    results = tmp_path_factory.mktemp("bench-results")
    out = subprocess.run([sys.executable, "main.py", "bench", "vision", "--frames", "20", "--json",
                          "--results", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout[:out.stdout.rindex("}") + 1]), results


def test_every_detector_in_every_configuration_with_sane_figures(small):
    result, _ = small
    got = {(r["detector"], r["mode"]) for r in result["rows"]}
    assert got == {("classic", "-"), ("landmarks lite", "tracking"), ("landmarks lite", "palm each frame"),
                   ("landmarks full", "tracking"), ("landmarks full", "palm each frame")}, result["rows"]
    assert result["width"] == 640 and result["height"] == 480
    for r in result["rows"]:
        for config in CONFIGS:
            f = r[config]
            assert f["frames"] in (20, 10), (r["detector"], config)
            assert 0 < f["ms_p50"] <= f["ms_p95"], (r["detector"], config, f)
            # fps is frames over the wall time of the loop, which holds every detect call: never above 1000/mean ms
            assert 0.5 * 1000 / f["ms_mean"] <= f["fps"] <= 1000 / f["ms_mean"] * 1.001, (r["detector"], config, f)
            assert f["found"] >= 0.9, (r["detector"], config)   # the bench's hand is found: the figures are real work
    classic = next(r for r in result["rows"] if r["detector"] == "classic")
    assert classic["session"] == classic["default"]   # no LiteRT: the session runs OpenCV's default threads


def test_configurations_say_what_a_session_runs(small):
    result, _ = small
    configs = result["configs"]
    assert "1 thread" in configs["one"] and "LiteRT 1 thread" in configs["one"]
    from game.cputime import cores
    lm = 2 if cores() >= 2 else 1     # vision/landmarks.session_threads with no setting
    assert "not pinned" in configs["session"] and f"landmark model on {lm} LiteRT thread" in configs["session"]
    assert "palm detector on 1" in configs["session"]
    assert "num_threads=None" in configs["default"]
    assert result["machine"]["opencv_default_threads"] >= 1


def test_targets_use_the_session_figures(small):
    result, _ = small
    rows = {(r["detector"], r["mode"]): r for r in result["rows"]}
    targets = {t["name"]: t for t in result["targets"]}
    assert set(targets) == {"classic >= 600 fps", "landmarks >= 150 fps tracking"}
    for name, key, goal in (("classic >= 600 fps", ("classic", "-"), 600),
                            ("landmarks >= 150 fps tracking", ("landmarks lite", "tracking"), 150)):
        fps = rows[key]["session"]["fps"]
        assert targets[name]["figure"] == f"{fps:.0f} fps (session threads)"
        assert targets[name]["pass"] is (fps >= goal)


def test_saved_json_and_png(small):
    result, results = small
    assert json.loads((results / "vision.json").read_text()) == result
    assert (results / "vision.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_table_is_readable(tmp_path):
    out = subprocess.run([sys.executable, "main.py", "bench", "vision", "--frames", "20", "--results", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("bench vision: 640x480, 20 frames per detector")
    rows = [line for line in lines if line.startswith(("classic ", "landmarks "))]
    assert len(rows) == 5 and all(len(line.split()) >= 2 + 6 for line in rows), rows
    assert sum(line.startswith("target ") for line in lines) == 2
    assert lines[-1].startswith("figures: ")
