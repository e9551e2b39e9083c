"""The note lane's arithmetic, kept apart from drawing so it can be tested exactly: where a note's bar goes, where a
pitch and a moment sit, and which parts of which notes the player hit.

The lane scrolls like the singing games' (UltraStar, Rock Band vocals): time runs right to left past a fixed "now"
line, a few seconds ahead are visible, pitch goes up. Its pitch axis is the synth's own range (game/pitchmap.py: the
song's notes with transpose, widened by the pitch margin), so everything the hand can play has a place on it.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from game.pitchmap import PitchMap

AUDIBLE = 0.05          # voice amplitude above which the voice counts as playing
NOW_AT = 0.22           # the now line, as a fraction of the lane's width from its left edge
AHEAD_S = 3.2           # seconds of song visible right of the now line
PAD_FRACTION = 0.07     # empty share of the lane's height above the highest and below the lowest pitch


def is_hit(target_midi: float | None, voice_midi: float, amplitude: float, tolerance: float) -> bool:
    """The singing games' rule: the voice is audible and within ``tolerance`` semitones of the target."""
    return target_midi is not None and amplitude > AUDIBLE and abs(voice_midi - target_midi) <= tolerance


@dataclass(frozen=True)
class LaneGeometry:
    """A lane occupying the rectangle (x0, y0, width, height) of the picture."""
    x0: int
    y0: int
    width: int
    height: int
    low_midi: float                  # pitch at the bottom of the axis
    high_midi: float                 # pitch at the top
    ahead_s: float = AHEAD_S
    now_at: float = NOW_AT

    @classmethod
    def for_song(cls, song, settings, x0: int, y0: int, width: int, height: int) -> "LaneGeometry":
        pitch = PitchMap.for_song(song, settings)
        return cls(x0, y0, width, height, pitch.low_midi, pitch.high_midi)

    @property
    def now_x(self) -> int:
        return self.x0 + int(round(self.width * self.now_at))

    @property
    def px_per_s(self) -> float:
        return (self.x0 + self.width - self.now_x) / self.ahead_s

    @property
    def behind_s(self) -> float:
        """Seconds of the past still visible left of the now line."""
        return (self.now_x - self.x0) / self.px_per_s

    @property
    def px_per_semitone(self) -> float:
        return self.height * (1.0 - 2.0 * PAD_FRACTION) / max(1e-9, self.high_midi - self.low_midi)

    @property
    def bar_px(self) -> int:
        """Thickness of a note bar: one semitone, kept between readable and not swallowing its neighbours."""
        return int(min(max(round(self.px_per_semitone), round(self.height * 0.065)), round(self.height * 0.11)))

    def x_of(self, t: float, now: float) -> float:
        """Picture x of session time t while the now line shows time ``now``."""
        return self.now_x + (t - now) * self.px_per_s

    def y_of(self, midi: float) -> float:
        """Picture y of a pitch, clamped to the axis (a pitch outside it sits at the edge it passed)."""
        midi = min(max(midi, self.low_midi), self.high_midi)
        return self.y0 + self.height * PAD_FRACTION + (self.high_midi - midi) * self.px_per_semitone

    def ys_of(self, midis: np.ndarray) -> np.ndarray:
        """y_of for an array of pitches."""
        midis = np.clip(midis, self.low_midi, self.high_midi)
        return self.y0 + self.height * PAD_FRACTION + (self.high_midi - midis) * self.px_per_semitone

    def bar(self, start: float, end: float, midi: float, now: float) -> tuple[int, int, int, int]:
        """The bar of a note (start..end seconds, pitch) as an inclusive pixel rectangle (x0, y0, x1, y1), unclipped."""
        yc = self.y_of(midi)
        half = self.bar_px / 2.0
        return (int(round(self.x_of(start, now))), int(round(yc - half)),
                int(round(self.x_of(end, now))) - 1, int(round(yc + half)) - 1)


class NoteTimes:
    """The song's target notes as sorted arrays, for finding the visible ones fast every frame."""

    def __init__(self, song, transpose: int = 0):
        self.notes = sorted(song.notes, key=lambda n: n.start)
        self.index_of = {n: i for i, n in enumerate(self.notes)}
        self.starts = [n.start for n in self.notes]
        self.ends = np.array([n.end for n in self.notes])
        self.running_end = np.maximum.accumulate(self.ends) if len(self.ends) else self.ends
        self.midi = [n.midi + transpose for n in self.notes]

    def visible(self, t0: float, t1: float) -> range:
        """Indices of the notes that overlap t0..t1 (notes are sorted by start)."""
        first = int(np.searchsorted(self.running_end, t0, side="right"))
        last = bisect.bisect_left(self.starts, t1)
        return range(first, max(first, last))

    def index_at(self, t: float) -> int | None:
        """The index of the note sounding at t, if any."""
        i = bisect.bisect_right(self.starts, t) - 1
        while i >= 0 and self.running_end[i] > t:
            if self.notes[i].start <= t < self.notes[i].end:
                return i
            i -= 1
        return None


class HitTrack:
    """Which stretches of each target note the player hit, as (start, end) seconds runs, for lighting them up.

    The scene judges the time between frames (vision/scene.py, Scene.judge, the rule its running score uses);
    contiguous hit stretches of a note grow one run.
    """

    def __init__(self, notes: NoteTimes):
        self.notes = notes
        self.runs: list[list[list[float]]] = [[] for _ in notes.notes]

    def update(self, t_prev: float, t: float, index: int | None, hit: bool) -> None:
        if index is None or not hit or t <= t_prev:
            return
        note = self.notes.notes[index]
        a, b = max(t_prev, note.start), min(t, note.end)
        if b <= a:
            return
        runs = self.runs[index]
        if runs and a - runs[-1][1] <= 1e-6:
            runs[-1][1] = b
        else:
            runs.append([a, b])

    def hit_seconds(self, index: int) -> float:
        return sum(b - a for a, b in self.runs[index])


class PitchTrail:
    """The voice's recent pitch, (t, midi, audible) in a ring, drawn as a trace left of the now line."""

    def __init__(self, size: int = 256):
        self.t = np.full(size, -np.inf)
        self.midi = np.zeros(size)
        self.audible = np.zeros(size, bool)
        self.next = 0

    def add(self, t: float, midi: float, audible: bool) -> None:
        i = self.next % len(self.t)
        self.t[i], self.midi[i], self.audible[i] = t, midi, audible
        self.next += 1

    def between(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The samples from t0 to t1, oldest first."""
        n = len(self.t)
        order = (np.arange(self.next, self.next + n) % n) if self.next >= n else np.arange(self.next)
        keep = order[(self.t[order] >= t0) & (self.t[order] <= t1)]
        return self.t[keep], self.midi[keep], self.audible[keep]
