"""The recorder's timeline (audio/sampleclock.py, audio/recorder.py): the line fitted to the lower envelope of the
input callbacks' times says when each sample of recording.wav was captured, through what the null sink showed here
(calls late by a random delay, single calls early, delivery steps after a stall, early calls at the end), in
bounded memory, and without allocating in the callback. The real thing on PulseAudio is in test_roundtrip.py."""
from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from audio import recorder as recorder_mod
from audio import roundtrip as rt
from audio import sampleclock as sc
from game import settings as settings_mod

RATE = 48000
BLOCK = recorder_mod.INPUT_BLOCK
T_FIRST = 100.0              # monotonic time sample 0 was captured
FLOOR = 0.0031               # the best delivery delay
WINDOW = sc.WINDOW_S


def calls(seconds: float, ppm: float = 625.0, seed: int = 1, steps=(), early=(), tail_early: float = 0.0):
    """(t_call, n) of input callbacks of BLOCK frames from a device whose clock runs ppm fast: each call comes FLOOR
    plus a random delay (exponential, mean 1 ms, and now and then a late burst) after its block's last sample was
    captured. steps: (time, seconds) the delivery delay grows by from then on; early: times of single calls that
    come 15 ms early; tail_early: the last 0.3 s come that much early (the output streams closed)."""
    rng = np.random.default_rng(seed)
    per_s = RATE * (1 + ppm / 1e6)
    n = np.arange(1, int(seconds * per_s / BLOCK) + 1) * BLOCK
    captured = T_FIRST + n / per_s
    delay = FLOOR + rng.exponential(0.001, n.size) + (rng.random(n.size) < 0.02) * rng.uniform(0, 0.03, n.size)
    for at, size in steps:
        delay[captured - T_FIRST >= at] += size
    t = captured + delay
    for at in early:
        t[np.searchsorted(captured - T_FIRST, at)] -= 0.015
    if tail_early:
        t[captured - T_FIRST > seconds - 0.3] -= tail_early
    return t, n


def test_the_fit_finds_the_clock_and_the_floor():
    t, n = calls(20.0)
    line = sc.fit(t, n, RATE)
    assert line.ppm == pytest.approx(625.0, abs=5)
    assert line.t_first - T_FIRST == pytest.approx(FLOOR, abs=0.0001)   # ~23 calls a window: the floor + ~0.04 ms
    assert line.steps == () and line.outliers <= 1 and line.windows == int(n[-1] / RATE / sc.WINDOW_S) + 1
    k = np.array([0, 480000, 960000])
    assert line.time_of(k) - line.t_first == pytest.approx(k / (RATE * (1 + line.ppm / 1e6)), rel=1e-12)


def test_steps_early_calls_and_the_closing_burst_do_not_move_it():
    """What the null sink does under load: the line stays within 0.1 ms of the first level and 5 ppm of the clock;
    the 8 ms step is reported where it happened; the old anchor (the lowest call of the first 10 s at the nominal
    rate) lands 15 ms off, on an early call, and would still be 6 ms off without it (625 ppm x 10 s)."""
    t, n = calls(30.0, steps=[(12.0, 0.008)], early=[2.2, 7.7, 20.5], tail_early=0.02)
    line = sc.fit(t, n, RATE)
    assert line.ppm == pytest.approx(625.0, abs=5)
    assert line.t_first - T_FIRST == pytest.approx(FLOOR, abs=0.0001)
    assert len(line.steps) == 1
    (at, size), = line.steps
    assert at - T_FIRST == pytest.approx(12.0, abs=WINDOW + 0.1) and size == pytest.approx(0.008, abs=0.0003)
    first10 = n / RATE < 10
    old_anchor = np.min(t[first10] - n[first10] / RATE)
    assert old_anchor - (T_FIRST + FLOOR) < -0.014
    calm_t, calm_n = calls(30.0)
    calm10 = calm_n / RATE < 10
    assert np.min(calm_t[calm10] - calm_n[calm10] / RATE) - (T_FIRST + FLOOR) < -0.005



def test_a_step_within_the_first_windows_is_not_the_level():
    """A session that stalls 1 s in: its first level (2 windows) is too short to be a segment (HOLD windows), so
    the level is the one that holds for the rest; the short start counts as outliers."""
    t, n = calls(20.0, steps=[(1.0, 0.006)])
    line = sc.fit(t, n, RATE)
    assert line.t_first - T_FIRST == pytest.approx(FLOOR + 0.006, abs=0.0001)
    assert line.outliers >= 2 and line.steps == ()


def test_a_few_callbacks_give_a_provisional_line():
    """At t0 the recorder may have a second of calls: fewer windows than a fit needs (2 x HOLD); the nominal rate
    through the lowest call, which is then off by the drift over that second at most (0.6 ms at 625 ppm)."""
    t, n = calls(1.2)
    line = sc.fit(t, n, RATE)
    assert line.ppm == 0.0 and line.windows < 2 * sc.HOLD
    assert -0.0007 < line.t_first - (T_FIRST + FLOOR) < 0.0002
    assert sc.fit([], [], RATE) is None


