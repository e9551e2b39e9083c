"""The latency bench's camera: a clip whose hand JUMPS between two sizes at known frames, made once and cached.

Why jumps and not the demo song: motion-to-sound is timed from the frame where the hand moved to the first sound at
the new pitch, so the move must happen at one known frame and be large (two sizes several semitones apart on the
session's pitch map), not spread over a glide of the hand. Drawn with vision/handdraw.py like the demo clip, sized
through the same MJPG round-trip calibration (vision/democlip.py), so both detectors find the hand and the classic
one measures the areas asked for.

Layout (frame numbers within the clip, CLIP_FPS): LEAD_IN frames of the empty room (the classic detector learns its
background from the first picture), then SEGMENTS holds of EVERY frames, alternating LOW and HIGH. The hand jumps
at each hold's first frame after the first hold. Played with --loop-video, session frame i shows clip frame
i % frames; the lead-in comes back at each loop, so the hand leaves and re-enters (an onset, not a jump).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from game.pitchmap import PitchMap
from vision import classic as det
from vision.democlip import CLIP_FPS, HandScript, _writer, cache_dir, calibrate, place_hand
from vision.handdraw import Painter

GENERATOR_VERSION = 2
# frames per hold: a jump every 0.57 s at 30 fps. Not a multiple of the landmarks detector's search for a second
# hand (every 10 frames, ~7 ms) nor of the classic detector's look for faces (every 15): at 15 frames every other
# jump met that work, here about one in ten does, as a move the player makes at any moment would
EVERY = 17
SEGMENTS = 18       # holds per loop (even: a loop ends on HIGH, the next starts on LOW after the lead-in)
LEAD_IN = 15        # empty-room frames at the clip's start
LOW_AT, HIGH_AT = 0.3, 0.7   # the two sizes, as fractions of the pitch map's range (6.4 semitones on Ode to Joy)


@dataclass(frozen=True)
class JumpPlan:
    """Where the jumps are and what they play: what a bench needs to match a session's logs to the clip."""
    fps: float
    every: int
    lead_in: int
    frames: int          # frames in one loop of the clip
    low_midi: float
    high_midi: float
    low_area: float
    high_area: float

    def level(self, clip_frame: int) -> int | None:
        """Which size clip frame shows: 0 low, 1 high, None no hand (the lead-in)."""
        if clip_frame < self.lead_in:
            return None
        return ((clip_frame - self.lead_in) // self.every) % 2

    def is_jump(self, session_frame: int) -> bool:
        """True when the hand changes size at this session frame (not at its entry after the lead-in)."""
        k = session_frame % self.frames
        return k >= self.lead_in + self.every and (k - self.lead_in) % self.every == 0

    def jumps(self, last_frame: int) -> list[int]:
        """Session frames 0..last_frame where the hand jumps."""
        return [i for i in range(last_frame + 1) if self.is_jump(i)]

    def as_dict(self) -> dict:
        return asdict(self)


def plan_for(song, settings) -> JumpPlan:
    pm = PitchMap.for_song(song, settings)
    span = pm.high_midi - pm.low_midi
    low, high = pm.low_midi + LOW_AT * span, pm.low_midi + HIGH_AT * span
    return JumpPlan(CLIP_FPS, EVERY, LEAD_IN, LEAD_IN + SEGMENTS * EVERY, round(low, 3), round(high, 3),
                    pm.area(low), pm.area(high))


def jump_clip_path(song, settings) -> tuple[Path, JumpPlan]:
    """The clip for this song's pitch map at the session's picture size (made now if not cached) and its plan."""
    plan = plan_for(song, settings)
    h = hashlib.sha256(json.dumps({
        "v": GENERATOR_VERSION, "w": settings.width, "h": settings.height, "plan": plan.as_dict(),
        "skin": [det.SKIN_LO.tolist(), det.SKIN_HI.tolist()]}, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"jumps-{settings.width}x{settings.height}-{h}.avi"
    if not (path.is_file() and path.stat().st_size > 0):
        path.parent.mkdir(parents=True, exist_ok=True)
        make_clip(plan, settings.width, settings.height, path)
    return path, plan


def make_clip(plan: JumpPlan, width: int, height: int, path: Path) -> Path:
    """Render one loop of the clip to ``path`` (a temporary name first, then moved into place)."""
    painter = Painter(width, height)
    log_s, log_a = calibrate(width, height, painter, plan.low_area / 1.2, plan.high_area * 1.2)
    scales = [float(np.exp(np.interp(math.log(a), log_a, log_s))) for a in (plan.low_area, plan.high_area)]
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.avi")
    w = _writer(tmp, width, height)
    try:
        for i in range(plan.frames):
            level = plan.level(i)
            hand = None
            if level is not None:
                scale = scales[level]
                # the demo hand's slow wander: a hand held in the air
                hand = place_hand(*HandScript.drift(i / plan.fps), scale, width, height)
            w.write(painter.paint(hand))
    finally:
        w.release()
    os.replace(tmp, path)
    return path
