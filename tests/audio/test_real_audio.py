"""End to end through the launcher on a real PulseAudio null sink: what the recorder hears is what the synth logged.

The null sink's monitor is the default input, so recording.wav holds the synth (and the backing) as played. Frames of
50 ms of the recording, placed on the session clock by the recorder's t_first_sample, must show the pitch synth.csv
says was sounding; with the backing on, its bass notes must be in the recording too (and absent when it is muted).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from audio.arrangement import bass_line
from audio.wavfile import read_wav
from game.sessionlog import read_csv
from game.settings import Settings
from game.song import load

DURATION = 16
FRAME_S = 0.05
HOLE_MARGIN_S = 0.02     # a frame this near a hole in the synth's blocks is not judged
MIN_FRAMES = 20          # judged frames at the least (a second of tone; a quiet machine gives ~275)


def run_demo(app, out: Path, *extra) -> Path:
    proc = app("demo", "--no-window", "--duration", DURATION, "--out", out, *extra, timeout=180)
    assert proc.returncode == 0, f"demo failed:\n{proc.stdout}\n{proc.stderr}"
    sessions = [p for p in out.iterdir() if p.is_dir()]
    assert len(sessions) == 1, sessions
    return sessions[0]


def load_recording(session: Path):
    stats = json.loads((session / "stats-recorder.json").read_text())
    assert stats["recording"] and stats["t_first_sample"] is not None, stats
    rate, x = read_wav(session / "recording.wav")
    return rate, x.astype(np.float64), stats["t_first_sample"]


def window(x, rate, first, a, b):
    i, j = int(round((a - first) * rate)), int(round((b - first) * rate))
    return x[max(i, 0):max(j, 0)]


def dominant_midi(seg: np.ndarray, rate: int) -> float:
    n = 1 << 16
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size), n))
    lo, hi = int(100 * n / rate), int(1500 * n / rate)
    k = lo + int(np.argmax(spec[lo:hi]))
    return 69 + 12 * math.log2(k * rate / n / 440)


def power_at(seg: np.ndarray, rate: int, hz: float) -> float:
    t = np.arange(seg.size) / rate
    w = np.hanning(seg.size)
    return float(abs(np.sum(seg * w * np.exp(-2j * np.pi * hz * t))) ** 2)


def bass_evidence(x, rate, first, song) -> list[float]:
    """Per bass note fully inside the session (audio/arrangement.py's bass line): power at its pitch over power a minor
    third away on both sides."""
    ratios = []
    for start, held, midi in bass_line(song, Settings()):
        if start + held > DURATION - 0.2 or held < 0.3:
            continue
        seg = window(x, rate, first, start + 0.05, start + held - 0.05)
        hz = 440 * 2 ** ((midi - 69) / 12)
        side = max(power_at(seg, rate, hz * 2 ** (-3 / 12)), power_at(seg, rate, hz * 2 ** (3 / 12)), 1e-12)
        ratios.append(power_at(seg, rate, hz) / side)
    return ratios


@pytest.fixture(scope="module")
def muted_session(pulse, tmp_path_factory, request):
    from conftest import run_app
    return run_demo(run_app, tmp_path_factory.mktemp("muted"), "--music-volume", "0")


def test_recording_pitch_follows_the_synth_log(muted_session):
    session = muted_session
    rate, x, first = load_recording(session)
    rows = read_csv(session / "synth.csv")
    assert rows, "synth.csv is empty"
    synth_stats = json.loads((session / "stats-synth.json").read_text())
    assert synth_stats["mode"] == "device"
    full = max(r["amplitude"] for r in rows)
    assert full > 0
    t = np.array([r["t_dac"] for r in rows])
    # where the synth's DAC times jump, the machine held it off (an underflow): the speaker played a hole there, and
    # so did the recording. One CI session had 534 such holes (4.9 s of 16); its frames clear of them all matched
    block = synth_stats["block"] / synth_stats["sample_rate"]
    holes = [(t[i], t[i + 1]) for i in np.flatnonzero(np.diff(t) > 1.5 * block)]
    checked = matched = skipped = 0
    worst = []
    for a in np.arange(0.0, DURATION - FRAME_S, FRAME_S):
        sel = [r for r in rows if a - 0.006 <= r["t_dac"] < a + FRAME_S]
        if not sel or t[-1] < a + FRAME_S:
            continue
        if min(r["amplitude"] for r in sel) < 0.5 * full:
            continue                                      # the synth is silent, starting or stopping here
        if any(h0 < a + FRAME_S + HOLE_MARGIN_S and h1 > a - HOLE_MARGIN_S for h0, h1 in holes):
            skipped += 1
            continue
        seg = window(x, rate, first, a, a + FRAME_S)
        if seg.size < 0.9 * FRAME_S * rate:
            continue
        want = float(np.median([r["midi"] for r in sel]))
        got = dominant_midi(seg, rate)
        checked += 1
        if abs(got - want) <= 1.0:
            matched += 1
        else:
            worst.append((round(a, 2), round(want, 2), round(got, 2)))
    print(f"{matched}/{checked} frames within a semitone; {skipped} left out beside {len(holes)} holes")
    assert checked + skipped > 0.4 * DURATION / FRAME_S, f"only {checked + skipped} frames where the synth sounds"
    assert checked >= MIN_FRAMES, f"only {checked} frames clear of the synth's {len(holes)} holes"
    assert matched >= 0.9 * checked, f"{matched}/{checked} frames within a semitone; misses: {worst[:10]}"


def test_backing_notes_are_heard_in_the_recording(pulse, tmp_path, app, muted_session):
    song = load("ode_to_joy")
    session = run_demo(app, tmp_path, "--music-volume", "0.8")
    music = json.loads((session / "stats-music.json").read_text())
    assert music["mode"] == "device" and music["volume"] == 0.8
    rate, x, first = load_recording(session)
    with_backing = bass_evidence(x, rate, first, song)
    assert len(with_backing) >= 8
    heard = sum(r > 100.0 for r in with_backing)
    assert heard >= 0.8 * len(with_backing), f"bass pitches heard in {heard}/{len(with_backing)} notes"
    rate, x, first = load_recording(muted_session)
    muted = bass_evidence(x, rate, first, song)
    assert sum(r > 100.0 for r in muted) <= 0.2 * len(muted), "with the backing muted there is no bass to hear"


def test_a_microphone_that_gives_only_silence_is_reported(pulse, tmp_path, app):
    """A muted input (as macOS or Windows give a program the player has not allowed) records zeros: the session
    still ends with its reports, and the player is told to look at the microphone. A real one hears the room."""
    source = f"{pulse.SINK}.monitor"
    muted = pulse.pactl("set-source-mute", source, "1")
    assert muted.returncode == 0, muted.stderr
    try:
        proc = app("demo", "--no-window", "--duration", "4", "--out", tmp_path, timeout=180)
    finally:
        pulse.pactl("set-source-mute", source, "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    stats = json.loads((session / "stats-recorder.json").read_text())
    assert stats["recording"] and stats["seconds"] > 3 and stats["peak"] == 0, stats
    assert "the microphone recorded only silence" in proc.stdout, proc.stdout


def test_a_microphone_that_hears_the_tone_raises_no_silence_warning(muted_session):
    stats = json.loads((muted_session / "stats-recorder.json").read_text())
    assert stats["peak"] > 1000, stats
    report = json.loads((muted_session / "stats.json").read_text())["processes"]["recorder"]
    from reports.build import silent_microphone_warning
    assert report["peak"] == stats["peak"] and silent_microphone_warning({"processes": {"recorder": report}}) is None
