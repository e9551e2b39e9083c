"""What every hand detector gives (frame in, hands out), which hand plays pitch and which volume, and the choice of
detector (`--detector auto|landmarks|classic`).

Detectors: `landmarks` (vision/landmarks.py: MediaPipe Hands' models run with LiteRT) and `classic` (vision/classic.py:
OpenCV only). Both return a Detection whose hands are already in role order: hands[0] sets the pitch, hands[1] (when
there is one) the volume. One hand alone always plays pitch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DETECTOR_NAMES = ("auto", "landmarks", "classic")
HANDEDNESS = ("right", "left")


@dataclass
class Hand:
    area: float                          # size as a fraction of the frame, 0..1 (what sets the pitch)
    cx: float                            # centre, 0..1 of the width, mirrored view (0 = player's left)
    cy: float                            # centre, 0..1 of the height
    box: tuple[int, int, int, int]       # x, y, w, h in frame pixels (camera view, not mirrored)
    confidence: float                    # 0..1
    handedness: str | None = None        # "right" / "left" (the player's own hand), None when unknown
    landmarks: np.ndarray | None = None  # (21, 2) float32 frame pixels (camera view), landmarks detector only


@dataclass
class Detection:
    hands: list                          # 0, 1 or 2 Hand: [pitch hand, volume hand]

    @property
    def present(self) -> bool:
        return bool(self.hands)

    @property
    def hand(self) -> Hand | None:
        return self.hands[0] if self.hands else None

    @property
    def second(self) -> Hand | None:
        return self.hands[1] if len(self.hands) > 1 else None


def assign_roles(hands: list, pitch_hand: str = "right") -> list:
    """Order up to two hands as [pitch, volume].

    With handedness known for both and different, the player's ``pitch_hand`` plays pitch. Otherwise by place in
    the mirrored view: the right-hand player's pitch hand is the one on their right (larger cx), and the other way
    round for pitch_hand="left". One hand alone plays pitch whichever it is.
    """
    hands = list(hands[:2])
    if len(hands) < 2:
        return hands
    a, b = hands
    if a.handedness and b.handedness and a.handedness != b.handedness:
        return [a, b] if a.handedness == pitch_hand else [b, a]
    right_first = sorted(hands, key=lambda h: -h.cx)
    return right_first if pitch_hand == "right" else right_first[::-1]


class DetectorUnavailable(RuntimeError):
    """A detector that cannot run here (models missing, LiteRT not installed); the message says what to do."""


def make_detector(settings, notice=None, live: bool = False, info=None):
    """The detector settings.detector names, for frames of settings.width x settings.height.

    auto: landmarks when its models and LiteRT are there, else classic; ``notice`` is told which was chosen and why.
    A named detector that cannot run raises DetectorUnavailable with what to do. live: for the vision child, where
    the landmarks detector looks for a second hand in a worker thread (not in analysis: its hands must not depend on
    timing) and its landmark model runs on vision/landmarks.session_threads (analysis runs one thread per worker).
    A detector may have ``close()``: call it when done.
    """
    name = settings.detector
    if name in ("auto", "landmarks"):
        from vision.landmarks import LandmarkDetector, session_threads
        try:
            det = LandmarkDetector.from_settings(settings, background_search=live,
                                                 landmark_threads=session_threads(settings) if live else -1)
        except DetectorUnavailable as e:
            if name == "landmarks":
                raise
            if notice:
                notice(f"detector: classic ({e})")
        else:
            tell = info or notice      # which detector "auto" chose: for the console, not the scorecard's notes
            if tell and name == "auto":
                tell(f"detector: {det.describe()}")
            return det
    if name in ("auto", "classic"):
        from vision.classic import ClassicDetector
        return ClassicDetector.from_settings(settings, notice)
    raise DetectorUnavailable(f"unknown detector {name!r}: use one of {', '.join(DETECTOR_NAMES)}")
