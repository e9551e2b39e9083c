"""A song's own recording as the session's backing track: decoded, mono, at the session's rate, tempo and key.

Why all of it before ready: the music callback only copies slices of a finished track (audio/music.py), so the
file is decoded (soundfile: WAV, OGG, FLAC, MP3), mixed to mono, stretched and shifted for --tempo/--transpose
(audio/stretch.py), resampled to settings.sample_rate (audio/resample.py) and scaled by settings.music_volume while
the child gets ready (it has settings.ready_timeout). Sample 0 of the track is song time 0, as it is of the file.

Only as much of the file is decoded as the session can play: up to the song's end plus the tail (or --duration),
in the file's own time (times the tempo). The tail fades out, so the recording does not stop mid-bar.

Any failure is a BackingFileError with a one-line reason (the caller then renders a backing from the notes).
Measured here (2 cores, otherwise idle; two runs), a 3-minute 44.1 kHz stereo OGG Vorbis: decoding 0.33-0.39 s;
decoded, mixed and resampled to 48 kHz 0.42-0.49 s; with --tempo 1.25 1.4-2.3 s, --transpose 2 1.9-2.1 s,
--tempo 0.8 --transpose -3 1.5 s (python -m audio.backingbench prints these). A budget (FILE_BUDGET of ready_timeout in audio/music.py) stops a
stretch that would not be ready in time.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from audio.resample import resample
from audio.stretch import StretchTimeout, stretch

MARGIN_S = 0.5           # decoded beyond the session's end (the resampler and vocoder need a little context)
HEADROOM = 0.99          # a stretched or resampled file can overshoot 1.0 slightly: scale its peak down to this


class BackingFileError(RuntimeError):
    """The song's audio file cannot be used; the message says which file and why, in one line."""


def play_until_s(song, settings) -> float:
    """Song seconds the session can play: to the last note plus the tail, or --duration if that is sooner."""
    end = song.duration + float(settings.tail)
    if settings.duration is not None:
        end = min(end, float(settings.duration))
    return max(end, 0.0)


def decode(path: str, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) of an audio file; at most max_seconds of it."""
    import soundfile
    p = Path(path)
    if not p.is_file():
        raise BackingFileError(f"{path}: no such file")
    try:
        with soundfile.SoundFile(str(p)) as f:
            rate = int(f.samplerate)
            frames = -1 if max_seconds is None else int(math.ceil(max_seconds * rate))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as e:   # soundfile.LibsndfileError is a RuntimeError
        raise BackingFileError(f"{p.name}: cannot decode it ({_short(e)})") from None
    if rate <= 0:
        raise BackingFileError(f"{p.name}: the file gives no sample rate")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0].copy()
    if not np.all(np.isfinite(mono)):
        raise BackingFileError(f"{p.name}: the decoded samples are not numbers (a damaged file)")
    return mono, rate


def _short(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 120 else text[:117] + "..."


def shift(x: np.ndarray, rate_in: float, rate_out: float, tempo: float = 1.0, semitones: float = 0.0,
          deadline: float | None = None) -> np.ndarray:
    """x at rate_in, played ``tempo`` times as fast and ``semitones`` higher, sampled at rate_out.

    Pitch p = 2**(semitones/12): stretch by p / tempo (the vocoder keeps the pitch), then read that p times as fast
    (one resampling that also changes rate_in to rate_out). Duration: len(x) / rate_in / tempo."""
    p = 2.0 ** (float(semitones) / 12.0)
    factor = p / float(tempo)
    if abs(factor - 1.0) > 1e-9:
        x = stretch(x, factor, deadline=deadline)
    return resample(x, rate_in * p, rate_out)


def load_track(song, settings, deadline: float | None = None) -> np.ndarray:
    """The backing track made from song.audio (float32 at settings.sample_rate, volume applied, tail faded).

    ``deadline`` (time.monotonic()): give up (BackingFileError) rather than make the session miss its start."""
    until = play_until_s(song, settings)
    tempo = float(settings.tempo)
    x, rate = decode(song.audio, (until + MARGIN_S) * tempo)
    if x.size == 0:
        raise BackingFileError(f"{Path(song.audio).name}: the file holds no sound")
    try:
        track = shift(x, rate, settings.sample_rate, tempo, settings.transpose, deadline)
    except StretchTimeout as e:
        raise BackingFileError(f"{Path(song.audio).name}: changing its tempo or key would not be ready in time "
                               f"({e})") from None
    out_rate = float(settings.sample_rate)
    track = track[:int(round((until + 0.05) * out_rate))]
    _fade_out(track, int(round(max(0.0, until - settings.tail) * out_rate)), int(round(until * out_rate)))
    peak = float(np.max(np.abs(track))) if track.size else 0.0
    if peak > HEADROOM:
        track *= HEADROOM / peak
    track *= float(settings.music_volume)
    return track.astype(np.float32, copy=False)


def _fade_out(track: np.ndarray, a: int, b: int) -> None:
    """A raised-cosine fade from sample a to b (silence after b)."""
    a, b = max(0, a), max(0, b)
    if a >= track.size:
        return
    n = max(1, min(b, track.size) - a)
    track[a:a + n] *= (0.5 + 0.5 * np.cos(np.pi * np.arange(n) / n)).astype(np.float32)
    track[a + n:] = 0.0

