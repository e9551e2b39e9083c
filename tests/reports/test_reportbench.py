"""`python main.py bench report` on a small size: a real headless session on the null sink, its reports rebuilt and
timed step by step, figures that add up, the target never passed on a session shorter than 3 minutes, JSON and PNG
saved, nothing written to the data folder. Never how fast the reports are (printed, not asserted)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from reports import reportbench
from standins import missing


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    if not shutil.which("pulseaudio"):
        missing("pulseaudio is not installed (run make setup)")
    from conftest import run_app
    results, data = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("data")
    env = dict(os.environ, HANDTONE_DATA_DIR=str(data))
    proc = run_app("bench", "report", "--report-minutes", "0.2", "--runs", "1", "--null-sink", "--json",
                   "--results", results, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    return json.loads(out[out.index("{"):out.rindex("}") + 1]), results, data


def test_a_real_session_of_the_asked_length(small):
    result, _, _ = small
    assert result["played_s"] == 12.0 and result["stop_reason"] == "--duration 12 s reached"
    assert result["song"]["made_from"] == "ode_to_joy.toml" and result["song"]["duration_s"] >= 12.0
    for name in ("synth.csv", "synth.wav", "performance.wav", "report.pdf"):
        assert result["sizes_mb"][name] > 0, name
    assert result["live_reports_s"] > 0


def test_each_rebuild_is_timed_step_by_step_and_the_steps_add_up(small):
    result, _, _ = small
    (run,) = result["rebuilds"]
    assert run["failed"] == [], run                  # every step ran: a failed step would be a false fast figure
    assert set(run["steps_s"]) == set(reportbench.STEPS)
    steps = sum(run["steps_s"].values())
    assert 0 < steps <= run["total_s"] + 0.01 and steps >= 0.8 * run["total_s"], run
    assert {"score.json", "report.pdf", "performance.wav", "summary.eml"} <= set(run["files"])
    assert run["score"] is not None
    assert result["median_s"] == run["total_s"]
    (command,) = result["command_s"]
    assert command > 0 and result["command_median_s"] == command


def test_the_target_is_not_judged_on_a_short_session(small):
    result, _, _ = small
    (t,) = result["targets"]
    assert t["name"] == "report generation <= 3 s for a 3-minute session"
    assert t["pass"] is None and "(< 3 min)" in t["figure"], t


def test_saved_files_and_nothing_in_the_data_folder(small):
    result, results, data = small
    assert json.loads((results / "report.json").read_text()) == result
    assert (results / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(data.iterdir()) == []          # the session's and the rebuilds' history went to a temporary folder
    table = reportbench.format_report(result)
    assert "target report generation <= 3 s" in table and "\n   1 " in table


def test_the_three_minute_song_is_the_bundled_one_repeated(tmp_path):
    from game import song as song_mod
    from game import tomlsong
    path, info = reportbench.long_song(3.0, tmp_path)
    base, song = song_mod.load("ode_to_joy"), tomlsong.load(path)
    assert song.duration >= 180.0 and info["duration_s"] == round(song.duration, 2)
    assert info["repeats"] == 5 and len(song.notes) == 5 * len(base.notes) == info["notes"]
    assert [n.midi for n in song.notes] == [n.midi for n in base.notes] * 5
    # one repeat fewer would be too short: the song is no longer than it must be
    shorter, _ = reportbench.long_song(song_mod.load("ode_to_joy").duration / 60.0, tmp_path)
    assert tomlsong.load(shorter).duration == base.duration


def test_target_verdicts():
    ok = [{"failed": []}]
    assert reportbench.target(2.5, 180.0, ok)["pass"] is True
    assert reportbench.target(3.5, 180.0, ok)["pass"] is False
    assert reportbench.target(2.5, 60.0, ok)["pass"] is None
    assert reportbench.target(2.5, 180.0, [{"failed": ["pdf failed: boom"]}])["pass"] is None
