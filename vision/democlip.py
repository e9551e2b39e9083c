"""The demo camera: a synthetic clip of a hand that plays the session's song, made on first use and cached.

Why a clip and not live drawing: the vision process then reads it exactly like a video file (same code path,
same decoder, same timing), and a player without a camera sees and hears the game working.

The hand's size follows the melody: during each note the area the classic detector measures equals
PitchMap.for_song(song, settings).area(note.midi + transpose). The drawn size is calibrated against what the
detector measures after the clip's own MJPG encode/decode (a short calibration clip goes through the same writer
and reader), so JPEG edges and morphology do not bias the pitch. Frame i belongs at session time i / CLIP_FPS.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from game.pitchmap import PitchMap
from game.song import load_for
from vision import classic as det
from vision.classic import ClassicDetector
from vision.handdraw import Painter, hand_extent

GENERATOR_VERSION = 4
CLIP_FPS = 30.0
APPEAR_BEFORE = 0.8    # the hand comes in this long before the first note (the rest of the lead-in is empty room)
MOVE_START = 0.08      # a move to the next note's size starts this long before the note ...
MOVE_END = 0.01        # ... and is done this long before it (the synth's glide and our latency follow)
LONG_REST = 1.0        # the hand leaves during rests longer than this
LEAVE_AFTER = 0.25     # ... this long after the note ends, and comes back this long before the next one:
RETURN_BEFORE = 0.45
LAST_HOLD = 0.3        # the hand stays this long after the last note
FOURCC = cv2.VideoWriter_fourcc(*"MJPG")


def place_hand(fx: float, fy: float, scale: float, width: int, height: int) -> tuple[float, float, float]:
    """The hand's (cx, cy, scale) for Painter.paint at the picture fraction (fx, fy), kept whole in the picture."""
    x0, y0, x1, y1 = hand_extent(scale)
    return (min(max(fx * width, 3 - x0), width - 3 - x1), min(max(fy * height, 3 - y0), height - 3 - y1), scale)


def cache_dir() -> Path:
    from game.userdirs import cache_dir as user_cache
    return user_cache()


def clip_key(song, settings) -> str:
    """Hash of everything the clip depends on: the song's notes, the mapping, the size, this generator."""
    h = hashlib.sha256()
    h.update(repr(song.notes).encode())   # the notes as played (after --tempo, --voice, --track)
    h.update(json.dumps({
        "v": GENERATOR_VERSION, "w": settings.width, "h": settings.height, "margin": settings.pitch_margin,
        "far": settings.area_far, "near": settings.area_near, "transpose": settings.transpose, "tail": settings.tail,
        "skin": [det.SKIN_LO.tolist(), det.SKIN_HI.tolist()],
    }, sort_keys=True).encode())
    return h.hexdigest()[:16]


def demo_clip_path(settings) -> Path:
    """The demo clip for settings.song, made now if not cached yet."""
    song = load_for(settings)   # the session's song: its tempo, duet voice and MIDI track
    path = cache_dir() / f"demo-{Path(song.path).stem or 'song'}-{settings.width}x{settings.height}-" \
                         f"{clip_key(song, settings)}.avi"
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    make_clip(song, settings, path)
    return path


# ---- the score of the hand: where and how big at time t ---------------------------------------------------------
class HandScript:
    """Target hand area and position over session time, from the song's notes."""

    def __init__(self, song, settings):
        pm = PitchMap.for_song(song, settings)
        self.notes = sorted(song.notes, key=lambda n: n.start)
        self.log_area = [math.log(pm.area(n.midi + settings.transpose)) for n in self.notes]
        first, last = self.notes[0], self.notes[-1]
        self.appear = max(0.0, first.start - APPEAR_BEFORE)
        self.leave = last.end + LAST_HOLD
        self.away = []  # (from, to) intervals of long rests
        for a, b in zip(self.notes, self.notes[1:]):
            if b.start - a.end > LONG_REST:
                self.away.append((a.end + LEAVE_AFTER, b.start - RETURN_BEFORE))

    def present(self, t: float) -> bool:
        if t < self.appear or t >= self.leave:
            return False
        return not any(a <= t < b for a, b in self.away)

    def area(self, t: float) -> float:
        value = self.log_area[0]
        for k in range(1, len(self.notes)):
            start = self.notes[k].start - MOVE_START
            if t < start:
                break
            u = min(1.0, (t - start) / (MOVE_START - MOVE_END))
            u = u * u * (3.0 - 2.0 * u)  # smoothstep: a hand accelerates and settles
            value = self.log_area[k - 1] + (self.log_area[k] - self.log_area[k - 1]) * u
        return math.exp(value)

    @staticmethod
    def drift(t: float) -> tuple[float, float]:
        """Centre as fractions of the frame: a slow, small wander like a hand held in the air."""
        return (0.5 + 0.07 * math.sin(2 * math.pi * t / 6.1) + 0.02 * math.sin(2 * math.pi * t / 1.7),
                0.56 + 0.04 * math.sin(2 * math.pi * t / 4.3 + 1.0))


