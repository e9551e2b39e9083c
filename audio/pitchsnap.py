"""Pitch snapping: pull the hand's continuous pitch towards allowed pitches, so a theremin is playable in tune.

Modes (settings.snap): ``off``; ``scale``: the pitch classes of the song's sung notes (normal and golden; all notes
when a song has none of those), transposed by settings.transpose, in every octave; ``chromatic``: every semitone.

The pull (settings.snap_strength s, 0..1) must keep the pitch continuous while the hand moves, also at the midpoint
between two allowed pitches, or a slow hand would make the tone jump. Between neighbours a < b, with d the distance
to the nearer one and h = (b - a) / 2, the played distance is h * (d / h) ** p with p = 1 / (1 - s): a power curve.
s = 0 is the identity (p = 1); s = 0.5 squares the relative distance (a quarter tone off in chromatic plays an eighth
off); as s grows the pitch sits ever flatter on the note and crosses ever more steeply at the midpoint, where both
sides meet at the midpoint itself with the same slope p (continuous, and so is its slope). s = 1 plays the nearest
allowed pitch exactly: the only setting with a step at the midpoint (the synth's glide smooths it).

Everything is precomputed in __init__ (per whole MIDI note: the allowed pitch at or below, and the next above), so
``pull`` is scalar float math and list indexing: safe in the audio callback.
"""
from __future__ import annotations

SUNG_KINDS = ("normal", "golden")
TOP = 127                      # pitches are clamped to 0..TOP (MIDI's range) before the table lookup


class PitchSnap:
    """Pulls a fractional MIDI pitch towards the nearest allowed pitch with a continuous power curve."""

    def __init__(self, mode: str, strength: float, pitch_classes=range(12)):
        if mode not in ("off", "scale", "chromatic"):
            raise ValueError(f"snap must be off, scale or chromatic, got {mode!r}")
        classes = sorted({int(c) % 12 for c in pitch_classes})
        if mode != "off" and not classes:
            raise ValueError("snapping needs at least one allowed pitch class")
        self.mode = mode
        self.strength = min(1.0, max(0.0, float(strength)))
        self.active = mode != "off" and self.strength > 0.0
        self.exact = self.strength >= 1.0
        self.power = 1.0 if self.exact else 1.0 / (1.0 - self.strength)
        self.pitch_classes = tuple(range(12)) if mode == "chromatic" else tuple(classes)
        allowed = [m for m in range(-12, TOP + 13) if m % 12 in self.pitch_classes]
        # for m in [k, k + 1): below[k] <= m < above[k], both allowed, nothing allowed in between
        self.below = [float(max(a for a in allowed if a <= k)) for k in range(TOP + 1)]
        self.above = [float(min(a for a in allowed if a > k)) for k in range(TOP + 1)]

    @classmethod
    def for_song(cls, song, settings) -> "PitchSnap":
        """The session's snapping: settings.snap and snap_strength; scale from the song's notes + transpose."""
        classes = range(12)
        if settings.snap == "scale":
            if song is None:
                raise ValueError("snapping to the song's scale needs the song")
            sung = [n.midi for n in song.notes if n.kind in SUNG_KINDS] or [n.midi for n in song.notes]
            classes = [m + settings.transpose for m in sung]
        return cls(settings.snap, settings.snap_strength, classes)

    def pull(self, midi: float) -> float:
        """The played pitch for the hand's pitch ``midi`` (scalar math only: called per audio block)."""
        if not self.active:
            return midi
        m = 0.0 if not midi > 0.0 else (float(TOP) if midi > TOP else midi)   # also NaN -> 0
        k = int(m)
        if k >= TOP:
            k = TOP - 1
        a, b = self.below[k], self.above[k]
        half = 0.5 * (b - a)
        d = m - a
        if self.exact:
            return a if d < half else b
        if d < half:
            return a + half * (d / half) ** self.power
        return b - half * ((b - m) / half) ** self.power
