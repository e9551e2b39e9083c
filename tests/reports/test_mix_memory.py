"""The mix made a chunk at a time: the same samples as the whole-array mix it replaced, and memory that does not grow
with the session (a 10-minute session's reports peaked at ~730 MB when every track was held whole)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

import reports.mix as mixmod
from audio import resample as resample_mod
from audio.resample import _taps, ratio_for, resample
from audio.sampleclock import MAX_PPM
from audio.wavfile import read_wav_checked
from audio.wavstream import WavStream
from reports.mix import DRIFT_S, PEAK, SOURCES, mix
from reports.sessiondata import SessionData

ROOT = Path(__file__).resolve().parents[2]


# ---- the whole-array mix as it was (reports/mix.py before the chunks), the reference --------------------------------
def _whole_wav(path: Path) -> tuple[np.ndarray, int]:
    rate, x, _ = read_wav_checked(path)
    return (x.mean(axis=1) if x.ndim > 1 else x), rate


def _resample_per_phase(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """audio/resample.resample before its fixed blocks: one matrix-vector product per phase over the whole file."""
    x = np.asarray(x, dtype=np.float32)
    ratio = ratio_for(rate_in, rate_out)
    L, M = ratio.numerator, ratio.denominator
    if L == M:
        return x.copy()
    n_out = int(np.ceil(x.size * L / M)) if x.size else 0
    y = np.zeros(n_out, np.float32)
    if n_out == 0:
        return y
    h, base, K = _taps(L, M)
    xp = np.zeros(K + x.size + K + M + K, np.float32)
    xp[K:K + x.size] = x
    step = xp.strides[0]
    for r in range(min(L, n_out)):
        count = (n_out - r + L - 1) // L
        view = np.lib.stride_tricks.as_strided(xp[K + int(base[r]) - K // 2 + 1:], shape=(count, K),
                                               strides=(M * step, step), writeable=False)
        y[r::L] = view @ h[r]
    return y


def reference_mix(d: Path, out: Path, resampler=resample) -> None:
    """The old mix(): every track read whole (read_wav_checked), resampled whole, summed into one float32 array."""
    data = SessionData(d)
    ran = data.json("session.json").get("children") if (d / "session.json").exists() else None
    tracks = []
    for wav_name, stats_name, _what, process in SOURCES:
        if (isinstance(ran, dict) and ran and process not in ran) or not (d / wav_name).exists():
            continue
        x, rate = _whole_wav(d / wav_name)
        if len(x) == 0:
            continue
        stats = data.json(stats_name)
        t_start = stats.get("wav_t_start")
        t_start = float(t_start) if isinstance(t_start, (int, float)) else 0.0
        ppm = stats.get("wav_rate_ppm")
        ppm = float(ppm) if isinstance(ppm, (int, float)) and math.isfinite(ppm) and abs(ppm) < MAX_PPM else 0.0
        tracks.append((x, rate, t_start, rate * (1.0 + ppm / 1e6)))
    start = min(t for _, _, t, _ in tracks)
    placed_rec = data.recording_stream()
    if placed_rec is not None and placed_rec.samples.frames:
        x, _ = _whole_wav(d / "recording.wav")
        tracks.append((x, placed_rec.rate, placed_rec.start, placed_rec.samples_per_s))
    rate = max(r for _, r, _, _ in tracks)
    placed = []
    for x, _, t, per_s in tracks:
        if abs(len(x) / per_s - len(x) / rate) >= DRIFT_S:
            x = resampler(x, per_s, rate)
        offset = int(round((t - start) * rate))
        if offset < 0:
            x, offset = x[-offset:], 0
        placed.append((offset, x))
    total = np.zeros(max(o + len(x) for o, x in placed), dtype=np.float32)
    for offset, x in placed:
        total[offset:offset + len(x)] += x
    peak = float(np.abs(total).max()) if len(total) else 0.0
    if peak > 0:
        total *= PEAK / peak
    pcm = np.clip(np.round(total * 32767.0), -32767, 32767).astype("<i2")
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


# ---- session folders, written a chunk at a time so a long one costs the test no memory ---------------------------------
def write_wav(path: Path, seconds: float, rate: int, freq: float, channels: int = 1, seed: int = 0,
              chunk: int = 1 << 16) -> None:
    """A tone plus a little noise, int16, written chunk by chunk; the tone's phase runs on across chunks."""
    n = int(round(seconds * rate))
    rng = np.random.default_rng(seed)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        for a in range(0, n, chunk):
            k = np.arange(a, min(a + chunk, n))
            x = 0.4 * np.sin(2 * np.pi * freq / rate * k) + 0.05 * rng.standard_normal(k.size)
            if channels == 2:
                x = np.stack([x, 0.5 * x[::-1]], axis=1)
            w.writeframes(np.round(x * 32767).astype("<i2").tobytes())


