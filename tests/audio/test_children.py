"""The three audio children, started exactly as the launcher starts them, on a real PulseAudio null sink."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import wave

import numpy as np
import pytest

from audio.music import render_song
from audio.synth import NO_SPEAKER
from audio.recorder import NO_MIC
from audio.wavfile import WavWriter, read_wav
from game.pitchmap import PitchMap
from game.sessionlog import read_csv
from game.settings import Settings
from game.song import load
from harness import Session, fallback
from standins import require_tool

SETTINGS = Settings(music_volume=0.5)
RATE = SETTINGS.sample_rate


def stats(session, name):
    return json.loads((session.dir / f"stats-{name}.json").read_text())


def dominant_hz(x: np.ndarray, rate: int = RATE) -> float:
    x = x[-16384:] if x.size > 16384 else x
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    spec[:int(40 * x.size / rate)] = 0
    return float(np.argmax(spec) * rate / x.size)


# The most the song can sit off backing.wav where the backing has re-synced: backing.wav counts samples, the song
# follows the DAC times, so it is their clocks' drift since the start (one CI session: 2000 ppm, 4 ms by 2.4 s). A
# stall's jump moves both alike (silence is filled in), so it adds nothing.
RESYNC_DRIFT_S = 0.01


def backing_lags(backing, track, i0: int, start_s: float, seconds: float, rate: int, block: int, most: int) -> list:
    """For each block-long window of backing.wav from song time start_s for seconds (the file's sample k is song
    sample i0 + k as played without a re-sync): the shift in samples, within +-most, at which it is the rendered
    track sample for sample (int16 quantised), or None where it is at no such shift (a window across a re-sync's jump,
    or across the silence filled in where the DAC time jumped, which also moves the windows off the played blocks).
    A near-silent window, which would match any quiet place, is left out; fails when the stretch is nearly silent."""
    first = -(-(int(round(start_s * rate)) - i0) // block) * block      # the first whole block in the file
    stretch = backing[first:first + int(seconds * rate)]
    assert np.sqrt(np.mean(stretch ** 2)) > 0.02, "backing.wav is (nearly) silent where the song plays"
    lags = []
    for k in range(first, first + int(seconds * rate) - block + 1, block):
        got = backing[k:k + block]
        if np.sqrt(np.mean(got ** 2)) < 0.005:
            continue
        lo = i0 + k - most
        candidates = np.lib.stride_tricks.sliding_window_view(track[lo:lo + 2 * most + block], block)
        errors = np.abs(candidates - got).max(axis=1)
        best = int(np.argmin(errors))
        lags.append(best - most if errors[best] < 0.01 else None)
    assert len(lags) > 0.8 * seconds * rate / block, f"only {len(lags)} blocks loud enough to place"
    return lags


def semitones(a: float, b: float) -> float:
    return abs(12 * math.log2(a / b))


@pytest.fixture
def session(tmp_path, request):
    s = Session(tmp_path / "session", request.node.name[:20])
    yield s
    s.close()


def play_tone(tmp_path, hz: float, seconds: float) -> subprocess.Popen:
    paplay = require_tool("paplay")
    path = tmp_path / f"tone{int(hz)}.wav"
    with WavWriter(path, RATE, 1) as w:
        w.write(0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE))
    return subprocess.Popen([paplay, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_recorder_sigkilled_mid_session_leaves_the_tone_up_to_the_kill(pulse, session, tmp_path):
    tone = play_tone(tmp_path, 660.0, 15.0)
    try:
        proc = session.start("recorder", "audio.recorder:run", SETTINGS)
        session.wait_ready()
        t0 = session.go_in(0.3)
        time.sleep(3.0)
        killed = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(5)
    finally:
        tone.terminate()
        tone.wait(5)
    first = stats(session, "recorder")["t_first_sample"]   # written at go, before the kill
    assert first is not None and first < 0.3
    with wave.open(str(session.dir / "recording.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        n = w.getnframes()
        x = np.frombuffer(w.readframes(n), "<i2").astype(np.float64) / 32768
    end = first + n / RATE                                    # session time of the last sample held
    assert end >= (killed - t0) - 0.5, f"recording ends at {end:.2f}, killed at {killed - t0:.2f}"
    last = x[-int(0.5 * RATE):]
    assert np.sqrt(np.mean(last ** 2)) > 0.1, "the tone is in the recording up to the end"
    assert semitones(dominant_hz(last), 660.0) < 0.2
    levels = read_csv(session.dir / "levels.csv")
    assert levels and max(r["rms_dbfs"] for r in levels) > -15


def test_synth_and_music_play_log_and_save(pulse, session):
    song = load(SETTINGS.song)
    pm = PitchMap.for_song(song, SETTINGS)
    session.start("synth", "audio.synth:run", SETTINGS)
    session.start("music", "audio.music:run", SETTINGS)
    session.wait_ready()
    t0 = session.go_in(0.3)
    plan = [(0.0, None), (0.8, 0.02), (2.0, None), (2.5, 0.08), (4.0, None)]  # (session time, area or no hand)
    for k, (at, area) in enumerate(plan[:-1]):
        until = plan[k + 1][0]
        while session.now() < until:
            session.write_hand(present=area is not None, area=area or 0.0)
            time.sleep(1 / 30)
    voice = session.voice.read()
    # its DAC time is this block's, a few ms ahead (a stall of the machine: up to ~80 ms behind); a voice state
    # published once, or only at the start, is seconds off
    assert abs(voice["t_dac"] - session.now()) < 0.5, "the synth publishes its voice state while it plays"
    codes = session.finish()
    assert codes == {"synth": 0, "music": 0}, session.drain_messages()

    st = stats(session, "synth")
    assert st["mode"] == "device", fallback(st)
    assert st["device"] and 0 < st["output_latency_ms"] < 100
    assert st["sample_rate"] == RATE and st["blocks"] > 3.5 * RATE / SETTINGS.block
    assert -0.4 < st["wav_t_start"] < 0.0
    assert 0 < st["latency_ms"]["p50"] < 100 and st["latency_ms"]["n"] > 50
    rows = read_csv(session.dir / "synth.csv")
    assert list(rows[0]) == ["t_dac", "midi", "hz", "amplitude", "frame_index", "t_capture", "latency_ms"]
    t = np.array([r["t_dac"] for r in rows])
    assert np.all(np.diff(t) > 0) and abs(t[0] - st["wav_t_start"]) < 1e-4
    rate, wav = read_wav(session.dir / "synth.wav")
    # synth.wav holds exactly the blocks in synth.csv, plus the silence filled in where a stall of the machine made
    # the DAC times jump (so the file stays on the clock): the stats count it, to the millisecond
    gap = wav.size - len(rows) * SETTINGS.block
    assert gap >= 0 and abs(gap - st["wav_gaps_s"] * rate) <= 0.0005 * rate + 1, (gap, st["wav_gaps_s"])

    def window(a, b):
        i = int((a - st["wav_t_start"]) * rate)
        return wav[i:int((b - st["wav_t_start"]) * rate)], [r for r in rows if a <= r["t_dac"] < b]

    for (a, b, area) in ((1.2, 1.9, 0.02), (3.0, 3.9, 0.08)):
        x, rs = window(a, b)
        assert all(abs(r["midi"] - pm.midi(area)) < 0.01 for r in rs)
        assert all(r["amplitude"] == pytest.approx(SETTINGS.synth_volume) for r in rs)
        assert semitones(dominant_hz(x), 440 * 2 ** ((pm.midi(area) - 69) / 12)) < 0.3
    # no hand from 2.0 s: silent once the release (60 ms) has played, until the hand comes back at 2.5 s; 0.24 s is
    # left for this test's write (late when the machine stalls) and the synth's next block to reach the DAC
    x, rs = window(2.3, 2.45)
    assert not np.any(x) and all(r["amplitude"] == 0 for r in rs)

    sm = stats(session, "music")
    assert sm["mode"] == "device", fallback(sm)
    assert sm["volume"] == 0.5
    # the backing asks for the device's high latency (it plays by its DAC times): a longer buffer than the tone's
    assert sm["latency_setting"] == "high" and sm["output_latency_ms"] > 3 * st["output_latency_ms"], (sm, st)
    rate, backing = read_wav(session.dir / "backing.wav")
    track = render_song(song, SETTINGS)
    # the song starts after its lead-in: compare the played backing with the rendered track over the same times,
    # a block's length at a time. A block plays the song where its DAC time says; backing.wav holds the
    # blocks end to end, so each re-sync (below) moves the song under the file by its jump: 4 ms twice in one CI
    # session, where the sink's clock ran 2000 ppm off the DAC times' (no stall). Without one, every block is exact.
    lags = backing_lags(backing, track, int(round(sm["wav_t_start"] * rate)), song.notes[0].start + 0.1, 0.5, rate,
                        SETTINGS.block, most=int(RESYNC_DRIFT_S * rate) if sm["resyncs"] else 0)
    # each re-sync is one place where the song moves under the file (two where silence was filled in for a jump of
    # the DAC time: one CI session had 7 re-syncs and 31 ms filled, and 2 windows across them); elsewhere every
    # window is the track, at one shift per stretch between re-syncs
    placed = [lag for lag in lags if lag is not None]
    assert len(lags) - len(placed) <= 2 * sm["resyncs"], ("backing.wav is the song slice for each block's DAC time",
                                                          lags, sm)
    assert len(set(placed)) <= sm["resyncs"] + 1, ("backing.wav is the song slice for each block's DAC time", lags, sm)
    # a re-sync follows a jump of the DAC time: after a stall, or when PortAudio's delay estimate through the pulse
    # plugin moves by more than a quarter block (a late callback inside the stream's buffer is not an underflow)
    assert sm["resyncs"] <= 2 + sm["underflows_flag"] + sm["underflows_clock"], sm
    mrows = read_csv(session.dir / "music.csv")
    assert len(mrows) > 50 and max(r["level"] for r in mrows) > 0.02


def test_a_stalled_synth_counts_an_underflow_by_the_clock(pulse, session):
    proc = session.start("synth", "audio.synth:run", SETTINGS)
    session.wait_ready()
    session.go_in(0.2)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(0.6)
    os.kill(proc.pid, signal.SIGCONT)
    time.sleep(1.0)
    assert session.finish() == {"synth": 0}
    st = stats(session, "synth")
    assert st["underflows_clock"] >= 1, st
    # the WAV stays on the session clock across the stall: the last logged block ends where the WAV ends
    rate, x = read_wav(session.dir / "synth.wav")
    rows = read_csv(session.dir / "synth.csv")
    last_end = rows[-1]["t_dac"] + SETTINGS.block / rate
    assert abs(st["wav_t_start"] + x.size / rate - last_end) < 1.5 * SETTINGS.block / rate, (st, x.size)
    assert st["wav_gaps_s"] > 0.3, "the stall's gap is filled with silence"


def test_no_audio_device_plays_on_the_clock_and_does_not_record(session, no_audio_env):
    for name in ("synth", "music", "recorder"):
        session.start(name, f"audio.{name}:run", SETTINGS, env=no_audio_env)
    session.wait_ready(30)
    session.go_in(0.2)
    while session.now() < 2.0:
        session.write_hand(area=0.05)
        time.sleep(1 / 30)
    assert session.finish() == {"synth": 0, "music": 0, "recorder": 0}
    notices = [(kind, who, text) for kind, who, text in session.drain_messages()]
    assert ("notice", "synth", NO_SPEAKER) in notices
    assert ("notice", "recorder", NO_MIC) in notices
    for name, wav in (("synth", "synth.wav"), ("music", "backing.wav")):
        st = stats(session, name)
        assert st["mode"] == "clock" and st["device"] is None
        rate, x = read_wav(session.dir / wav)
        assert abs(x.size / rate - (2.0 - st["wav_t_start"])) < 0.3
    _, x = read_wav(session.dir / "synth.wav")
    assert np.abs(x).max() > 0.3, "the synth computes its tone without a speaker"
    assert len(read_csv(session.dir / "synth.csv")) > 300
    assert not (session.dir / "recording.wav").exists()
    assert stats(session, "recorder")["recording"] is False
