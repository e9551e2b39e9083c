"""What the rendered backing plays: a guide melody, a bass line and chords, as notes for audio/instruments.py.

- Guide: the song's melody, soft (the player's hand tone is the lead; the guide helps find the notes).
- Chords: the song's other parts (Song.accompaniment, a MIDI file's other tracks) when it has some, played by the
  piano voice as written (notes below BASS_SPLIT by the bass). Otherwise chords chosen by audio/harmony.py (its
  docstring has the rule), voiced as close triads around F3..E4 moving to the nearest inversion, struck at each
  chord change and again at every bar line while a chord lasts.
- Bass: the accompaniment's own low notes when it has any, else the chords' roots in C2..B2, struck every half bar
  (two beats): the root, and the fifth on the second half of a bar-long chord (root-fifth, the way a folk bass
  walks).

Every pitch gets settings.transpose added here (the song is loaded untransposed). Times are song seconds (the
song's notes are already at the session's tempo). Chords and bass ring on into the tail and end before it does.
"""
from __future__ import annotations

from dataclasses import dataclass

from audio import harmony
from audio.instruments import BASS, GUIDE, PIANO, Instrument

BASS_SPLIT = 48          # accompaniment notes below C3 are played by the bass
BASS_LOW = 36            # the derived bass's lowest note (C2)
CHORD_LOW = 53           # close triads start at or above F3 ...
GUIDE_GAIN = 0.16
BASS_GAIN = 0.30
CHORD_GAIN = 0.075       # per chord note
OTHER_GAIN = 0.085       # per accompaniment note
HOLD = 0.94              # a struck note is held for this fraction of the time until the next strike


@dataclass(frozen=True)
class Part:
    name: str
    instrument: Instrument
    gain: float
    notes: tuple[tuple[float, float, float], ...]   # (start s, held s, midi)


def plan_end(song, settings) -> float:
    """Where chords and bass stop: half the tail after the last note (the release then fits in the tail)."""
    return song.duration + 0.5 * float(settings.tail)


def parts(song, settings) -> list[Part]:
    t = float(settings.transpose)
    guide = tuple((n.start, n.duration, n.midi + t) for n in song.notes if n.duration > 0)
    out = [Part("guide", GUIDE, GUIDE_GAIN, guide)]
    other = [n for n in getattr(song, "accompaniment", ()) or () if n.duration > 0]
    if other:
        out.append(Part("accompaniment", PIANO, OTHER_GAIN,
                        tuple((n.start, n.duration, n.midi + t) for n in other if n.midi >= BASS_SPLIT)))
        low = tuple((n.start, n.duration, n.midi + t) for n in other if n.midi < BASS_SPLIT)
        if low:
            out.append(Part("bass", BASS, BASS_GAIN, low))
            return out
        out.append(Part("bass", BASS, BASS_GAIN, bass_line(song, settings)))
        return out
    out.append(Part("chords", PIANO, CHORD_GAIN, chord_notes(song, settings)))
    out.append(Part("bass", BASS, BASS_GAIN, bass_line(song, settings)))
    return out


def _plan(song, settings) -> tuple[list[harmony.Chord], float]:
    return harmony.chords(song, until=plan_end(song, settings)), harmony.beat_s(song)


def _strikes(a: float, b: float, every: float) -> list[tuple[float, float]]:
    """(start, held) strikes from a to b, one per ``every`` seconds (the last one may be shorter)."""
    out, s = [], a
    while s < b - 1e-6:
        e = min(b, s + every)
        if e - s < 0.25 * every and out:        # a sliver at the end: lengthen the previous strike instead
            ps, _ = out[-1]
            out[-1] = (ps, (b - ps) * HOLD)
            break
        out.append((s, (e - s) * HOLD))
        s = e
    return out


def chord_notes(song, settings) -> tuple[tuple[float, float, float], ...]:
    """The derived chords as (start, held, midi): close triads, nearest inversion to the one before."""
    plan, beat = _plan(song, settings)
    notes, prev = [], None
    for c in plan:
        voicing = _voice(c.tones, prev)
        prev = voicing
        for start, held in _strikes(c.start, c.end, 4.0 * beat):
            notes += [(start, held, m + float(settings.transpose)) for m in voicing]
    return tuple(notes)


def _voice(pcs: tuple[int, ...], prev: list[int] | None) -> list[int]:
    options = []
    for low in range(CHORD_LOW - 3, CHORD_LOW + 5):
        options.append(sorted(low + (pc - low) % 12 for pc in pcs))
    if prev is None:
        return sorted(CHORD_LOW + (pc - CHORD_LOW) % 12 for pc in pcs)
    return min(options, key=lambda v: (sum(abs(a - b) for a, b in zip(v, prev)), abs(v[0] - CHORD_LOW)))


def bass_line(song, settings) -> tuple[tuple[float, float, float], ...]:
    """The derived bass as (start, held, midi), transposed: roots in C2..B2 every half bar, fifths on the second
    half of bar-long chords."""
    plan, beat = _plan(song, settings)
    t = int(round(settings.transpose))
    notes = []
    for c in plan:
        root = BASS_LOW + (c.root + t - BASS_LOW) % 12
        fifth = root + 7 if root + 7 < BASS_LOW + 12 else root - 5
        for k, (start, held) in enumerate(_strikes(c.start, c.end, 2.0 * beat)):
            notes.append((start, held, float(fifth if k % 2 == 1 else root)))
    return tuple(notes)