def stats(d: Path, name: str, **fields) -> None:
    (d / f"stats-{name}.json").write_text(json.dumps({"process": name} | fields))


def long_session(d: Path, seconds: float) -> Path:
    """synth.wav on a clock 620 ppm fast (resampled), backing.wav 0.3 s later on the nominal clock (not resampled),
    recording.wav from 0.4 s before the first sound on a 625 ppm clock (resampled, its head cut)."""
    write_wav(d / "synth.wav", seconds, 48000, 440.0, seed=1)
    stats(d, "synth", wav_t_start=0.0, wav_rate_ppm=620.0)
    write_wav(d / "backing.wav", seconds - 0.3, 48000, 220.0, seed=2)
    stats(d, "music", wav_t_start=0.3)
    write_wav(d / "recording.wav", seconds + 0.4, 48000, 330.0, seed=3)
    stats(d, "recorder", t_first_sample=-0.4, rate_ppm=625.0, mic_delay_ms=25.0)
    return d


def awkward_session(d: Path) -> Path:
    """Short tracks of other rates and clocks: synth.wav 620 ppm fast, a stereo backing.wav at 22.05 kHz starting
    0.5137 s later, a 16 kHz recording.wav from before the first sound on a 625 ppm clock (all three resampled)."""
    write_wav(d / "synth.wav", 4.0, 48000, 440.0, seed=1)
    stats(d, "synth", wav_t_start=0.0, wav_rate_ppm=620.0)
    write_wav(d / "backing.wav", 3.1, 22050, 220.0, channels=2, seed=2)
    stats(d, "music", wav_t_start=0.5137)
    write_wav(d / "recording.wav", 4.7, 16000, 330.0, seed=3)
    stats(d, "recorder", t_first_sample=-0.4321, rate_ppm=625.0, mic_delay_ms=25.0)
    return d


