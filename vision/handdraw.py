"""Drawing a synthetic room and a skin-toned hand: the pictures of the demo clip, the detector tests and the bench.

Why here: the demo clip, the tests and the bench must draw the very same hand, so the area the classic detector
measures can be calibrated once against this drawing. Everything is deterministic (fixed seeds, no clocks).
The colours are chosen against vision/detector.py's skin range: the room is never skin, the hand always is.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

SHIFT = 4                 # sub-pixel bits for cv2 drawing: smooth size changes, not 1-pixel jumps
ONE = 1 << SHIFT
SKIN_BGR = (118, 158, 222)  # YCrCb ~ (173, 162, 98): well inside the detector's skin box

# The hand at scale 1, in units of its own palm height; (x, y, half-width, half-height, angle in degrees).
# y grows downwards like the picture. Palm, four fingers, thumb; fingers overlap the palm so the shape is one blob.
_PARTS = (
    (0.00, 0.00, 0.40, 0.48, 0.0),    # palm
    (-0.29, -0.66, 0.085, 0.34, -8.0),  # little finger
    (-0.10, -0.80, 0.095, 0.42, -3.0),  # ring
    (0.10, -0.84, 0.095, 0.44, 2.0),    # middle
    (0.29, -0.74, 0.090, 0.38, 8.0),    # index
    (0.50, -0.02, 0.10, 0.32, 38.0),    # thumb
    (0.00, 0.50, 0.27, 0.20, 0.0),      # wrist
)


def room(width: int, height: int, seed: int = 7) -> np.ndarray:
    """A static room-ish background (wall, shelf with books, floor, window), bluish/greenish/grey, never skin."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    # wall: a soft vertical gradient of blue-grey
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    wall = np.array([150, 135, 115], np.float32) * (1.0 - 0.25 * ramp)  # BGR, cool grey-blue
    img[:] = wall[:, None, :].astype(np.uint8)
    floor_y = int(height * 0.82)
    img[floor_y:] = (90, 100, 70)  # greenish-grey carpet
    # a window with a pale-blue sky
    cv2.rectangle(img, (int(width * 0.06), int(height * 0.10)), (int(width * 0.30), int(height * 0.45)),
                  (225, 205, 170), -1)
    cv2.rectangle(img, (int(width * 0.06), int(height * 0.10)), (int(width * 0.30), int(height * 0.45)),
                  (60, 60, 60), 4)
    cv2.line(img, (int(width * 0.18), int(height * 0.10)), (int(width * 0.18), int(height * 0.45)), (60, 60, 60), 3)
    # a shelf with books in cool colours
    sx0, sx1, sy = int(width * 0.68), int(width * 0.96), int(height * 0.30)
    cv2.rectangle(img, (sx0, sy), (sx1, sy + 8), (70, 75, 80), -1)
    x = sx0 + 4
    book_colours = ((160, 70, 40), (60, 110, 50), (120, 120, 120), (140, 90, 30), (40, 80, 40), (170, 140, 90))
    while x < sx1 - 12:
        w = int(rng.integers(10, 22))
        h = int(rng.integers(40, 70))
        colour = book_colours[int(rng.integers(len(book_colours)))]
        cv2.rectangle(img, (x, sy - h), (min(x + w, sx1 - 4), sy - 1), colour, -1)
        x += w + 2
    # a little grain, the same every time
    noise = rng.normal(0.0, 1.5, (height, width, 1)).astype(np.float32)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def skin_texture(width: int, height: int, seed: int = 11) -> np.ndarray:
    """A full-frame skin picture with gentle shading; the hand mask cuts the hand out of it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 1.0 + 0.06 * np.sin(xx / 37.0) * np.cos(yy / 53.0) + rng.normal(0.0, 0.015, (height, width))
    img = np.array(SKIN_BGR, np.float32)[None, None, :] * shade[..., None].astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_hand_mask(mask: np.ndarray, cx: float, cy: float, scale: float) -> None:
    """Draw the hand (255) into a zeroed uint8 mask: centre (cx, cy) in pixels, palm height ``scale`` pixels."""
    for (px, py, hw, hh, ang) in _PARTS:
        centre = (int(round((cx + px * scale) * ONE)), int(round((cy + py * scale) * ONE)))
        axes = (max(1, int(round(hw * scale * ONE))), max(1, int(round(hh * scale * ONE))))
        cv2.ellipse(mask, centre, axes, ang, 0, 360, 255, -1, cv2.LINE_8, SHIFT)


def hand_extent(scale: float) -> tuple[float, float, float, float]:
    """Bounding box of the hand relative to its centre (x0, y0, x1, y1), in pixels, at this scale."""
    xs0, ys0, xs1, ys1 = [], [], [], []
    for (px, py, hw, hh, ang) in _PARTS:
        a = math.radians(ang)
        ex = math.hypot(hw * math.cos(a), hh * math.sin(a))
        ey = math.hypot(hw * math.sin(a), hh * math.cos(a))
        xs0.append(px - ex); xs1.append(px + ex); ys0.append(py - ey); ys1.append(py + ey)
    return min(xs0) * scale, min(ys0) * scale, max(xs1) * scale, max(ys1) * scale


_FINGERS = (1, 2, 3, 4, 5)   # indices in _PARTS that fan out: little, ring, middle, index, thumb


def posed_hand_mask(width: int, height: int, cx: float, cy: float, scale: float, spread: float = 0.0,
                    mirror: bool = False, tilt: float = 0.0) -> np.ndarray:
    """The hand's mask (uint8 0/255, width x height), anti-aliased. ``spread`` 0..1 fans the fingers out about the palm's top
    (up to 14 degrees each, the thumb 25); ``mirror`` draws a left hand; ``tilt`` turns the hand (degrees)."""
    mask = np.zeros((height, width), np.uint8)
    sign = -1.0 if mirror else 1.0
    t = math.radians(tilt)
    for i, (px, py, hw, hh, ang) in enumerate(_PARTS):
        if i in _FINGERS:
            pivot = (px * 0.6, -0.40)           # the finger's base on the palm
            fan = {1: -14, 2: -6, 3: 1, 4: 8, 5: 25}[i] * spread
            a = math.radians(fan)
            dx, dy = px - pivot[0], py - pivot[1]
            px, py = pivot[0] + dx * math.cos(a) - dy * math.sin(a), pivot[1] + dx * math.sin(a) + dy * math.cos(a)
            ang += fan
        px *= sign
        ang *= sign
        rx, ry = px * math.cos(t) - py * math.sin(t), px * math.sin(t) + py * math.cos(t)
        centre = (int(round((cx + rx * scale) * 16)), int(round((cy + ry * scale) * 16)))
        axes = (max(1, int(round(hw * scale * 16))), max(1, int(round(hh * scale * 16))))
        cv2.ellipse(mask, centre, axes, ang + tilt, 0, 360, 255, -1, cv2.LINE_AA, 4)
    return mask


def paste_shaded_hand(frame: np.ndarray, mask: np.ndarray, tone=SKIN_BGR, seed: int = 0) -> np.ndarray:
    """Composite a shaded hand (rounded edges darker, soft highlight, slight texture) into ``frame``, in place."""
    rng = np.random.default_rng(seed)
    inside = (mask > 127).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    ys, xs = np.nonzero(inside)
    if len(xs) == 0:
        return frame
    radius = max(2.0, float(depth.max()))
    roundness = np.clip(depth / (0.35 * radius), 0.0, 1.0) ** 0.5        # 0 at the edge, 1 inside
    shade = 0.62 + 0.38 * roundness
    shade *= 1.0 + rng.normal(0.0, 0.02, shade.shape).astype(np.float32)
    hand = np.array(tone, np.float32)[None, None, :] * shade[..., None]
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255.0
    out = frame.astype(np.float32) * (1.0 - alpha) + np.clip(hand, 0, 255) * alpha
    frame[:] = np.clip(out, 0, 255).astype(np.uint8)
    return frame


class Painter:
    """Composes frames: the room, and optionally the hand, into one reused output frame."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.background = room(width, height)
        self.skin = skin_texture(width, height)
        self.mask = np.zeros((height, width), np.uint8)
        self.frame = np.empty((height, width, 3), np.uint8)

    def paint(self, hand: tuple[float, float, float] | None) -> np.ndarray:
        """hand = (cx, cy, scale) in pixels, or None; returns the (reused) frame. self.mask holds the hand."""
        np.copyto(self.frame, self.background)
        self.mask[:] = 0
        if hand is not None:
            draw_hand_mask(self.mask, *hand)
            cv2.copyTo(self.skin, self.mask, self.frame)
        return self.frame
