"""The WAV writer survives SIGKILL; the reader accepts truncated files."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

from audio.wavfile import WavWriter, read_wav

ROOT = Path(__file__).resolve().parents[2]
RATE = 48000

# writes a 440 Hz sine in real time in 50 ms chunks, as the drain threads do; prints its start time once
WRITER = r"""
import sys, time, numpy as np
sys.path.insert(0, sys.argv[2])
from audio.wavfile import WavWriter
w = WavWriter(sys.argv[1], 48000, 1)
start = time.monotonic()
print(start, flush=True)
done = 0
while True:
    target = int((time.monotonic() - start) * 48000)
    if target > done:
        t = np.arange(done, target) / 48000
        w.write(0.5 * np.sin(2 * np.pi * 440 * t))
        done = target
    time.sleep(0.05)
"""


def test_sigkilled_writer_leaves_a_wav_with_audio_to_half_a_second_before_the_kill(tmp_path):
    path = tmp_path / "killed.wav"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ROOT)], stdout=subprocess.PIPE, text=True)
    try:
        start = float(proc.stdout.readline())
        time.sleep(2.3)
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    with wave.open(str(path)) as w:                     # Python's wave module opens it
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        frames = w.getnframes()
        data = np.frombuffer(w.readframes(frames), "<i2")
    held = frames / RATE
    assert held >= (killed_at - start) - 0.5, f"holds {held:.2f} s, killed after {killed_at - start:.2f} s"
    assert held <= (killed_at - start) + 0.05
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(frames) / RATE)
    assert np.abs(data / 32767.0 - expected).max() < 1e-3, "the audio is what was written"


def test_stereo_and_close_write_exact_sizes(tmp_path):
    path = tmp_path / "st.wav"
    x = np.stack([np.linspace(-1, 1, 1000), np.linspace(1, -1, 1000)], axis=1)
    with WavWriter(path, 44100, 2) as w:
        w.write(x[:400])
        w.write(x[400:])
    with wave.open(str(path)) as wf:
        assert wf.getnchannels() == 2 and wf.getnframes() == 1000
    rate, y = read_wav(path)
    assert rate == 44100 and y.shape == (1000, 2)
    assert np.abs(y - x).max() < 1e-3


def test_read_wav_tolerates_truncation_and_streaming_sizes(tmp_path):
    path = tmp_path / "t.wav"
    with WavWriter(path, RATE, 1) as w:
        w.write(np.full(1000, 0.25))
    raw = bytearray(path.read_bytes())
    (tmp_path / "cut.wav").write_bytes(raw[:44 + 2 * 600 + 1])      # cut mid-sample
    rate, y = read_wav(tmp_path / "cut.wav")
    assert rate == RATE and y.size == 600 and np.allclose(y, 0.25, atol=1e-3)
    raw[40:44] = (0xFFFFFFFF).to_bytes(4, "little")                   # size never filled in
    (tmp_path / "stream.wav").write_bytes(raw)
    assert read_wav(tmp_path / "stream.wav")[1].size == 1000
    (tmp_path / "header_only.wav").write_bytes(raw[:44])
    assert read_wav(tmp_path / "header_only.wav")[1].size == 0
