"""The pipeline bench on a small size: every way processes every frame, finds the same hands as the sequential run,
and its figures add up (speedups against sequential, CPU utilisation within what the cores allow). No timing is
asserted: which way is fastest is what the bench prints, not what a test on a shared machine can require."""
from __future__ import annotations

import pytest

from vision.pipelinebench import MODES, bench_pipeline, format_pipeline, plot_pipeline

FRAMES, WORKERS = 30, 2


@pytest.fixture(scope="module")
def result():
    return bench_pipeline(frames=FRAMES, workers=WORKERS)


def test_every_mode_processed_every_frame_and_found_the_same_hands(result):
    rows = result["modes"]
    assert [r["mode"] for r in rows] == list(MODES)
    for r in rows:
        assert r["processed"] == FRAMES, r
        assert r["identical"] is True, r
        assert r["workers"] == (1 if r["mode"] == "sequential" else WORKERS), r
    assert result["identical"] is True
    assert result["hand_found"] >= 0.9     # the clip's hand is found: the figures are for real work


def test_figures_are_self_consistent(result):
    rows = {r["mode"]: r for r in result["modes"]}
    seq = rows["sequential"]
    assert seq["speedup"] == 1.0
    for r in rows.values():
        assert r["fps"] > 0 and r["work_s"] > 0
        assert r["speedup"] == pytest.approx(r["fps"] / seq["fps"], abs=0.01)
        assert r["fps"] == pytest.approx(FRAMES / r["work_s"], rel=0.02)
        assert r["total_s"] >= r["work_s"] + r["startup_s"] - 0.01
        assert r["ms_mean"] > 0 and r["ms_p95"] > 0
        assert r["ms_mean"] == pytest.approx(r["capture_ms_mean"] + r["detect_ms_mean"] + r["draw_ms_mean"],
                                             abs=0.01)
        assert 0 < r["cpu_util"] <= 1.5, r
        assert r["cpu_ms_per_frame"] > 0
    assert result["cores"] >= 1 and result["opencv"] and result["numpy"] and result["python"]


def test_the_table_names_the_four_modes_and_the_winner(result):
    text = format_pipeline(result)
    for mode in MODES:
        assert any(line.startswith(mode + " ") for line in text.splitlines()), mode
    assert result["winner"] in MODES
    assert result["winner"] == max(result["modes"], key=lambda r: r["fps"])["mode"]
    assert f"winner: {result['winner']}." in text
    assert f"{result['cores']}-core machine" in result["why"] and result["why"] in text


def test_plot_is_written(result, tmp_path):
    path = plot_pipeline(result, tmp_path / "pipeline.png")
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_why_follows_the_figures(result):
    """Made-up figures where the pool wins: the sentence names it and says what held threads back."""
    rows = [dict(r) for r in result["modes"]]
    for r, fps in zip(rows, (100.0, 120.0, 150.0, 180.0)):
        r["fps"], r["speedup"] = fps, round(fps / 100.0, 2)
    made_up = dict(result, modes=rows, winner="process pool", cores=2)
    from vision.pipelinebench import explain
    why = explain(made_up)
    assert why.startswith("process pool wins on this 2-core machine: 180 fps, x1.80")
    assert "x1.20" in why and "GIL" in why


def test_bench_pipeline_from_the_command_line_writes_its_json_and_plot(tmp_path):
    import json
    from conftest import run_app
    proc = run_app("bench", "pipeline", "--frames", "20", "--workers", "2", "--results", tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "winner:" in proc.stdout and "process pool" in proc.stdout
    saved = json.loads((tmp_path / "pipeline.json").read_text())
    assert saved and (tmp_path / "pipeline.png").stat().st_size > 1000
