"""`python main.py bench latency`: jumps of the clip's hand matched to a session's logs, and a real short run."""
from __future__ import annotations

import json
import shutil

import numpy as np

from game.latencybench import glide_half_ms, match_jumps
from standins import missing
from vision.jumpclip import JumpPlan

PLAN = JumpPlan(fps=30.0, every=15, lead_in=15, frames=75, low_midi=58.0, high_midi=64.0, low_area=0.02,
                high_area=0.07)   # lead-in, then holds low, high, low, high: jumps at clip frames 30, 45, 60


def _tables(dropped=(), blind=(), mute_after=None, lag_blocks=3):
    """frames.csv and synth.csv as a session on PLAN would log them: the detector follows the clip at once (frames
    in ``blind`` still show the old size), the synth plays the newest frame ``lag_blocks`` blocks after capture."""
    idx = [i for i in range(160) if i not in dropped]
    area, present, shown = [], [], {}
    last = None
    for i in range(160):
        level = PLAN.level(i % PLAN.frames)
        if level is not None and i not in blind:
            last = level
        if level is None:
            last = None
        shown[i] = last
    for i in idx:
        present.append(0.0 if shown[i] is None else 1.0)
        area.append(0.0 if shown[i] is None else (PLAN.low_area, PLAN.high_area)[shown[i]])
    frames = {"frame_index": np.array(idx, float), "t_capture": np.array(idx, float) / 30.0,
              "present": np.array(present), "area": np.array(area), "total_ms": np.full(len(idx), 8.0)}
    block = 128 / 48000.0
    t = np.arange(0.0, 160 / 30.0, block)
    midi, amp, fidx = [], [], []
    for tb in t:
        seen = [i for i in idx if i / 30.0 <= tb - lag_blocks * block]   # frames captured early enough
        i = seen[-1] if seen else -1
        level = shown.get(i) if i >= 0 else None
        midi.append((PLAN.low_midi, PLAN.high_midi)[level] if level is not None else PLAN.low_midi)
        amp.append(0.0 if level is None or (mute_after is not None and tb >= mute_after) else 0.3)
        fidx.append(i)
    synth = {"t_dac": t, "midi": np.array(midi), "amplitude": np.array(amp), "frame_index": np.array(fidx, float)}
    return frames, synth


def test_match_jumps_on_a_hand_made_session():
    frames, synth = _tables()
    rows = match_jumps(frames, synth, PLAN)
    # session frames 0..159: jumps at 30, 45, 60 and, after the loop at 75 (lead-in again, the hand enters at 90),
    # at 105, 120, 135; 150 starts the next loop's lead-in
    assert [r["frame"] for r in rows] == [30, 45, 60, 105, 120, 135]
    assert [r["up"] for r in rows] == [True, False, True, True, False, True]
    block_ms = 128 / 48.0
    for r in rows:
        assert r["status"] == "heard" and not r["wrong_direction"] and r["frames_late"] == 0
        # the first block at least 3 blocks after the capture, so 3 to 4 blocks late
        assert 3 * block_ms - 1e-6 <= r["latency_ms"] < 4 * block_ms + 1e-6, r
        assert r["heard_frame"] == r["frame"] and r["published_ms"] == 8.0


def test_dropped_blind_and_silent_jumps_are_counted():
    # frame 45 dropped: its move is timed from its own capture time, and heard one frame later (46)
    # frames 60..74 do not see the move at all: not detected; after 4.3 s the synth is silent: not heard
    frames, synth = _tables(dropped=(45,), blind=range(60, 75), mute_after=4.3)
    rows = {r["frame"]: r for r in match_jumps(frames, synth, PLAN)}
    assert rows[45]["jump_frame_dropped"] and rows[45]["frames_late"] == 1 and rows[45]["status"] == "heard"
    assert 1000 / 30 < rows[45]["latency_ms"] < 1000 / 30 + 4 * 128 / 48.0 + 1e-6
    assert rows[60]["status"] == "not detected" and rows[60]["latency_ms"] is None
    assert rows[135]["status"] == "not heard"      # its new hold is silent (no new note)
    assert rows[120]["status"] == "heard"


def test_glide_half_way():
    assert glide_half_ms(0.0, 128, 48000) == 0.0
    # 35 ms: c = 1 - exp(-128 / 1680) = 0.073 per block; half-way at block 10, 9 blocks after the first
    assert glide_half_ms(35.0, 128, 48000) == round(9 * 128 / 48.0, 2)


def test_bench_latency_on_the_null_sink(app, tmp_path):
    if not shutil.which("pulseaudio"):
        missing("pulseaudio is not installed (run make setup)")
    seconds = 10.0
    proc = app("bench", "latency", "--seconds", seconds, "--null-sink", "--detector", "classic",
               "--results", tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "motion-to-sound p50 <= 12 ms" in proc.stdout and "per-frame first-block latency" in proc.stdout
    r = json.loads((tmp_path / "latency.json").read_text())
    assert (tmp_path / "latency.png").stat().st_size > 10_000
    assert r["session"]["synth_mode"] == "device" and r["session"]["detector"] == "classic"
    # jumps every 0.5 s after a 1 s lead-in and first hold; a few at the end have no whole hold after them
    expected = seconds / (r["clip"]["every"] / r["clip"]["fps"]) - 2
    assert expected - 3 <= r["jumps"] <= expected + 1, r["jumps"]
    assert r["heard"] + r["not_detected"] + r["not_heard"] == r["jumps"]
    assert r["heard"] >= r["jumps"] - 1 and r["wrong_direction"] == 0
    lat = r["latencies_ms"]
    assert len(lat) == r["heard"] and all(0 < v < seconds * 1000 for v in lat)
    assert r["min_ms"] <= r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert 0 < r["vision_published_ms_p50"] < r["p50_ms"]
    assert r["glide_ms"] == 0 and r["player_glide_adds_ms"] > 0
    assert r["per_frame_ms"]["n"] > 200 and r["per_frame_ms"]["p50"] > 0
    names = [t["name"] for t in r["targets"]]
    assert names == ["motion-to-sound p50 <= 12 ms", "motion-to-sound p99 <= 20 ms"]
    assert all(t["pass"] is (float(t["figure"].split()[0]) <= float(t["name"].split()[-2])) for t in r["targets"])
