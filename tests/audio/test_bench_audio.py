"""`python main.py bench audio` runs a real headless session on its own PulseAudio null sink and prints its figures."""
from __future__ import annotations

import json
import shutil

from standins import missing


def test_bench_audio_prints_the_sessions_figures(app, tmp_path):
    if not shutil.which("pulseaudio"):
        missing("pulseaudio is not installed (run make setup)")
    proc = app("bench", "audio", "--seconds", "5", "--null-sink", "--json", "--keep", tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert row["synth_mode"] == "device" and row["null_sink"] and row["latency_applied"]
    assert row["block"] == 128 and row["requested_latency_ms"] == 5.33
    assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"] <= row["latency_ms_p99"] < 100
    assert row["latency_frames"] > 100 and row["vision_frames"] > 100
    for key in ("synth_underflows_flag", "synth_underflows_clock", "music_underflows_flag", "music_underflows_clock"):
        assert isinstance(row[key], int), (key, row)
    # the machine's own stalls, measured beside the session by a real-time probe thread waking every millisecond
    m = row["machine"]
    assert m["wakeups"] > 3000 and m["late_max_ms"] >= 0 and m["late_over_2ms"] >= m["late_over_5ms"] >= 0, m
    assert m["realtime"] is True, "root in CI may use SCHED_FIFO: the probe must run at the callbacks' priority"
    # the figures are the kept session's own
    stats = json.loads((next(tmp_path.glob("*/stats-synth.json"))).read_text())
    assert stats["latency_ms"]["p50"] == row["latency_ms_p50"]
    # a bench plays 5 s and then stops, however long the song
    session = json.loads(next(tmp_path.glob("*/session.json")).read_text())
    assert session["stop_reason"] == "--duration 5 s reached"
