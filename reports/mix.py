"""performance.wav: the tone and the backing as the player heard them, and the microphone, one mono file.

The tone's and the backing's WAVs are placed on the session clock by their first sample's time (wav_t_start in
their stats); the microphone's recording.wav by the recorder's t_first_sample less the speaker-to-microphone delay
(SessionData.recording: calibrate-audio or --mic-delay), so what the microphone heard of a sound played at t lands
at t, on top of it, and not as an echo. All are summed and scaled so the loudest peak sits at -1 dBFS: never
clipped, and a quiet take is still audible. A pause is in it as it was heard (it stays on the session clock).
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from reports.sessiondata import SessionData

PEAK = 10 ** (-1 / 20)  # -1 dBFS
SOURCES = (("synth.wav", "stats-synth.json", "the tone", "synth"),
           ("backing.wav", "stats-music.json", "the backing", "music"))


def mix(data: SessionData, out: Path) -> Path | None:
    """Write the mix to out; None (with a warning) when neither WAV is there."""
    tracks = []
    for wav_name, stats_name, what, process in SOURCES:
        got = data.wav(wav_name, f"{what} is not in performance.wav")
        if got is None or len(got[0]) == 0:
            continue
        t_start = data.json(stats_name).get("wav_t_start")
        if not isinstance(t_start, (int, float)):
            data.warn(f"the {process} process stopped without saving its timing: {wav_name} placed at session time "
                      f"0, so {what} may be out of step in performance.wav ({stats_name} has no wav_t_start)")
            t_start = 0.0
        tracks.append((got[0], got[1], float(t_start)))
    if not tracks:
        data.warn("no synth.wav or backing.wav: performance.wav not written")
        return None
    start = min(t for _, _, t in tracks)     # the file starts with what was played (the count-in included)
    recording = data.recording()
    if recording is not None and len(recording[0]):
        tracks.append(recording[:3])         # the room alone is no performance: only with the tone or backing
    rate = max(r for _, r, _ in tracks)
    placed = []
    for x, r, t in tracks:
        if r != rate:  # linear resampling is plenty for a listening copy
            x = np.interp(np.arange(int(len(x) * rate / r)) * (r / rate), np.arange(len(x)), x).astype(np.float32)
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