def test_a_long_session_is_thinned_and_fits_the_same():
    """A store of 60 s of calls fed 10 minutes through the ring: the oldest calls are thinned to one a window, the
    store never grows, and the fit is the one the full record gives."""
    t, n = calls(600.0, steps=[(300.0, 0.004)], early=[100.0, 450.0])
    ring = sc.CallbackTimes(4096)
    store = sc.TimeStore(RATE, BLOCK, seconds=60.0)
    slope = 0.0
    for a in range(0, t.size, 3000):                 # the writer comes every 3000 calls (16 s)
        for i in range(a, min(a + 3000, t.size)):
            ring.add(float(t[i]), int(n[i]))
        store.take(ring, slope)
        assert store.count <= store.size
        cols = store.arrays()
        slope = sc.fit(cols["t"], cols["n"], RATE).slope
    assert store.thinned >= 8 and store.missed == 0
    cols = store.arrays()
    thinned, full = sc.fit(cols["t"], cols["n"], RATE), sc.fit(t, n, RATE)
    assert thinned.ppm == pytest.approx(full.ppm, abs=0.2) and thinned.ppm == pytest.approx(625.0, abs=2)
    assert thinned.t_first == pytest.approx(full.t_first, abs=2e-5)
    assert [round(s, 3) for _, s in thinned.steps] == [0.004]


def test_a_reader_that_falls_a_whole_ring_behind_counts_what_it_missed():
    ring = sc.CallbackTimes(16)
    store = sc.TimeStore(RATE, BLOCK, seconds=1.0)
    for i in range(40):
        ring.add(float(i), (i + 1) * BLOCK)
    store.take(ring)
    assert store.missed == 24 and store.count == 16
    assert store.arrays()["n"].tolist() == [(i + 1) * BLOCK for i in range(24, 40)]


def test_the_stats_round_trip_as_the_reports_read_them():
    line = sc.Timeline(12.3456789, RATE, 624.567, windows=40, outliers=1, rms_s=0.00005,
                       steps=((17.5, 0.0081),))
    stats = json.loads(json.dumps(line.stats(t0=13.0)))
    assert stats["t_first_sample"] == -0.654321 and stats["rate_ppm"] == 624.57
    assert stats["timeline"] == {"windows": 40, "outliers": 1, "rms_ms": 0.05, "steps": [[4.5, 8.1]]}
    back = sc.Timeline.from_stats(stats, RATE)
    assert back.samples_per_s == pytest.approx(RATE * (1 + 624.57e-6))
    assert sc.Timeline.from_stats({"t_first_sample": -0.5}, RATE).ppm == 0.0   # a session from before the fit
    assert sc.Timeline.from_stats({"t_first_sample": None}, RATE) is None
    assert sc.Timeline.from_stats({"t_first_sample": -0.5, "rate_ppm": 3e6}, RATE).ppm == 0.0


def test_the_input_block_is_off_the_servers_grid():
    """Odd, so its ends sweep through the server's power-of-two chunks (see recorder.input_block), whatever the
    session's block."""
    for block in (64, 128, 256, 1024):
        got = recorder_mod.input_block(settings_mod.build({"block": block}))
        assert got == BLOCK and got % 2 == 1


# ---- the recorder itself ------------------------------------------------------------------------------------------
@pytest.fixture
def recorder(tmp_path):
    ctx = rt._context(settings_mod.build({}), str(tmp_path))
    return recorder_mod.Recorder(ctx)


def test_the_callback_keeps_its_times_without_allocating(recorder):
    data = (np.arange(BLOCK, dtype=np.int16) % 100).tobytes()
    info = {"input_buffer_adc_time": 0.0, "current_time": 0.0, "output_buffer_dac_time": 0.0}

    def run(count):
        for _ in range(count):
            recorder._callback(data, BLOCK, info, 0)
    run(3000)               # past the sample ring's wrap (30 s) and the times ring's (8192 calls) once
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run(9000)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cur - base < 1024, f"memory grew by {cur - base} bytes"
    assert peak - base < 1024, f"a temporary of {peak - base} bytes: the callback allocates arrays"
    assert recorder.times.count == 12000 and recorder.written == 12000 * BLOCK
    last = (recorder.times.count - 1) % recorder.times.size
    assert recorder.times.n[last] == recorder.written


def test_the_writer_fits_and_the_stats_and_levels_follow_the_fit(recorder, tmp_path):
    """Calls fed in as a device would make them (their times set by hand, then the writer's drain): the stats carry
    the fit on the session clock, and each levels.csv row's time is the fitted time of its first sample."""
    from game.logfiles import LEVEL_COLUMNS
    from game.sessionlog import CsvLog, read_csv
    from audio.wavfile import WavWriter
    t, n = calls(8.0)
    recorder.wav = WavWriter(tmp_path / "recording.wav", RATE, 1)
    recorder.levels = CsvLog(tmp_path / "levels.csv", LEVEL_COLUMNS)
    recorder.ctx.t0 = T_FIRST + 2.0
    for i in range(t.size):
        recorder.times.add(float(t[i]), int(n[i]))
    recorder.written = int(n[-1])
    recorder.ring[:] = 1000
    recorder.drain()
    recorder.refit()
    recorder.wav.close()
    recorder.levels.close()
    stats = recorder.stats()
    assert stats["rate_ppm"] == pytest.approx(625.0, abs=8)
    assert stats["t_first_sample"] == pytest.approx(FLOOR - 2.0, abs=0.0002)
    rows = read_csv(tmp_path / "levels.csv")
    assert len(rows) == int(n[-1]) // recorder._level_len
    per_s = RATE * (1 + stats["rate_ppm"] / 1e6)
    for i in (0, len(rows) // 2, len(rows) - 1):
        assert rows[i]["t"] == pytest.approx(stats["t_first_sample"] + i * recorder._level_len / per_s, abs=1e-4)
