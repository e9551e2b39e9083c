"""The song's backing: a quiet guide melody and a bass, rendered whole before ready, played on the session clock.

Why render first: the callback then only copies the slice for its block's DAC time (position = t_dac * rate), so the
backing stays on the session clock and corrects itself after any stall. Blocks play back to back while the DAC time
agrees within a quarter block (its jitter is a sample or two), so the jitter does not cut the waveform. Guide: a soft triangle at the melody's
pitch, quieter than the synth; bass: a sine (with a little 2nd partial) two octaves below each note.

Pauses (game/pause.py): the track position follows song time, not session time. The first block of a pause fades
what was playing out over one block and the backing is silent until the song plays on (also through the resume
count-in); the first block after fades in from where the song was held (re-synced to song time, within a block).

Files: backing.wav (what was played, from the first block at or after go, on the session clock: a pause is silence
in it), music.csv (t_dac, song_t, level: one row per ~50 ms; song_t holds still during a pause), stats-music.json.
"""
from __future__ import annotations

import math

import numpy as np

from game.logfiles import MUSIC_COLUMNS
from game.pause import PLAYING

GUIDE_GAIN = 0.22
BASS_GAIN = 0.30
BASS_OFFSET = -24
ROW = CSV_HEADER = MUSIC_COLUMNS
CSV_EVERY_S = 0.05


def _envelope(n: int, rate: float, attack: float, release: float, decay_to: float = 1.0) -> np.ndarray:
    """Attack to 1, an exponential settle to ``decay_to``, and a release to 0 at the end (no clicks)."""
    t = np.arange(n) / rate
    env = np.minimum(1.0, t / attack)
    env *= decay_to + (1.0 - decay_to) * np.exp(-t / 0.15)
    rel = int(min(n, release * rate))
    if rel:
        env[n - rel:] *= np.linspace(1.0, 0.0, rel)
    return env


def render_song(song, settings, extra_s: float | None = None) -> np.ndarray:
    """The whole backing as float32 at settings.sample_rate, sample 0 = session time 0."""
    rate = float(settings.sample_rate)
    tail = settings.tail if extra_s is None else extra_s
    track = np.zeros(int((song.duration + tail) * rate) + 1, np.float64)
    for note in song.notes:
        a = int(round(note.start * rate))
        n = max(1, int(round(note.duration * rate)))
        t = np.arange(n) / rate
        midi = note.midi + settings.transpose
        f = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
        guide = (2.0 / math.pi) * np.arcsin(np.sin(2 * math.pi * f * t))  # triangle
        guide *= GUIDE_GAIN * _envelope(n, rate, 0.012, 0.04, 0.6)
        fb = f * 2.0 ** (BASS_OFFSET / 12.0)
        bass = np.sin(2 * math.pi * fb * t) + 0.3 * np.sin(4 * math.pi * fb * t)
        bass *= BASS_GAIN / 1.3 * _envelope(n, rate, 0.015, 0.06, 0.8)
        end = min(len(track), a + n)
        track[a:end] += (guide + bass)[: end - a]
    peak = float(np.max(np.abs(track))) if track.size else 0.0
    if peak > 0.95:
        track *= 0.95 / peak
    return (track * float(settings.music_volume)).astype(np.float32)


class Backing:
    """Copies the block of the pre-rendered track that belongs to the song time of the block's DAC time.

    clock: a game.pause.SongClock (None: the song never pauses)."""

    def __init__(self, settings, track: np.ndarray | None, clock=None):
        self.clock = clock
        self.n = int(settings.block)
        self.rate = float(settings.sample_rate)
        self.track = track if track is not None and track.size else None
        self.out = np.zeros(self.n, np.float32)
        self.row = np.zeros(len(ROW), np.float64)
        self.pos = None                       # track position of the next block when played back to back
        self.slack = max(1, self.n // 4)      # DAC-time jitter tolerated before re-syncing to the clock
        self.resyncs = 0
        self.sounding = True                  # False while paused (the next block that plays fades in)
        self._fade_out = np.linspace(1.0, 0.0, self.n, dtype=np.float32)
        self._fade_in = self._fade_out[::-1].copy()

    def render(self, t_dac: float, underflow: bool = False) -> np.ndarray:
        out, n = self.out, self.n
        song_t, playing = t_dac, True
        clock = self.clock
        if clock is not None:
            clock.refresh()
            song_t = clock.song_time(t_dac)
            playing = clock.state(t_dac) == PLAYING
        r = self.row
        if not playing:
            level = 0.0
            if self.sounding and self.pos is not None:   # the pause's first block: fade out what was playing
                self._copy(self.pos)
                np.multiply(out, self._fade_out, out=out)
                level = math.sqrt(float(np.dot(out, out)) / n)
            else:
                out.fill(0.0)
            self.sounding = False
            self.pos = None                   # playing on re-syncs to song time (not counted as a resync)
            r[0], r[1], r[2] = t_dac, song_t, level
            return out
        pos = int(round(song_t * self.rate))
        if self.pos is not None:
            if abs(pos - self.pos) <= self.slack:
                pos = self.pos                # contiguous: DAC times jitter by a sample or two per block
            else:
                self.resyncs += 1             # a stall or a jump: follow the session clock
        self.pos = pos + n
        self._copy(pos)
        if not self.sounding:                 # the first block after a pause fades in
            np.multiply(out, self._fade_in, out=out)
            self.sounding = True
        level = math.sqrt(float(np.dot(out, out)) / n)
        r[0], r[1], r[2] = t_dac, pos / self.rate, level
        return out

    def _copy(self, pos: int) -> None:
        """The track's samples pos .. pos + block into the output buffer (silence outside the track)."""
        out, n, track = self.out, self.n, self.track
        if track is None or pos + n <= 0 or pos >= track.shape[0]:
            out.fill(0.0)
            return
        a = pos if pos > 0 else 0
        b = pos + n if pos + n < track.shape[0] else track.shape[0]
        if a > pos or b < pos + n:
            out.fill(0.0)
        out[a - pos:b - pos] = track[a:b]


class MusicLog:
    """music.csv: one row per ~50 ms (the block's level)."""

    def __init__(self, path):
        from game.sessionlog import CsvLog
        self.csv = CsvLog(path, CSV_HEADER)
        self.next_t = -math.inf

    def __call__(self, rows: np.ndarray) -> None:
        for t_dac, song_t, level in rows.tolist():
            if t_dac >= self.next_t:
                self.csv.write((f"{t_dac:.6f}", f"{song_t:.6f}", f"{level:.6f}"))
                self.next_t = t_dac + CSV_EVERY_S - 1e-6
        self.csv.flush()


def run(ctx) -> None:
    from audio.output import OutputRunner, play_until_stopped
    from game.pause import SongClock
    s = ctx.settings
    track = render_song(ctx.song(), s) if s.music_volume > 0 else None
    log = MusicLog(ctx.session_dir / "music.csv")
    clock = SongClock.attach(ctx.link.shm, s)
    backing = Backing(s, track, clock)
    runner = OutputRunner(ctx, backing, ctx.session_dir / "backing.wav", log, None)
    rendered_s = 0.0 if track is None else round(track.size / s.sample_rate, 3)
    try:
        play_until_stopped(ctx, runner, log,
                           lambda: {"volume": s.music_volume, "resyncs": backing.resyncs, "rendered_s": rendered_s})
    finally:
        backing.clock = None
        clock.close()
