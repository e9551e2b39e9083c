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
kept them together where microphone and speaker share a clock, and apart where they do not). All are summed and scaled so the loudest peak sits at -1 dBFS: never
clipped, and a quiet take is still audible. A pause is in it as it was heard (it stays on the session clock).
"""
from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

from audio.resample import resample
from audio.sampleclock import MAX_PPM
from reports.sessiondata import SessionData

PEAK = 10 ** (-1 / 20)  # -1 dBFS
DRIFT_S = 0.0001        # a clock this close to the mix's over the whole track is not resampled (0.1 ms)
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
        got = data.wav(wav_name, f"{what} is not in performance.wav")
        if got is None or len(got[0]) == 0:
            continue
        stats = data.json(stats_name)
        t_start = stats.get("wav_t_start")
        if not isinstance(t_start, (int, float)):
            data.warn(f"the {process} process stopped without saving its timing: {wav_name} placed at session time "
                      f"0, so {what} may be out of step in performance.wav ({stats_name} has no wav_t_start)")
            t_start = 0.0
        ppm = stats.get("wav_rate_ppm")
        ppm = float(ppm) if isinstance(ppm, (int, float)) and math.isfinite(ppm) and abs(ppm) < MAX_PPM else 0.0
        tracks.append((got[0], got[1], float(t_start), got[1] * (1.0 + ppm / 1e6)))
    if not tracks:
        data.warn("no synth.wav or backing.wav: performance.wav not written")
        return None
    start = min(t for _, _, t, _ in tracks)  # the file starts with what was played (the count-in included)
    recording = data.recording()
    if recording is not None and len(recording.samples):   # the room alone is no performance: only with the tone
        tracks.append((recording.samples, recording.rate, recording.start, recording.samples_per_s))
    rate = max(r for _, r, _, _ in tracks)
    placed = []
    for x, _, t, per_s in tracks:
        if abs(len(x) / per_s - len(x) / rate) >= DRIFT_S:
            x = resample(x, per_s, rate)
        offset = int(round((t - start) * rate))
        if offset < 0:                       # the microphone ran before the first sound played
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
    return Path(out)