def _frames(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), w.getframerate()


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks and resampler blocks far shorter than the tracks, of sizes that divide nothing (primes)."""
    monkeypatch.setattr(mixmod, "CHUNK", 10007)
    monkeypatch.setattr(resample_mod, "BLOCK", 3001)
    monkeypatch.setattr(resample_mod, "BLOCK_ROWS", 7)


def test_the_chunked_mix_is_the_whole_array_mix_byte_for_byte(tmp_path, small_chunks):
    """Every track resampled (three ratios, an upsampling among them), a stereo backing, the recording's head cut,
    offsets that are no multiple of anything: the chunked file is the whole-array one, every byte of it."""
    d = tmp_path / "session"
    d.mkdir()
    awkward_session(d)
    data = SessionData(d)
    assert mix(data, d / "performance.wav") == d / "performance.wav"
    reference_mix(d, tmp_path / "reference.wav")
    assert (d / "performance.wav").read_bytes() == (tmp_path / "reference.wav").read_bytes()
    x, rate = _frames(d / "performance.wav")
    assert rate == 48000 and len(x) > 10 * 10007 and np.abs(x).max() == round(PEAK * 32767)
    assert data.warnings == []
    assert sorted(p.name for p in d.iterdir() if p.suffix != ".json") == [      # the temporary sum is gone
        "backing.wav", "performance.wav", "recording.wav", "synth.wav"]


def test_without_resampling_the_chunked_mix_is_byte_identical(tmp_path, small_chunks):
    """All on the nominal 48 kHz clock: nothing resampled, and the file is the whole-array one, byte for byte."""
    write_wav(tmp_path / "synth.wav", 3.0, 48000, 440.0, seed=1)
    stats(tmp_path, "synth", wav_t_start=0.0)
    write_wav(tmp_path / "backing.wav", 2.2, 48000, 220.0, channels=2, seed=2)
    stats(tmp_path, "music", wav_t_start=0.77777)
    write_wav(tmp_path / "recording.wav", 3.5, 48000, 330.0, seed=3)
    stats(tmp_path, "recorder", t_first_sample=-0.3333, mic_delay_ms=25.0)
    mix(SessionData(tmp_path), tmp_path / "performance.wav")
    reference_mix(tmp_path, tmp_path / "reference.wav")
    assert (tmp_path / "performance.wav").read_bytes() == (tmp_path / "reference.wav").read_bytes()


def test_resampling_in_blocks_is_within_one_lsb_of_one_product_per_phase(tmp_path):
    """The resampler's fixed blocks move a float by an ulp where BLAS sums a row in another order than one
    product per phase over the whole file did: the mix (tracks longer than a block, the real sizes) stays within
    1 LSB of the old one, and most samples are the same."""
    d = long_session(tmp_path, 30.0)
    mix(SessionData(d), d / "performance.wav")
    reference_mix(d, tmp_path / "old.wav", resampler=_resample_per_phase)
    reference_mix(d, tmp_path / "blocks.wav")
    new, _ = _frames(d / "performance.wav")
    old, _ = _frames(tmp_path / "old.wav")
    assert (d / "performance.wav").read_bytes() == (tmp_path / "blocks.wav").read_bytes()
    assert len(new) == len(old) and np.abs(new.astype(int) - old).max() <= 1
    assert np.count_nonzero(new != old) < len(new) // 1000


def test_wavstream_spans_hold_the_files_samples(tmp_path):
    """Spans read from any place, stitched, are the file's own PCM samples, for an intact file, a stereo one, one
    whose writer stopped before fixing its sizes (data size 0, an odd byte after), and one with samples past its
    declared size; the two damaged ones say so. (read_wav_checked reads through WavStream, so the expected samples
    are decoded here from the bytes, not by it.)"""
    write_wav(tmp_path / "mono.wav", 0.5, 16000, 440.0)
    write_wav(tmp_path / "stereo.wav", 0.5, 22050, 220.0, channels=2)
    raw = bytearray((tmp_path / "mono.wav").read_bytes())
    (tmp_path / "unfinished.wav").write_bytes(bytes(raw[:40]) + b"\0\0\0\0" + bytes(raw[44:]) + b"\x01")
    (tmp_path / "beyond.wav").write_bytes(bytes(raw[:40]) + (2000).to_bytes(4, "little") + bytes(raw[44:]))
    mono = np.frombuffer(bytes(raw[44:]), "<i2").astype(np.float32) / 32768.0
    stereo = np.frombuffer((tmp_path / "stereo.wav").read_bytes()[44:], "<i2").reshape(-1, 2) / np.float32(32768.0)
    unfinished = "header was not finished (writer stopped early); read the samples present"
    for name, rate, samples, note in (("mono.wav", 16000, mono, ""), ("stereo.wav", 22050, stereo, ""),
                                      ("unfinished.wav", 16000, mono, unfinished),
                                      ("beyond.wav", 16000, mono, unfinished)):
        stream = WavStream(tmp_path / name)
        assert (stream.rate, stream.frames, stream.note) == (rate, len(samples), note), name
        cuts = [0, 1, 999, 1000, 4097, len(samples)]
        got = np.concatenate([stream.read(a, b) for a, b in zip(cuts, cuts[1:])])
        assert got.dtype == np.float32 and np.array_equal(got, samples.astype(np.float32)), name
        whole_rate, whole, whole_note = read_wav_checked(tmp_path / name)
        assert (whole_rate, whole_note) == (rate, note) and np.array_equal(whole, got), name
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="not a WAV"):
        WavStream(tmp_path / "empty.wav")
    cut = bytearray(raw[:36])             # a WAVE_FORMAT_EXTENSIBLE fmt chunk saying 40 bytes, cut after 16
    cut[16:20] = (40).to_bytes(4, "little")
    cut[20:22] = (0xFFFE).to_bytes(2, "little")
    (tmp_path / "cut.wav").write_bytes(bytes(cut))
    with pytest.raises(ValueError, match="fmt chunk cut short"):
        WavStream(tmp_path / "cut.wav")


def test_a_track_placed_after_every_other_has_ended_is_left_out(tmp_path):
    """A start time from a damaged stats file (a backing 10 million seconds late) would have the mix write silence
    until the disk filled: the track is left out, with a warning, and the rest is mixed."""
    write_wav(tmp_path / "synth.wav", 1.0, 48000, 440.0, seed=1)
    stats(tmp_path, "synth", wav_t_start=0.0)
    write_wav(tmp_path / "backing.wav", 1.0, 48000, 220.0, seed=2)
    stats(tmp_path, "music", wav_t_start=1e7)
    data = SessionData(tmp_path)
    mix(data, tmp_path / "performance.wav")
    pcm, rate = _frames(tmp_path / "performance.wav")
    assert rate == 48000 and len(pcm) == 48000
    assert any("backing.wav would start" in w and "left out of the mix" in w for w in data.warnings), data.warnings


# ---- memory ----------------------------------------------------------------------------------------------------------
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child started by a big pytest process would report
# pytest's size as its own
CHILD = """
import json, sys, time
from pathlib import Path
from reports.mix import mix
from reports.sessiondata import SessionData
def hwm_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
d = Path(sys.argv[1])
base = hwm_kb()
t = time.perf_counter()
data = SessionData(d)
mix(data, d / "performance.wav")
print(json.dumps({"baseline_kb": base, "peak_kb": hwm_kb(), "seconds": time.perf_counter() - t,
                  "warnings": data.warnings}))
