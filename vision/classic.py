"""The `classic` hand detector (OpenCV only): skin colour, background subtraction, morphology, largest contour.

Frame in (BGR, fixed size), hands out. Why each step:
- skin colour in YCrCb: chroma (Cr, Cb) separates skin from most rooms and barely moves with brightness;
- background subtraction against a learned background picture (at 1/4 resolution, cheap) rejects skin-coloured
  things that do not move (a wooden door); where a hand was seen last frame it is kept even when it holds still,
  and the background there is not learned;
- morphology removes speckles and fills pinholes; the largest contour is the hand, the next large one the second
  hand (volume).
Hand area is the pixel area the hand's outer contour encloses (the contour's polygon area plus half its boundary,
Pick's theorem), as a fraction of the frame: it grows as the hand nears the camera.
All working images are preallocated and reused (dst=), which is most of the speed (DESIGN.md section 7).
"""
from __future__ import annotations

import cv2
import numpy as np

from vision.detector import Detection, Hand, assign_roles

SKIN_LO = np.array([40, 133, 77], np.uint8)    # Y, Cr, Cb: fixed defaults until calibration exists
SKIN_HI = np.array([255, 173, 127], np.uint8)
SMALL = 4              # background model works at 1/SMALL of the frame size
BG_DIFF = 18           # a small-image pixel differing from the background by more than this (any channel) moved
BG_RATE = 0.02         # background learning rate per frame where no hand is
MIN_AREA = 0.002       # blobs smaller than this fraction of the frame are not hands
SECOND_MIN = 0.25      # a second hand must be at least this share of the first hand's area


class ClassicDetector:
    name = "classic"

    def __init__(self, width: int, height: int, background: bool = True, pitch_hand: str = "right"):
        self.width, self.height = width, height
        self.pitch_hand = pitch_hand
        self.frame_px = float(width * height)
        self.use_background = background
        sw, sh = max(1, width // SMALL), max(1, height // SMALL)
        self.small_size = (sw, sh)
        self.ycc = np.empty((height, width, 3), np.uint8)
        self.skin = np.empty((height, width), np.uint8)
        self.mask = np.empty((height, width), np.uint8)
        self.fg = np.empty((height, width), np.uint8)
        self.small = np.empty((sh, sw, 3), np.uint8)
        self.diff = np.empty((sh, sw, 3), np.uint8)
        self.diff_max = np.empty((sh, sw), np.uint8)
        self.fg_small = np.empty((sh, sw), np.uint8)
        self.fg_small2 = np.empty((sh, sw), np.uint8)
        self.learn = np.empty((sh, sw), np.uint8)
        self.bg = np.zeros((sh, sw, 3), np.float32)
        self.bg_u8 = np.zeros((sh, sw, 3), np.uint8)
        self.has_bg = False
        self.kernel3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.kernel5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.last_boxes: list = []       # boxes of the hands seen last frame (frame pixels)

    @classmethod
    def from_settings(cls, settings) -> "ClassicDetector":
        return cls(settings.width, settings.height, pitch_hand=settings.pitch_hand)

    def describe(self) -> str:
        return "classic (skin colour + background)"

    # ---- the pipeline ----------------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray) -> Detection:
        cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb, dst=self.ycc)
        cv2.inRange(self.ycc, SKIN_LO, SKIN_HI, dst=self.skin)
        if self.use_background:
            self._gate_by_background()
            src = self.mask
        else:
            src = self.skin
        cv2.morphologyEx(src, cv2.MORPH_OPEN, self.kernel3, dst=self.fg)
        cv2.morphologyEx(self.fg, cv2.MORPH_CLOSE, self.kernel3, dst=self.mask)
        hands = self._hands(self.mask)
        self.last_boxes = [h.box for h in hands]
        if self.use_background:
            self._learn_background()
        return Detection(hands)

    def _gate_by_background(self) -> None:
        """mask = skin AND (moved OR where a hand was last frame)."""
        cv2.resize(self.ycc, self.small_size, dst=self.small, interpolation=cv2.INTER_NEAREST)
        if not self.has_bg:
            self.bg[:] = self.small
            self.bg_u8[:] = self.small
            self.has_bg = True
        cv2.absdiff(self.small, self.bg_u8, dst=self.diff)
        np.max(self.diff, axis=2, out=self.diff_max)
        cv2.threshold(self.diff_max, BG_DIFF, 255, cv2.THRESH_BINARY, dst=self.fg_small)
        cv2.dilate(self.fg_small, self.kernel3, dst=self.fg_small2)
        for (x, y, w, h) in self.last_boxes:
            m = 8  # margin in frame pixels: the hand may have moved a little since
            cv2.rectangle(self.fg_small2, ((x - m) // SMALL, (y - m) // SMALL),
                          ((x + w + m) // SMALL, (y + h + m) // SMALL), 255, -1)
        cv2.resize(self.fg_small2, (self.width, self.height), dst=self.fg, interpolation=cv2.INTER_NEAREST)
        cv2.bitwise_and(self.skin, self.fg, dst=self.mask)

    def _learn_background(self) -> None:
        """Blend the new picture into the background everywhere except around the hands."""
        self.learn[:] = 255
        for (x, y, w, h) in self.last_boxes:
            m = 16
            cv2.rectangle(self.learn, ((x - m) // SMALL, (y - m) // SMALL),
                          ((x + w + m) // SMALL, (y + h + m) // SMALL), 0, -1)
        cv2.accumulateWeighted(self.small, self.bg, BG_RATE, mask=self.learn)
        cv2.convertScaleAbs(self.bg, dst=self.bg_u8)

    def _hands(self, mask: np.ndarray) -> list:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:
            return []
        scored = []
        for c in contours:
            if len(c) < 8:
                continue
            px = enclosed_pixels(c)
            if px >= MIN_AREA * self.frame_px:
                scored.append((px, c))
        scored.sort(key=lambda pc: pc[0], reverse=True)
        hands = []
        for px, c in scored[:2]:
            if hands and px < SECOND_MIN * hands[0].area * self.frame_px:
                break
            hands.append(self._hand(px, c))
        return assign_roles(hands, self.pitch_hand)

    def _hand(self, px: float, contour) -> Hand:
        x, y, w, h = cv2.boundingRect(contour)
        m = cv2.moments(contour)
        if m["m00"] > 0:
            mx, my = m["m10"] / m["m00"], m["m01"] / m["m00"]
        else:
            mx, my = x + w / 2.0, y + h / 2.0
        hull_area = cv2.contourArea(cv2.convexHull(contour))
        solidity = px / hull_area if hull_area > 0 else 0.0
        # an open hand's solidity is ~0.6-0.9; blobs far below are streaks or clutter
        confidence = float(min(1.0, max(0.0, solidity / 0.6)))
        return Hand(area=px / self.frame_px, cx=1.0 - mx / self.width, cy=my / self.height,
                    box=(x, y, w, h), confidence=confidence)

    def reset(self) -> None:
        self.has_bg = False
        self.last_boxes = []


def enclosed_pixels(contour) -> float:
    """Pixels enclosed by an 8-connected outer contour (CHAIN_APPROX_NONE): polygon area + boundary/2 + 1 (Pick)."""
    return cv2.contourArea(contour) + len(contour) / 2.0 + 1.0

