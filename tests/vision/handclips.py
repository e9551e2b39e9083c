"""Test clips with known truth: a hand picture pasted at known sizes and places over real photographs.

The photographs are OpenCV's sample pictures (scripts/testdata.sh fetches them from Debian's opencv-doc package
into a cache): a street, a building, fruit and an orange (skin-coloured things), a football crowd (faces), a
baboon, an aerial view, a circuit board... The hand is drawn (there is no hand photograph in the registries we can
reach): vision/handdraw.py's outline with shading, knuckle creases and fingers that can spread, in several skin
tones, mirrored for a left hand. MediaPipe's palm detector finds it with scores 0.85-0.93, so it is hand enough.

A clip adds what a webcam adds: sensor noise and a slight flicker of brightness.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

import standins
from vision.handdraw import paste_shaded_hand as paste_hand
from vision.handdraw import posed_hand_mask

W, H = 640, 480
PHOTOS = ("home", "building", "fruits", "messi5", "baboon", "aero1", "leuvenA", "board", "orange", "stuff",
          "squirrel_cls", "left01")
#: BGR skin tones from pale to dark
TONES = {"pale": (178, 196, 236), "medium": (118, 158, 222), "olive": (96, 140, 190), "brown": (66, 102, 150),
         "dark": (44, 66, 102)}


def photo_dir() -> Path:
    base = os.environ.get("HANDTONE_TESTDATA") or str(Path(os.environ.get("XDG_CACHE_HOME") or
                                                          Path.home() / ".cache") / "handtone" / "testdata")
    return Path(base) / "photos"


def photos() -> dict:
    """name -> 640x480 BGR photograph (centre-cropped to 4:3, resized)."""
    out = {}
    for name in PHOTOS:
        img = cv2.imread(str(photo_dir() / f"{name}.jpg"))
        if img is None:
            standins.missing(f"test photograph {name}.jpg in {photo_dir()} (run `bash scripts/testdata.sh`)")
        h, w = img.shape[:2]
        if w * 3 > h * 4:
            cw = h * 4 // 3
            img = img[:, (w - cw) // 2:(w - cw) // 2 + cw]
        else:
            ch = w * 3 // 4
            img = img[(h - ch) // 2:(h - ch) // 2 + ch]
        out[name] = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
    return out


def hand_mask(cx: float, cy: float, scale: float, spread: float = 0.0, mirror: bool = False,
              tilt: float = 0.0) -> np.ndarray:
    """The posed hand's mask at frame size (see vision.handdraw.posed_hand_mask)."""
    return posed_hand_mask(W, H, cx, cy, scale, spread, mirror, tilt)


def webcam(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise (sigma 3) and a +-3% brightness flicker, as a cheap webcam gives."""
    gain = 1.0 + rng.uniform(-0.03, 0.03)
    noisy = frame.astype(np.float32) * gain + rng.normal(0.0, 3.0, frame.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def true_area(scale: float, spread: float = 0.0, mirror: bool = False) -> float:
    """The pasted hand's area as a fraction of the frame, measured on its mask at the frame's centre."""
    return float(np.count_nonzero(hand_mask(W / 2, H / 2, scale, spread, mirror) > 127)) / (W * H)


def clip_with_hand(photo: np.ndarray, frames: int, seed: int, tone=TONES["medium"], lead_in: int = 8,
                   mirror: bool = False):
    """Frames of a hand moving nearer and farther and around over ``photo``: palm height 50..190 px, which is hand
    area 0.011..0.15 of the frame, the game's default playing range (area_far 0.01, area_near 0.16).

    The first ``lead_in`` frames have no hand (a player walks into the picture; the classic detector learns the
    room). Yields (frame, truth) where truth is None or (scale, cx, cy) in pixels."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi)
    for i in range(frames):
        if i < lead_in:
            yield webcam(photo, rng), None
            continue
        k = i - lead_in
        scale = 120.0 + 70.0 * math.sin(2 * math.pi * k / 40.0 + phase)        # nearer and farther
        cx = W / 2 + 120 * math.sin(2 * math.pi * k / 53.0 + phase)
        cy = H / 2 + 40 + 30 * math.cos(2 * math.pi * k / 61.0)
        frame = photo.copy()
        paste_hand(frame, hand_mask(cx, cy, scale, mirror=mirror, tilt=6 * math.sin(k / 7.0)), tone, seed + i)
        yield webcam(frame, rng), (scale, cx, cy)


def clip_without_hand(photo: np.ndarray, frames: int, seed: int):
    """The photograph with webcam noise and flicker only."""
    rng = np.random.default_rng(seed)
    for _ in range(frames):
        yield webcam(photo, rng)


def spearman(a, b) -> float:
    """Rank correlation (ties get their mean rank)."""
    def ranks(x):
        x = np.asarray(x, float)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):
            same = x == v
            r[same] = r[same].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denom = math.sqrt(float((ra ** 2).sum() * (rb ** 2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0