"""
MIX_MB_BOUND = 100   # above the interpreter's baseline; the whole-array mix of these 10 minutes took 882 MB
MINUTES = 10


def run_mix_child(d: Path) -> dict:
    """The mix in its own interpreter: (peak RSS - peak RSS after the imports) is what the mix itself took."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(d)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_10_minute_mix_stays_in_bounded_memory(tmp_path):
    """Three 10-minute tracks (two resampled): the old mix held each as float32 (115 MB apiece) plus resampled
    copies, the sum and the int16 output (882 MB above the baseline, measured with this child); the chunked one keeps
    a few 4 MB chunks whatever the length."""
    d = long_session(tmp_path, MINUTES * 60.0)
    try:
        got = run_mix_child(d)
        mb = (got["peak_kb"] - got["baseline_kb"]) / 1024
        print(f"{MINUTES}-minute mix: {mb:.1f} MB above the interpreter's baseline, {got['seconds']:.1f} s")
        assert got["warnings"] == []
        assert mb < MIX_MB_BOUND, f"the mix took {mb:.0f} MB"
        with wave.open(str(d / "performance.wav")) as w:
            assert w.getframerate() == 48000 and w.getnframes() == int(round(MINUTES * 60.0 * 48000))
    finally:
        for wav in d.glob("*.wav"):
            wav.unlink()
