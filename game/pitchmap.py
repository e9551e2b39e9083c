"""Hand size -> pitch: the one mapping shared by the synth (to play), the window (to show) and the demo clip (to
make a hand that plays the tune).

Pitch is linear in semitones against the logarithm of the hand's area: moving the hand twice as close quadruples
its area and always moves the pitch by the same interval, wherever the hand is. The song's range, widened by a
margin on each side, spans the calibrated far..near areas, so every note of the song is reachable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PitchMap:
    low_midi: float     # pitch at the far area
    high_midi: float    # pitch at the near area
    area_far: float     # hand area (fraction of frame) of the far, low end
    area_near: float    # hand area of the near, high end

    @classmethod
    def for_range(cls, lowest: float, highest: float, margin: float, area_far: float, area_near: float) -> "PitchMap":
        if not 0.0 < area_far < area_near <= 1.0:
            raise ValueError(f"need 0 < area_far < area_near <= 1, got {area_far}, {area_near}")
        return cls(lowest - margin, highest + margin, area_far, area_near)

    @classmethod
    def for_song(cls, song, settings) -> "PitchMap":
        return cls.for_range(song.lowest + settings.transpose, song.highest + settings.transpose,
                             settings.pitch_margin, settings.area_far, settings.area_near)

    def midi(self, area: float) -> float:
        """Pitch for a hand area, clamped to the mapped range."""
        if area <= self.area_far:
            return self.low_midi
        if area >= self.area_near:
            return self.high_midi
        s = math.log(area / self.area_far) / math.log(self.area_near / self.area_far)
        return self.low_midi + s * (self.high_midi - self.low_midi)

    def area(self, midi: float) -> float:
        """The hand area that plays ``midi`` (the inverse of ``midi``), clamped to the range."""
        s = (midi - self.low_midi) / (self.high_midi - self.low_midi)
        s = min(1.0, max(0.0, s))
        return self.area_far * (self.area_near / self.area_far) ** s
