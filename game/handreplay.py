"""Hand states of a recorded video, played through the session's own synth voice offline: synth.csv, synth.wav and
stats-synth.json as a live session leaves them, so the reports score an analysed video as they score a session.

Why the live voice (audio/synth.Voice) and not the pitch map alone: the score is judged on what the synth sounded,
after snapping, glide, attack and release (a hand that appears needs its attack, a pitch jump its glide); only the
voice itself gets that the same. Blocks are rendered back to back from session time 0 (block / sample_rate apart,
as a speaker plays them); each block hears the last frame captured at or before its time, so this is a session with
no motion-to-sound latency. Paused spans of a recorded session silence the voice as the live pause did.
"""
from __future__ import annotations

import math

import numpy as np

from game.handstate import HAND, HAND_FIELDS
from game.pause import PAUSED, PLAYING, RESUMING, resume_after_s

BATCH = 2048   # blocks logged at a time


class FrameFeed:
    """Stands in for the hand-state record the voice reads (read_into, sequence): the frame due at a given time."""

    def __init__(self, times: np.ndarray, hands: np.ndarray, columns: tuple[str, ...]):
        self.times = np.asarray(times, np.float64)
        self.values = np.zeros((len(self.times), len(HAND_FIELDS)), np.float64)
        self.values[:, HAND["frame_index"]] = np.arange(len(self.times))
        self.values[:, HAND["t_capture"]] = self.times
        self.values[:, HAND["t_published"]] = self.times
        for i, name in enumerate(columns):
            self.values[:, HAND[name]] = hands[:, i]
        self.current = -1

    def at(self, t: float) -> None:
        """Make the frame captured last at or before t the one read (none before the first frame)."""
        self.current = int(np.searchsorted(self.times, t, side="right")) - 1

    def sequence(self) -> int:
        return 0 if self.current < 0 else self.current + 1

    def read_into(self, out: np.ndarray) -> None:
        if self.current >= 0:
            out[:] = self.values[self.current]


class SpanClock:
    """game/pause.SongClock's answers (refresh, state) from a finished session's pauses (session seconds)."""

    def __init__(self, spans, resume_after: float):
        self.spans = [(float(s), float(e)) for s, e in spans]
        self.resume_after = resume_after

    def refresh(self) -> None:
        pass

    def state(self, t: float) -> int:
        for s, e in self.spans:
            if s <= t < e:
                return PAUSED if t < e - self.resume_after else RESUMING
        return PLAYING


def replay(folder, settings, song, times: np.ndarray, hands: np.ndarray, columns: tuple[str, ...], t_end: float,
           pauses=()) -> dict:
    """Render the voice from session time 0 to t_end over the frames (times: session s; hands: columns), writing
    synth.csv and synth.wav into folder; returns the stats-synth.json figures."""
    from audio.synth import SynthLog, Voice
    from audio.wavfile import WavWriter
    from game.pitchmap import PitchMap
    feed = FrameFeed(times, hands, columns)
    clock = SpanClock(pauses, resume_after_s(settings)) if pauses else None
    voice = Voice(settings, PitchMap.for_song(song, settings), hand=feed, voice=None, clock=clock, song=song)
    block_s = settings.block / settings.sample_rate
    blocks = max(0, math.ceil(t_end / block_s))
    log = SynthLog(folder / "synth.csv")
    rows = np.zeros((min(BATCH, max(blocks, 1)), voice.row.size), np.float64)
    n = 0
    try:
        with WavWriter(folder / "synth.wav", settings.sample_rate, 1) as wav:
            for k in range(blocks):
                t = k * block_s
                feed.at(t)
                wav.write(voice.render(t))
                rows[n] = voice.row
                n += 1
                if n == len(rows):
                    log(rows[:n])
                    n = 0
            if n:
                log(rows[:n])
    finally:
        log.csv.close()
    return {"mode": "offline (python main.py analyze: no speaker, no latency)", "block": settings.block,
            "sample_rate": settings.sample_rate, "blocks": blocks, "underflows_flag": 0, "underflows_clock": 0,
            "wav_t_start": 0.0, "wav_rate_ppm": None}