# ---- calibration: drawn scale -> measured area -------------------------------------------------------------------
def _writer(path: Path, width: int, height: int) -> cv2.VideoWriter:
    """FFmpeg's MJPG encoder (a quarter the size of OpenCV's own), else OpenCV's own."""
    for backend in (cv2.CAP_FFMPEG, cv2.CAP_OPENCV_MJPEG):
        w = cv2.VideoWriter(str(path), backend, FOURCC, CLIP_FPS, (width, height))
        if w.isOpened():
            return w
    raise RuntimeError(f"cannot write an MJPG video at {path}: this OpenCV has no MJPG writer")


def calibrate(width: int, height: int, painter: Painter, lo_area: float, hi_area: float):
    """(log scale, log measured area) arrays over a grid of drawn sizes, measured through an MJPG round trip."""
    frame_px = width * height
    # palm-height scales whose plain pixel count brackets the wanted areas (pixels grow with scale squared)
    painter.paint((width / 2.0, height / 2.0, 100.0))
    per_s2 = cv2.countNonZero(painter.mask) / 100.0 ** 2
    s_lo = math.sqrt(lo_area * frame_px / per_s2) * 0.8
    s_hi = math.sqrt(hi_area * frame_px / per_s2) * 1.2
    scales = np.geomspace(s_lo, s_hi, 48)
    measured = []
    with tempfile.TemporaryDirectory(prefix="handtone-cal-") as tmp:
        path = Path(tmp) / "cal.avi"
        w = _writer(path, width, height)
        centres = []
        for s in scales:
            x0, y0, x1, y1 = hand_extent(s)
            cx = width / 2.0 - (x0 + x1) / 2.0
            cy = height / 2.0 - (y0 + y1) / 2.0
            centres.append((cx, cy))
            w.write(painter.paint((cx, cy, float(s))))
        w.release()
        cap = cv2.VideoCapture(str(path))
        d = ClassicDetector(width, height, background=False)
        for s in scales:
            ok, frame = cap.read()
            if not ok:
                raise RuntimeError("calibration clip could not be read back")
            r = d.detect(frame)
            measured.append(r.hand.area if r.present else float("nan"))
        cap.release()
    measured = np.array(measured)
    good = np.isfinite(measured) & (measured > 0)
    ls, la = np.log(scales[good]), np.log(measured[good])
    order = np.argsort(la)
    return ls[order], la[order]


def make_clip(song, settings, path: Path) -> Path:
    """Render the whole clip to ``path`` (written to a temporary name, then moved into place)."""
    width, height = settings.width, settings.height
    painter = Painter(width, height)
    script = HandScript(song, settings)
    areas = [math.exp(a) for a in script.log_area]
    log_s, log_a = calibrate(width, height, painter, min(areas) / 1.2, max(areas) * 1.2)
    n_frames = int(math.ceil((song.duration + settings.tail + 1.0) * CLIP_FPS))
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}.avi")
    w = _writer(tmp, width, height)
    try:
        for i in range(n_frames):
            t = i / CLIP_FPS
            hand = None
            if script.present(t):
                scale = float(np.exp(np.interp(math.log(script.area(t)), log_a, log_s)))
                hand = place_hand(*script.drift(t), scale, width, height)
            w.write(painter.paint(hand))
    finally:
        w.release()
    os.replace(tmp, path)
    return path
