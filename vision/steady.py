"""Steadier hands from a per-frame detector: presence with hysteresis, size and place smoothed by a one-euro filter.

Why: a per-frame detector flickers (one frame with a skin speck, one frame where the hand blurs away) and its area
jitters by a few percent; the synth turns both into audible clicks and a wobbling pitch. Hysteresis: a hand counts
once it was seen ON_FRAMES frames running and is gone only after OFF_FRAMES frames missing (the last hand is held
meanwhile). One-euro filter (Casiez et al., CHI 2012): an EMA whose cut-off rises with the speed of the signal, so a
still hand is smoothed hard and a moving hand is followed with little lag. Area is filtered as its logarithm: pitch is
linear in log area, so the same smoothing holds at every pitch.

Added lag, measured by tests/vision/test_classic.py at 30 fps: presence starts 1 frame (33 ms) later and ends 2 frames
later; a sudden move (area x2.25 or x0.56) shows 84% (116%) of the new area on its first frame and is within 5% on
the second (about 1 frame, 33 ms, behind); a small move (area +12%) is within 2% after 3 frames. A still hand's
area jitter drops 2.4-2.7 times (2.1% -> 0.9% on the test's noisy frames).
"""
from __future__ import annotations

import dataclasses
import math

ON_FRAMES = 2          # frames a hand must be seen before it counts
OFF_FRAMES = 3         # frames a hand must be missing before it is gone
AREA_CUTOFF_HZ = 0.7   # one-euro for log(area): cut-off of a still hand ...
AREA_BETA = 4.0        # ... raised by this much per unit of log-area speed (1/s)
PLACE_CUTOFF_HZ = 1.5  # cx, cy (fractions of the frame)
PLACE_BETA = 8.0
D_CUTOFF_HZ = 1.0      # the speed estimate's own smoothing


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """One-euro filter at a fixed frame interval ``dt``."""

    def __init__(self, dt: float, min_cutoff: float, beta: float, d_cutoff: float = D_CUTOFF_HZ):
        self.dt, self.min_cutoff, self.beta = dt, min_cutoff, beta
        self.a_d = _alpha(d_cutoff, dt)
        self.x = self.dx = None

    def reset(self, x: float | None = None) -> None:
        self.x, self.dx = x, (0.0 if x is not None else None)

    def __call__(self, x: float) -> float:
        if self.x is None:
            self.reset(x)
            return x
        dx = (x - self.x) / self.dt
        self.dx = self.dx + self.a_d * (dx - self.dx)
        a = _alpha(self.min_cutoff + self.beta * abs(self.dx), self.dt)
        self.x = self.x + a * (x - self.x)
        return self.x


class _Slot:
    """One role (pitch hand or volume hand): its hysteresis counters, its filters, its last shown hand."""

    def __init__(self, dt: float):
        self.seen = self.missed = 0
        self.shown = None
        self.area = OneEuro(dt, AREA_CUTOFF_HZ, AREA_BETA)
        self.cx = OneEuro(dt, PLACE_CUTOFF_HZ, PLACE_BETA)
        self.cy = OneEuro(dt, PLACE_CUTOFF_HZ, PLACE_BETA)

    def update(self, hand):
        if hand is None:
            self.seen = 0
            self.missed += 1
            if self.shown is not None and self.missed >= OFF_FRAMES:
                self.shown = None
            return self.shown
        self.missed = 0
        self.seen += 1
        if self.shown is None and self.seen < ON_FRAMES:
            return None
        if self.shown is None:  # a new hand: start the filters where it is, not where the last one was
            for f in (self.area, self.cx, self.cy):
                f.reset()
        area = math.exp(self.area(math.log(max(hand.area, 1e-9))))
        self.shown = dataclasses.replace(hand, area=area, cx=self.cx(hand.cx), cy=self.cy(hand.cy))
        return self.shown


class Steadier:
    """hands (role order, from one frame) -> the hands to show and play."""

    def __init__(self, fps: float = 30.0):
        self.dt = 1.0 / max(fps, 1.0)
        self.slots = [_Slot(self.dt), _Slot(self.dt)]

    def __call__(self, hands: list) -> list:
        out = []
        for i, slot in enumerate(self.slots):
            h = slot.update(hands[i] if i < len(hands) else None)
            if h is not None:
                out.append(h)
        return out

    def reset(self) -> None:
        self.slots = [_Slot(self.dt), _Slot(self.dt)]
