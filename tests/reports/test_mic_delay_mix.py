"""performance.wav holds the microphone too, moved earlier by the speaker-to-microphone delay the recorder used
(stats-recorder.json mic_delay_ms), so a sound played at t and heard by the microphone lands at t, not as an echo."""
from __future__ import annotations

import wave

import numpy as np

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
    assert data.recording()[2] == -0.5 - 0.025 and data.recording()[3] == 25.0


def test_without_the_delay_the_recording_is_an_echo(tmp_path):
    data = _session(tmp_path)                         # a session from before calibrate-audio: no mic_delay_ms
    x, _ = _read(mix(data, tmp_path / "performance.wav"))
    assert peaks(x) == [48000, 48000 + 1200], peaks(x)   # 25 ms late


def test_a_recording_that_cannot_be_placed_is_left_out_and_said(tmp_path):
    data = _session(tmp_path, delay_ms=25.0, with_first=False)
    x, _ = _read(mix(data, tmp_path / "performance.wav"))
    assert peaks(x) == [48000]
    assert any("recording.wav not placed in time" in w for w in data.warnings)
