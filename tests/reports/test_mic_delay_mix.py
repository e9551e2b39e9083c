"""performance.wav holds the microphone too, moved earlier by the speaker-to-microphone delay the recorder used
(stats-recorder.json mic_delay_ms), so a sound played at t and heard by the microphone lands at t, not as an echo."""
from __future__ import annotations

import wave

import numpy as np
import pytest

import sessionkit as kit
from reports.mix import mix
from reports.sessiondata import SessionData


def _read(path):
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float), w.getframerate()


def _session(d, delay_ms=None, with_first=True):
    """A click played at session time 1.0 s (synth.wav from 0), heard by the microphone: the recorder's timeline
    (recording.wav at 16 kHz from -0.5 s) places it 25 ms later."""
    tone = np.zeros(48000 * 3)
    tone[48000] = 1.0
    kit.write_wav(d / "synth.wav", tone, 48000)
    kit.stats(d, "synth", wav_t_start=0.0)
    rec = np.zeros(16000 * 3)
    rec[int(round((1.025 + 0.5) * 16000))] = 0.5
    kit.write_wav(d / "recording.wav", rec, 16000)
    fields = {"t_first_sample": -0.5} if with_first else {}
    if delay_ms is not None:
        fields.update(mic_delay_ms=delay_ms, mic_delay_source="calibration")
    kit.stats(d, "recorder", **fields)
    return SessionData(d)


def peaks(x: np.ndarray) -> list[int]:
    """Where the clicks are: the loudest sample of each run of samples above a fifth of the peak (the 16 kHz
    recording's click is three samples wide at 48 kHz)."""
    loud = np.flatnonzero(np.abs(x) > 0.2 * np.abs(x).max())
    runs = np.split(loud, np.flatnonzero(np.diff(loud) > 1) + 1)
    return [int(r[np.argmax(np.abs(x[r]))]) for r in runs]


def test_the_recording_lands_on_what_was_played(tmp_path):
    data = _session(tmp_path, delay_ms=25.0)
    x, rate = _read(mix(data, tmp_path / "performance.wav"))
    assert rate == 48000 and len(x) == 48000 * 3      # the recording's head before the first sound is cut
    assert peaks(x) == [48000], peaks(x)              # one click: the microphone's copy sits on the played one
    assert not [w for w in data.warnings if "recording" in w]
    assert data.recording_stream()[2] == -0.5 - 0.025 and data.recording_stream()[3] == 25.0


def test_without_the_delay_the_recording_is_an_echo(tmp_path):
    data = _session(tmp_path)                         # a session from before calibrate-audio: no mic_delay_ms
    x, _ = _read(mix(data, tmp_path / "performance.wav"))
    assert peaks(x) == [48000, 48000 + 1200], peaks(x)   # 25 ms late


def test_a_recording_that_cannot_be_placed_is_left_out_and_said(tmp_path):
    data = _session(tmp_path, delay_ms=25.0, with_first=False)
    x, _ = _read(mix(data, tmp_path / "performance.wav"))
    assert peaks(x) == [48000]
    assert any("recording.wav not placed in time" in w for w in data.warnings)


# ---- clocks that are not the computer's ---------------------------------------------------------------------------
PPM = 625.0                  # the null sink's clock against time.monotonic() here
PULSES_S = (1.0, 5.0, 9.0)   # session times the sounds are played at


def pulses(n: int, per_s: float, times, t_first: float) -> np.ndarray:
    """n samples of a file whose sample k sounds at t_first + k / per_s, holding a 0.1 ms Gaussian pulse at each of
    the session times (smooth enough to come through a band-limited resampling with its peak in place)."""
    k = np.arange(n)
    x = np.zeros(n)
    for t in times:
        x += np.exp(-0.5 * (((k - (t - t_first) * per_s) / per_s) / 0.0001) ** 2)
    return 0.5 * x


def _drifting_session(d, synth_ppm=None, recorder_ppm=True):
    """synth.wav and recording.wav written on clocks running PPM fast (the device's); the microphone hears each
    pulse 25 ms after it was played. What the stats say of those clocks is the parameter."""
    per_s = 48000 * (1 + PPM / 1e6)
    kit.write_wav(d / "synth.wav", pulses(48000 * 11, per_s if synth_ppm else 48000, PULSES_S, 0.0), 48000)
    kit.stats(d, "synth", wav_t_start=0.0, **({"wav_rate_ppm": synth_ppm} if synth_ppm else {}))
    kit.write_wav(d / "recording.wav", pulses(48000 * 12, per_s, [t + 0.025 for t in PULSES_S], -0.5), 48000)
    kit.stats(d, "recorder", t_first_sample=-0.5, mic_delay_ms=25.0, mic_delay_source="calibration",
              **({"rate_ppm": PPM} if recorder_ppm else {}))
    return SessionData(d)


def test_a_recording_on_a_fast_clock_is_stretched_onto_the_session_clock(tmp_path):
    """rate_ppm: the recording's sample k sounds at t_first + k / (rate (1 + ppm/1e6)); the mix resamples it by that
    ratio, so each pulse the microphone heard lands on the played one (synth.wav here on the computer's clock, as
    the synth writes it without a speaker), 9 s in as at 1 s: one peak each, within a sample."""
    data = _drifting_session(tmp_path, recorder_ppm=True)
    placed = data.recording_stream()
    assert placed.samples_per_s == pytest.approx(48000 * (1 + PPM / 1e6)) and placed.start == pytest.approx(-0.525)
    x, rate = _read(mix(data, tmp_path / "performance.wav"))
    assert rate == 48000 and peaks(x) == pytest.approx([int(round(t * 48000)) for t in PULSES_S], abs=1), peaks(x)


def test_the_tones_clock_in_its_stats_puts_every_track_on_the_session_clock(tmp_path):
    """With wav_rate_ppm in stats-synth.json the tone is placed by the same rule: the pulses played and heard are one
    again, all along; and without rate_ppm in the recorder's stats (a session from before the fit) the recording is
    read at the nominal rate and each pulse comes out twice, further apart the later it is."""
    x, _ = _read(mix(_drifting_session(tmp_path, synth_ppm=PPM), tmp_path / "performance.wav"))
    assert peaks(x) == pytest.approx([int(round(t * 48000)) for t in PULSES_S], abs=1), peaks(x)
    old = tmp_path / "old"
    old.mkdir()
    x, _ = _read(mix(_drifting_session(old, synth_ppm=PPM, recorder_ppm=False), old / "performance.wav"))
    got = peaks(x)
    assert len(got) == 6, got
    apart = [b - a for a, b in zip(got[::2], got[1::2])]
    assert apart == pytest.approx([(t + 0.525) * PPM / 1e6 * 48000 for t in PULSES_S], abs=2), apart
