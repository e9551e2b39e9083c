"""performance.wav: the tone and the backing as the player heard them, and the microphone, one mono file.

Every track is placed by one rule: sample k sounds at start + k / (rate * (1 + ppm / 1e6)) on the session clock.
The microphone's recording.wav: the recorder's timeline (t_first_sample, rate_ppm) less the speaker-to-microphone
delay (SessionData.recording: calibrate-audio or --mic-delay), so what the microphone heard of a sound played at t
lands at t, on top of it, and not as an echo. The tone's and the backing's WAVs: their first sample's time
(wav_t_start in their stats) and wav_rate_ppm where their stats have it (their DAC clock against the session's);
without it, the nominal rate. A track whose rate on the session clock is not the mix's (a clock hundreds of ppm
off, or a file at another rate) is resampled by that ratio (audio/resample.py, band-limited), unless the difference
adds up to less than DRIFT_S over the whole track.

Why the output WAVs' clocks matter: the tone and the backing are written block after block at the device's pace, so
they run on its clock too. On the null sink synth.wav placed at the nominal rate was 10-12 ms late against its own
DAC times (synth.csv) 18 s into a session (~620 ppm); without wav_rate_ppm the recording, now on the session clock,
drifts against them by that much in performance.wav (before the recorder's fit both ran at the nominal rate, which
kept them together where microphone and speaker share a clock, and apart where they do not). All are summed and
scaled so the loudest peak sits at -1 dBFS: never clipped, and a quiet take is still audible. A pause is in it as it
was heard (it stays on the session clock).

Memory: the tracks are read (audio/wavstream.py) and resampled (audio/resample.Resampled) CHUNK samples at a time,
the sum goes to an unnamed temporary file beside the output while its peak is found, then is read back, scaled and
written (~45 MB at most, at any length; held whole, a 10-minute session's tracks took ~900 MB). The temporary file
takes 4 bytes a sample on disk, twice performance.wav (230 MB for 20 minutes at 48 kHz), until the mix is written.
The samples are the ones a sum of the whole arrays makes, bit for bit: the tracks are added in the same order, and
the resampler makes each output in the same block whoever asks (its blocks moved a resampled track's floats by an ulp here and there
against the one product per phase it made before: within 1 LSB of the old file).
"""
from __future__ import annotations

import math
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from audio.resample import Resampled
from audio.sampleclock import MAX_PPM
from reports.sessiondata import SessionData

PEAK = 10 ** (-1 / 20)  # -1 dBFS
DRIFT_S = 0.0001        # a clock this close to the mix's over the whole track is not resampled (0.1 ms)
CHUNK = 1 << 20         # samples of the mix made at a time (22 s at 48 kHz): memory stays a few of these at any length
SOURCES = (("synth.wav", "stats-synth.json", "the tone", "synth"),
           ("backing.wav", "stats-music.json", "the backing", "music"))


def mix(data: SessionData, out: Path) -> Path | None:
    """Write the mix to out; None (with a warning) when neither WAV is there."""
    tracks = []
    # the processes that ran, where session.json lists them (python main.py analyze plays no backing); a mix needs
    # no session.json: without one, no warning
    ran = data.json("session.json").get("children") if (data.dir / "session.json").exists() else None
    for wav_name, stats_name, what, process in SOURCES:
        if isinstance(ran, dict) and ran and process not in ran:
            continue
        got = data.wav_stream(wav_name, f"{what} is not in performance.wav")
        if got is None or got.frames == 0:
            continue
        stats = data.json(stats_name)
        t_start = stats.get("wav_t_start")
        if not isinstance(t_start, (int, float)) or not math.isfinite(t_start):
            data.warn(f"the {process} process stopped without saving its timing: {wav_name} placed at session time "
                      f"0, so {what} may be out of step in performance.wav ({stats_name} has no wav_t_start)")
            t_start = 0.0
        ppm = stats.get("wav_rate_ppm")
        ppm = float(ppm) if isinstance(ppm, (int, float)) and math.isfinite(ppm) and abs(ppm) < MAX_PPM else 0.0
        tracks.append((got, got.rate, float(t_start), got.rate * (1.0 + ppm / 1e6), wav_name))
    if not tracks:
        data.warn("no synth.wav or backing.wav: performance.wav not written")
        return None
    start = min(t for _, _, t, _, _ in tracks)  # the file starts with what was played (the count-in included)
    recording = data.recording_stream()
    if recording is not None and recording.samples.frames:   # the room alone is no performance: only with the tone
        tracks.append((recording.samples, recording.rate, recording.start, recording.samples_per_s, "recording.wav"))
    rate = max(r for _, r, _, _, _ in tracks)
    placed = []
    for stream, _, t, per_s, name in tracks:
        n, read = stream.frames, stream.mono
        if abs(n / per_s - n / rate) >= DRIFT_S:
            resampled = Resampled(stream.mono, n, per_s, rate)
            n, read = resampled.size, resampled.read
        offset = int(round((t - start) * rate))
        skip = 0
        if offset < 0:                       # the microphone ran before the first sound played
            skip, offset = min(-offset, n), 0
        placed.append(_Placed(offset, skip, n - skip, read, name))
    # a track placed later than any track lasts has a wrong start time in its stats: leave it out, rather than write
    # silence until it (an absurd start would fill the disk before the file could be written)
    longest = max(p.size for p in placed)
    for p in [p for p in placed if p.offset > longest]:
        data.warn(f"{p.name} would start {p.offset / rate:,.0f} s into performance.wav, after every track has ended "
                  "(its start time in the session's stats is wrong): left out of the mix")
        placed.remove(p)
    length = max(p.offset + p.size for p in placed)
    # two passes a chunk at a time: the sum (kept in an unnamed file beside out) and its peak, then the sum scaled
    with tempfile.TemporaryFile(dir=Path(out).parent) as summed:
        peak = np.float32(0.0)
        for a in range(0, length, CHUNK):
            total = _sum(placed, a, min(a + CHUNK, length))
            peak = np.maximum(peak, np.abs(total).max())     # a NaN stays a NaN, as in one max over the whole
            summed.write(total.tobytes())
        peak = float(peak)
        summed.seek(0)
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            for a in range(0, length, CHUNK):
                total = np.frombuffer(summed.read(4 * (min(a + CHUNK, length) - a)), np.float32).copy()
                if peak > 0:
                    total *= PEAK / peak
                pcm = np.clip(np.round(total * 32767.0), -32767, 32767).astype("<i2")
                w.writeframes(pcm.tobytes())
    return Path(out)


class _Placed(NamedTuple):
    """A track on the mix's timeline: its samples skip.. (read(i, j), float32) from sample offset on."""
    offset: int
    skip: int
    size: int
    read: Callable[[int, int], np.ndarray]
    name: str


def _sum(placed: list[_Placed], a: int, b: int) -> np.ndarray:
    """Samples a..b-1 of the mix before scaling: the tracks added in order into float32 zeros, as one sum of the
    whole would add them, so each sample is the same float."""
    total = np.zeros(b - a, dtype=np.float32)
    for p in placed:
        i, j = max(a, p.offset), min(b, p.offset + p.size)
        if i < j:
            total[i - a:j - a] += p.read(i - p.offset + p.skip, j - p.offset + p.skip)
    return total
