"""--music-backend simpleaudio: refused with one line where it cannot work (simulated Python 3.12, not installed),
and where it works (Python 3.11 here) it plays the backing on the PulseAudio null sink on the session clock, through
a pause, with backing.wav / music.csv saying what was played."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
import time

import numpy as np
import pytest

from audio import simpleplayer
from audio.music import render_song
from audio.wavfile import read_wav
from game import cli
from game.pause import PauseControl, lead_s, segment_name, song_times
from game.sessionlog import read_csv
from game.settings import Settings
from game.song import load_for
from harness import Session
from standins import missing

SETTINGS = Settings(music_backend="simpleaudio", music_volume=0.5)
RATE = SETTINGS.sample_rate


def need_simpleaudio() -> None:
    if sys.version_info >= (3, 12):
        pytest.skip("simpleaudio does not work on Python 3.12+ (the refusal is tested instead)")
    if importlib.util.find_spec("simpleaudio") is None:
        missing("simpleaudio is not installed (make setup installs it on Python 3.11)")


# ---- refusal --------------------------------------------------------------------------------------------------------
def test_refused_on_python_3_12_and_later_with_one_line():
    for version in ((3, 12), (3, 13, 1)):
        text = simpleplayer.backend_problem(SETTINGS, version)
        assert text == (f"--music-backend simpleaudio needs Python 3.11 or older (simpleaudio crashes on Python "
                        f"{version[0]}.{version[1]}): use --music-backend pyaudio")
    assert simpleplayer.backend_problem(SETTINGS, (3, 11)) is None or importlib.util.find_spec("simpleaudio") is None
    assert simpleplayer.backend_problem(Settings(), (3, 12)) is None, "pyaudio, the default, is never refused"


def test_the_command_refuses_before_the_session_starts(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(simpleplayer, "PYTHON", (3, 12))
    code = cli.main(["demo", "--no-window", "--music-backend", "simpleaudio", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == ("handtone: error: --music-backend simpleaudio needs Python 3.11 or older (simpleaudio crashes on "
                   "Python 3.12): use --music-backend pyaudio\n")
    assert not list(tmp_path.iterdir()), "nothing started, no session folder"


def test_refused_when_simpleaudio_is_not_installed(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(simpleplayer, "PYTHON", (3, 11))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "simpleaudio" else real(name, *a))
    assert cli.main(["demo", "--no-window", "--music-backend", "simpleaudio", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "simpleaudio is not installed" in err and "--music-backend pyaudio" in err


# ---- playing --------------------------------------------------------------------------------------------------------
@pytest.fixture
def session(tmp_path, request):
    s = Session(tmp_path / "session", request.node.name[:20])
    yield s
    s.close()


def lag_s(a: np.ndarray, b: np.ndarray, most: int) -> tuple[float, float]:
    """(lag of b against a in seconds, normalised correlation there), searched within +-most samples."""
    a = a - a.mean()
    best = (0, -1.0)
    for k in range(-most, most + 1):
        x, y = (a[most:-most], b[most + k:b.size - most + k])
        n = min(x.size, y.size)
        c = float(np.dot(x[:n], y[:n]) / (np.linalg.norm(x[:n]) * np.linalg.norm(y[:n]) + 1e-12))
        if c > best[1]:
            best = (k, c)
    return best[0] / RATE, best[1]


def test_simpleaudio_plays_the_backing_on_the_session_clock_through_a_pause(pulse, session):
    need_simpleaudio()
    song = load_for(SETTINGS)
    session.names["pause"] = segment_name(session.names)
    control = PauseControl.create(session.names["pause"], SETTINGS)
    try:
        session.start("recorder", "audio.recorder:run", SETTINGS)
        session.start("music", "audio.music:run", SETTINGS)
        session.wait_ready(30)
        session.go_in(0.5)
        press, pressed = [3.9, 5.5], []
        while session.now() < 8.5:
            if press and session.now() >= press[0]:
                pressed.append(session.now())
                control.toggle(pressed[-1])
                press.pop(0)
            time.sleep(0.005)
        spans = control.spans_until(session.now())
        assert session.finish() == {"recorder": 0, "music": 0}, session.drain_messages()
    finally:
        control.close()
    (start, end), = spans
    # p pressed about when planned (this loop is late when the machine stalls), the pause where the presses put it
    assert pressed[0] - 3.9 < 0.3 and pressed[1] - 5.5 < 0.3, pressed
    assert start == pytest.approx(pressed[0] + lead_s(SETTINGS), abs=1e-5)
    assert end == pytest.approx(pressed[1] + control.resume_after, abs=1e-5) and control.resume_after == 1.0
    st = json.loads((session.dir / "stats-music.json").read_text())
    assert st["backend"] == "simpleaudio" and st["mode"] == "device" and st["failure"] is None, st
    assert st["play_buffers"] == 2, "one from go, one after the pause"
    # the steering thread sees the pause within a poll (5 ms) and cuts the buffer where it begins; a stall of the
    # machine makes it late, and late_pause_s says by how much (a thread that never looked would be seconds late):
    # the silence below is checked from where it says the cut is
    assert st["late_pause_s"] < 0.5 and st["underflows"] is None
    cut = start + st["late_pause_s"] + SETTINGS.block / RATE   # and a one-block fade

    rate, played = read_wav(session.dir / "backing.wav")
    track = render_song(song, SETTINGS)
    t_start = st["wav_t_start"]

    def played_at(a, b):
        return played[int(round((a - t_start) * rate)):int(round((b - t_start) * rate))]

    # before the pause and after it, backing.wav holds the track at song time (sample for sample, int16-quantised)
    for a, b in ((1.5, 3.8), (end + 0.2, 8.3)):
        seg = played_at(a, b)
        song_a = float(song_times(np.array([a]), spans)[0])
        assert np.sqrt(np.mean(seg ** 2)) > 0.02
        # the buffer's start, its lead-in and its song position are each rounded to a sample, and so are this test's
        # own two positions: up to 2.5 samples (52 us) in all (one CI run was 2 off); a wrong song time is far more
        i = int(round(song_a * rate))
        ref = track[i - 3:i + seg.size + 3]
        errors = [np.abs(seg - ref[3 + k:3 + k + seg.size]).max() for k in range(-3, 4)]
        assert min(errors) < 1e-3, f"{a}..{b}: backing.wav is not the track at song time ({errors})"
    assert not played_at(cut + 0.005, end - 0.01).any(), "silent through the pause and its count-in"
    rows = read_csv(session.dir / "music.csv")
    held = [r["song_t"] for r in rows if start + 0.05 < r["t_dac"] < end - 0.05]
    assert held and max(held) - min(held) < 1e-6 and held[0] == pytest.approx(start, abs=0.01)

    # the null sink's monitor heard what backing.wav says, when it says (simpleaudio's start latency included). The
    # recorder places its file within ~20 ms (the PyAudio backend measured this way: -2 and -20 ms in two runs), so
    # 40 ms is allowed; a wrong start time or a segment placed at the wrong song time is far more than that.
    rec_stats = json.loads((session.dir / "stats-recorder.json").read_text())
    rrate, rec = read_wav(session.dir / "recording.wav")
    first = rec_stats["t_first_sample"]

    def heard_at(a, b):
        return rec[int(round((a - first) * rrate)):int(round((b - first) * rrate))].astype(np.float64)

    for a, b in ((2.4, 3.8), (end + 0.2, 8.3)):
        lag, corr = lag_s(played_at(a, b).astype(np.float64), heard_at(a - 0.05, b + 0.05)[int(0.05 * rrate):],
                          int(0.06 * RATE))
        assert corr > 0.9 and abs(lag) < 0.04, f"{a}..{b}: heard {lag * 1000:.1f} ms off, correlation {corr:.2f}"
    quiet = heard_at(cut + 0.15, end - 0.05)   # 0.15 s after the cut: the sink's and the recorder's own delays
    loud = heard_at(2.4, 3.8)
    assert 20 * math.log10(np.sqrt(np.mean(quiet ** 2)) / np.sqrt(np.mean(loud ** 2)) + 1e-12) < -40, \
        "the sink is silent in the pause"


def test_a_demo_session_plays_its_backing_through_simpleaudio(pulse, app, tmp_path):
    need_simpleaudio()
    proc = app("demo", "--no-window", "--duration", 5, "--out", tmp_path, "--music-backend", "simpleaudio",
               timeout=180)
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    st = json.loads((folder / "stats-music.json").read_text())
    assert st["backend"] == "simpleaudio" and st["mode"] == "device" and st["play_buffers"] == 1
    assert "simpleaudio" not in proc.stdout + proc.stderr, "no notice: it played"
    rate, played = read_wav(folder / "backing.wav")
    assert played.size / rate > 5.0 and np.abs(played).max() > 0.1
    assert (folder / "performance.wav").exists()
    report = json.loads((folder / "stats.json").read_text())
    assert report["processes"]["music"]["mode"] == "device"


def test_without_a_sound_server_simpleaudio_is_silent_and_backing_wav_is_made(session, no_audio_env):
    need_simpleaudio()
    session.start("music", "audio.music:run", SETTINGS, env=no_audio_env)
    session.wait_ready(30)
    session.go_in(0.2)
    time.sleep(1.5)
    assert session.finish() == {"music": 0}
    notices = [text for kind, who, text in session.drain_messages() if kind == "notice"]
    assert len(notices) == 1 and notices[0].startswith("simpleaudio cannot play on ALSA's default device")
    assert notices[0].endswith("the backing is silent (backing.wav is still made)")
    st = json.loads((session.dir / "stats-music.json").read_text())
    assert st["backend"] == "simpleaudio" and st["mode"] == "clock" and st["no_device_reason"]
    rate, x = read_wav(session.dir / "backing.wav")
    assert x.size / rate == pytest.approx(1.5 - st["wav_t_start"], abs=0.3)
