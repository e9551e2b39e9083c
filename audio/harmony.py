"""Chords for a song that brings none: the key from its notes, then one of I, IV, V, vi per bar (or half bar).

Why this rule: folk and pop melodies (the bundled songs, most UltraStar songs) are harmonised almost entirely by the
three major chords of their key and the relative minor; a guessed chord that holds the melody's own notes never
clashes with it, and the bass then plays its root, which is what makes a backing sound like a band.

1. Key: the notes' pitch classes weighted by duration, correlated with the Krumhansl-Kessler major and minor key
   profiles in all 12 transpositions (the tonic of the last note gets a small bonus: songs end at home). A minor key
   is harmonised with the chords of its relative major (A minor: C, F, G, Am), and its home chord is vi.
2. Bars: 4 beats of the song's bpm (game/song.py scales it with --tempo, as the notes), the beat doubled or halved
   into 0.35..1.0 s (a bpm counted in eighths still gives sensible bars), starting at the first note. A bar that
   starts on a pickup note is off by that note, not wrong: each bar's chord is chosen for the notes in it.
3. Chord per bar: each candidate scores the bar's notes weighted by how long they sound in it (x1.5 for notes that
   start on the bar's first or third beat): +1 when the note is a chord tone, -0.4 when it is not. The home chord
   gets +5% of the bar's weight, the first and last bars +50% (start and end at home). Ties go I, IV, V, vi (the
   primary chords first: a lone A in C is harmonised F, not Am). A bar whose two halves want different chords (together 25% better than one chord) is split.
   A bar without notes keeps the chord before it.

Notes from other parts (a MIDI's other tracks) count too, at 0.7 of a melody note's weight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
DEGREES = (("I", 0, "maj"), ("IV", 5, "maj"), ("V", 7, "maj"), ("vi", 9, "min"))   # in tie-break order
TRIAD = {"maj": (0, 4, 7), "min": (0, 3, 7)}
OTHER_PART_WEIGHT = 0.7
STRONG_BEAT_WEIGHT = 1.5
SPLIT_GAIN = 1.25


@dataclass(frozen=True)
class Key:
    tonic: int          # pitch class of the major tonic whose I/IV/V/vi harmonise the song (0 = C)
    minor: bool         # the song sounds minor: its home chord is vi

    @property
    def home(self) -> str:
        return "vi" if self.minor else "I"


@dataclass(frozen=True)
class Chord:
    start: float
    end: float
    degree: str         # I, IV, V or vi
    root: int           # pitch class
    quality: str        # maj | min

    @property
    def tones(self) -> tuple[int, int, int]:
        return tuple((self.root + i) % 12 for i in TRIAD[self.quality])


def _weighted(song) -> list[tuple[float, float, int, float]]:
    """(start, end, midi, weight) of the melody and the other parts' notes."""
    notes = [(n.start, n.end, n.midi, 1.0) for n in song.notes if n.duration > 0]
    notes += [(n.start, n.end, n.midi, OTHER_PART_WEIGHT) for n in getattr(song, "accompaniment", ()) or ()
              if n.duration > 0]
    return notes


def estimate_key(song) -> Key:
    """The key the song's notes fit best (rule 1)."""
    hist = np.zeros(12)
    for a, b, midi, w in _weighted(song):
        hist[midi % 12] += (b - a) * w
    if not hist.any():
        return Key(0, False)
    last = max(song.notes, key=lambda n: n.end).midi % 12 if song.notes else None
    best = None
    for minor, profile in ((False, MAJOR_PROFILE), (True, MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1]) if hist.std() > 0 else 0.0
            if last == tonic:
                r += 0.05
            if best is None or r > best[0] + 1e-9:
                best = (r, tonic, minor)
    _, tonic, minor = best
    return Key((tonic + 3) % 12 if minor else tonic, minor)


def beat_s(song) -> float:
    """The beat (rule 2): the song's bpm (quarter notes per minute, at the session's tempo), folded into 0.35..1.0 s."""
    b = 60.0 / song.bpm if song.bpm and song.bpm > 0 else 0.6
    while b < 0.35:
        b *= 2.0
    while b > 1.0:
        b /= 2.0
    return b


def chords(song, until: float | None = None) -> list[Chord]:
    """The chord plan (rule 3) from the first note to ``until`` (default: the last note's end)."""
    notes = _weighted(song)
    if not song.notes:
        return []
    key = estimate_key(song)
    beat = beat_s(song)
    bar = 4.0 * beat
    first = min(n.start for n in song.notes)
    last = max(n.end for n in song.notes)
    end = last if until is None else max(until, last)
    n_bars = max(1, int(math.ceil((last - first) / bar - 1e-6)))
    plan: list[Chord] = []
    for i in range(n_bars):
        a, b = first + i * bar, first + (i + 1) * bar
        edge = i == 0 or i == n_bars - 1
        whole = _best(notes, a, b, beat, key, edge)
        mid = (a + b) / 2.0
        left, right = _best(notes, a, mid, beat, key, i == 0), _best(notes, mid, b, beat, key, i == n_bars - 1)
        if (left and right and left[1] != right[1] and whole
                and left[0] + right[0] > SPLIT_GAIN * max(whole[0], 1e-9)):
            parts = [(a, mid, left[1]), (mid, b, right[1])]
        elif whole:
            parts = [(a, b, whole[1])]
        else:
            parts = [(a, b, plan[-1].degree if plan else key.home)]
        for pa, pb, degree in parts:
            if plan and plan[-1].degree == degree and abs(plan[-1].end - pa) < 1e-9:
                plan[-1] = _chord(plan[-1].start, pb, degree, key)
            else:
                plan.append(_chord(pa, pb, degree, key))
    if plan and end > plan[-1].end:
        plan[-1] = _chord(plan[-1].start, end, plan[-1].degree, key)
    elif plan:
        plan[-1] = _chord(plan[-1].start, max(plan[-1].start + 1e-3, min(plan[-1].end, end)), plan[-1].degree, key)
    return plan


def _chord(a: float, b: float, degree: str, key: Key) -> Chord:
    _, offset, quality = next(d for d in DEGREES if d[0] == degree)
    return Chord(a, b, degree, (key.tonic + offset) % 12, quality)


def _best(notes, a: float, b: float, beat: float, key: Key, edge: bool) -> tuple[float, str] | None:
    """(score, degree) of the best chord for the notes sounding in [a, b); None when none sound there."""
    sounding = []
    for s, e, midi, w in notes:
        overlap = min(e, b) - max(s, a)
        if overlap <= 1e-6:
            continue
        pos = (s - a) / beat
        strong = s >= a - 1e-6 and (abs(pos) < 0.25 or abs(pos - 2.0) < 0.25)
        sounding.append((midi % 12, overlap * w * (STRONG_BEAT_WEIGHT if strong else 1.0)))
    if not sounding:
        return None
    total = sum(w for _, w in sounding)
    best = None
    for degree, offset, quality in DEGREES:
        root = (key.tonic + offset) % 12
        tones = {(root + i) % 12 for i in TRIAD[quality]}
        score = sum(w * (1.0 if pc in tones else -0.4) for pc, w in sounding)
        if degree == key.home:
            score += (0.5 if edge else 0.05) * total
        if best is None or score > best[0] + 1e-9:
            best = (score, degree)
    return best
