"""`python main.py bench startup`: real `main.py demo` runs timed from spawn to all children ready and first tone."""
from __future__ import annotations

import json
import shutil

from standins import missing


def test_bench_startup_one_run_on_the_null_sink(app, tmp_path):
    if not shutil.which("pulseaudio"):
        missing("pulseaudio is not installed (run make setup)")
    proc = app("bench", "startup", "--runs", "1", "--null-sink", "--detector", "classic", "--results", tmp_path,
               timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all children ready <= 1.5 s" in proc.stdout and "spawn -> first tone" in proc.stdout
    r = json.loads((tmp_path / "startup.json").read_text())
    assert (tmp_path / "startup.png").stat().st_size > 10_000
    assert r["runs"] == 1 and len(r["timed"]) == 1 and r["detector"] == "classic" and r["synth_mode"] == "device"
    for run in (r["setup_run"], *r["timed"]):
        assert run["stop_reason"] == "--duration 2 s reached"
        # the parts add up: spawn -> launcher start -> all ready, then the count-in, the clip's lead-in, the tone
        assert 0 < run["before_launcher_s"] < run["ready_s"] < run["first_tone_s"] < run["wall_s"]
        assert abs(run["before_launcher_s"] + run["launcher_ready_s"] - run["ready_s"]) <= 0.002
        assert abs(run["count_in_s"] - 1.0) < 0.01            # the default count-in, from the launcher's own clock
        assert 0 < run["seen_to_tone_s"] < 0.5 and run["hand_seen_s"] > 0
        assert abs(run["ready_s"] + run["count_in_s"] + run["hand_seen_s"] + run["seen_to_tone_s"]
                   - run["first_tone_s"]) <= 0.003
        assert set(run["children_s"]) == {"vision", "synth", "music", "recorder"}
        # every child was ready within the launcher's wait, which began after the launcher started
        assert all(0 < v <= run["launcher_ready_s"] for v in run["children_s"].values()), run
    m = r["median"]
    assert m["ready_s"] == r["timed"][0]["ready_s"] == r["ready_max_s"]
    assert r["imports"]["interpreter_s"] > 0 and all(r["imports"][f"{k}_imports_s"] > 0
                                                     for k in ("launcher", "vision", "synth", "music", "recorder"))
    (t,) = r["targets"]
    assert t["name"] == "all children ready <= 1.5 s" and t["pass"] is (m["ready_s"] <= 1.5)
