"""The `classic` hand detector (OpenCV only): skin colour, background subtraction, faces left out, largest contour,
then presence hysteresis and smoothing.

Frame in (BGR, fixed size), hands out. Why each step:
- skin colour: the player's calibrated colour table when they ran `python main.py calibrate` (vision/skin.py,
  vision/calibration.py), else a fixed YCrCb box; chroma separates skin from most rooms and barely moves with
  brightness;
- background subtraction against a learned background picture (at 1/4 resolution, cheap) rejects skin-coloured
  things that do not move (a wooden door); the background is not learned around the hands, so a hand that holds
  still stays different from it;
- faces are skin too: every FACE_EVERY frames, and when a new skin blob appears, the face cascade (vision/faces.py)
  looks inside the largest skin blobs and inside the faces already known, at sizes that fit each blob; face boxes (widened to take in forehead,
  ears and neck) are cut out of the skin mask until a look no longer finds them;
- morphology removes speckles and fills pinholes; the largest contour is the hand, the next large one the second
  hand (volume);
- vision/steady.py: a hand counts after 2 frames, is gone after 3 missing, and its size and place are smoothed
  (one-euro filter) so noise does not wobble the pitch.
Hand area is the pixel area the hand's outer contour encloses (the contour's polygon area plus half its boundary,
Pick's theorem), as a fraction of the frame: it grows as the hand nears the camera.
All working images are preallocated and reused (dst=), which is most of the speed (DESIGN.md section 7).
"""
from __future__ import annotations

import cv2
import numpy as np

from vision.detector import Detection, Hand, assign_roles
from vision.skin import DEFAULT_HI, DEFAULT_LO, SkinModel
from vision.steady import Steadier

SKIN_LO, SKIN_HI = DEFAULT_LO, DEFAULT_HI   # the fixed range used without a calibration (the demo clip keys on it)
SMALL = 4              # background model works at 1/SMALL of the frame size
BG_DIFF = 18           # a small-image pixel differing from the background by more than this (any channel) moved
BG_RATE = 0.02         # background learning rate per frame where no hand is
MIN_AREA = 0.002       # blobs smaller than this fraction of the frame are not hands
SECOND_MIN = 0.25      # a second hand must be at least this share of the first hand's area
FACE_EVERY = 15        # frames between looks for faces (half a second at 30 fps: faces move slowly) ...
FACE_SOON = 4          # ... but a new skin blob is looked at at once, if the last look is this many frames old
FACE_KEEP = 2          # a face box stays until this many looks in a row do not find it again
FACE_BLOBS = 3         # the largest skin blobs looked at for faces
FACE_MIN_PX = 30       # smallest face width looked for, frame pixels
# a face box (the cascade's: brows to mouth) widened to what is skin around it: ears, forehead, chin and neck
FACE_GROW = (0.30, 0.55, 0.30, 0.95)   # left, top, right, bottom, as fractions of the box size


class ClassicDetector:
    name = "classic"

    def __init__(self, width: int, height: int, background: bool = True, pitch_hand: str = "right",
                 skin_model: SkinModel | None = None, faces: bool = True, steady: bool = False, fps: float = 30.0):
        self.width, self.height = width, height
        self.pitch_hand = pitch_hand
        self.frame_px = float(width * height)
        self.use_background = background
        self.skin_model = skin_model or SkinModel()
        self.look_for_faces = faces
        self.steadier = Steadier(fps) if steady else None
        self.calibration_note = ""
        sw, sh = max(1, width // SMALL), max(1, height // SMALL)
        self.small_size = (sw, sh)
        self.ycc = np.empty((height, width, 3), np.uint8)
        self.skin = np.empty((height, width), np.uint8)
        self.mask = np.empty((height, width), np.uint8)
        self.fg = np.empty((height, width), np.uint8)
        self.small = np.empty((sh, sw, 3), np.uint8)
        self.small_bgr = np.empty((sh, sw, 3), np.uint8)
        self.diff = np.empty((sh, sw, 3), np.uint8)
        self.diff_max = np.empty((sh, sw), np.uint8)
        self.fg_small = np.empty((sh, sw), np.uint8)
        self.fg_small2 = np.empty((sh, sw), np.uint8)
        self.learn = np.empty((sh, sw), np.uint8)
        self.bg = np.zeros((sh, sw, 3), np.float32)
        self.bg_u8 = np.zeros((sh, sw, 3), np.uint8)
        self.has_bg = False
        self.kernel3 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.roi = None                  # the part of the frame worked on this frame (x, y, w, h), None: nothing
        self.small_roi = (0, 0, 0, 0)    # the moved part at 1/4 resolution
        self.last_boxes: list = []       # boxes of the hands seen last frame (frame pixels)
        self.faces: list = []            # [box (x, y, w, h) as the cascade found it, looks without it]
        self.frame_index = 0
        self.last_look = -FACE_EVERY     # frame_index of the last look for faces
        self.blobs_before = 0            # hand-sized blobs last frame
        self.look_pending = False        # a blob appeared since the last look
        self.face_looks = 0              # how often the cascade ran (for tests and stats)

    @classmethod
    def from_settings(cls, settings, notice=None) -> "ClassicDetector":
        """The session's detector: the player's saved calibration when there is one (not for the demo clip, whose
        drawn hand is made for the fixed range), hysteresis and smoothing on."""
        from vision import calibration
        cal = None
        if str(settings.camera).strip() != "demo":
            cal = calibration.load(settings, notice)
        det = cls(settings.width, settings.height, pitch_hand=settings.pitch_hand,
                  skin_model=cal.skin_model() if cal else None, steady=True, fps=settings.fps)
        if cal is not None:
            det.calibration_note = f"{settings.player}'s calibration from {calibration.calibration_path(settings)}"
        if notice and cal is not None:
            notice(f"classic detector: skin colours from {det.calibration_note}")
        elif notice and str(settings.camera).strip() != "demo":
            notice(f"classic detector: no calibration for {settings.player}, fixed skin range "
                   f"(`python main.py calibrate --player NAME` learns yours)")
        return det

    def use_calibration(self, cal, note: str = "") -> None:
        """Switch to a calibration's skin colours now (a recalibration during a session: `c`)."""
        self.skin_model = cal.skin_model()
        self.calibration_note = note or f"{cal.player}'s calibration"
        self.faces = []
        if self.steadier is not None:
            self.steadier.reset()

    def background_picture(self) -> np.ndarray:
        """The learned background as a full-size BGR picture (blurry: it is kept at 1/4 resolution), for a
        recalibration during a session, when the player cannot step out of the picture."""
        big = cv2.resize(self.bg_u8, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(big, cv2.COLOR_YCrCb2BGR)

    def describe(self) -> str:
        what = self.calibration_note or "fixed skin range"
        return f"classic (skin colour: {what}; background; faces excluded)"

    # ---- the pipeline ----------------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray) -> Detection:
        hands = self.detect_raw(frame).hands
        if self.steadier is not None:
            hands = self.steadier(hands)
        return Detection(hands)

    def detect_raw(self, frame: np.ndarray) -> Detection:
        """This frame's hands, without hysteresis or smoothing.

        Only the part of the frame that differs from the background (its bounding box, found at 1/4 resolution) is
        converted, tested for skin and cleaned up: elsewhere skin AND moved is empty anyway, so the result is the
        same as over the whole frame, at a fraction of the cost when the player fills a part of the picture."""
        self.frame_index += 1
        roi = self._moved_region(frame) if self.use_background else (0, 0, self.width, self.height)
        self.mask[:] = 0
        self.roi = None
        if roi is not None:
            x, y, w, h = roi
            ycc, skin = self.ycc[y:y + h, x:x + w], self.skin[y:y + h, x:x + w]
            cv2.cvtColor(frame[y:y + h, x:x + w], cv2.COLOR_BGR2YCrCb, dst=ycc)
            self.skin_model.skin(ycc, skin)
            if self.use_background:
                sx, sy, sw, sh = self.small_roi
                moved = self.fg[y:y + h, x:x + w]
                cv2.resize(self.fg_small2[sy:sy + sh, sx:sx + sw], (w, h), dst=moved, interpolation=cv2.INTER_NEAREST)
                cv2.bitwise_and(skin, moved, dst=self.mask[y:y + h, x:x + w])
            else:
                self.mask[y:y + h, x:x + w] = skin
            self._cut_faces(self.mask)
            # morphology on the region and a 2-pixel margin of zeros (the 3x3 kernels reach 1 pixel)
            x0, y0 = max(0, x - 2), max(0, y - 2)
            x1, y1 = min(self.width, x + w + 2), min(self.height, y + h + 2)
            self.roi = (x0, y0, x1 - x0, y1 - y0)
            m, tmp = self.mask[y0:y1, x0:x1], self.fg[y0:y1, x0:x1]
            cv2.morphologyEx(m, cv2.MORPH_OPEN, self.kernel3, dst=tmp)
            cv2.morphologyEx(tmp, cv2.MORPH_CLOSE, self.kernel3, dst=m)
        blobs = self._blobs()
        if self.look_for_faces and self._face_look_due(len(blobs)) and self._look_for_faces(frame, blobs):
            # a face was just found where we took a hand: take this frame's hands again without it
            self._cut_faces(self.mask)
            blobs = self._blobs()
        self.blobs_before = len(blobs)
        hands = self._hands(blobs)
        self.last_boxes = [h.box for h in hands]
        if self.use_background:
            self._learn_background()
        return Detection(hands)

    def _moved_region(self, frame: np.ndarray):
        """Where the picture differs from the background: fg_small2 (1/4 resolution) and its bounding box in frame
        pixels (x, y, w, h), or None when nothing moved.

        A hand that holds still keeps differing: the background is not learned around hands. (An earlier version
        also kept everything skin inside last frame's hand box; that let a skin-coloured thing behind the hand (an
        orange, a wooden table) join the hand and spoil its size: rank correlation 0.6 against 0.99 without, on
        tests/vision/test_accuracy.py's clips.)"""
        cv2.resize(frame, self.small_size, dst=self.small_bgr, interpolation=cv2.INTER_NEAREST)
        cv2.cvtColor(self.small_bgr, cv2.COLOR_BGR2YCrCb, dst=self.small)
        if not self.has_bg:
            self.bg[:] = self.small
            self.bg_u8[:] = self.small
            self.has_bg = True
        cv2.absdiff(self.small, self.bg_u8, dst=self.diff)
        np.max(self.diff, axis=2, out=self.diff_max)
        cv2.threshold(self.diff_max, BG_DIFF, 255, cv2.THRESH_BINARY, dst=self.fg_small)
        cv2.dilate(self.fg_small, self.kernel3, dst=self.fg_small2)
        self.small_roi = sx, sy, sw, sh = cv2.boundingRect(self.fg_small2)
        if sw == 0 or sh == 0:
            return None
        x, y = sx * SMALL, sy * SMALL
        # the last small column/row also stands for the frame's leftover pixels when the size is not a multiple of 4
        x1 = self.width if sx + sw == self.small_size[0] else (sx + sw) * SMALL
        y1 = self.height if sy + sh == self.small_size[1] else (sy + sh) * SMALL
        return x, y, x1 - x, y1 - y

    def _learn_background(self) -> None:
        """Blend the new picture into the background everywhere except around the hands."""
        self.learn[:] = 255
        for (x, y, w, h) in self.last_boxes:
            m = 16
            cv2.rectangle(self.learn, ((x - m) // SMALL, (y - m) // SMALL),
                          ((x + w + m) // SMALL, (y + h + m) // SMALL), 0, -1)
        cv2.accumulateWeighted(self.small, self.bg, BG_RATE, mask=self.learn)
        cv2.convertScaleAbs(self.bg, dst=self.bg_u8)

    def set_background(self, bgr: np.ndarray) -> None:
        """Start from a known empty-room picture (calibration) instead of the first frame."""
        ycc = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)
        cv2.resize(ycc, self.small_size, dst=self.small, interpolation=cv2.INTER_NEAREST)
        self.bg[:] = self.small
        self.bg_u8[:] = self.small
        self.has_bg = True

    # ---- faces -----------------------------------------------------------------------------------------------
    def face_boxes(self) -> list:
        """The areas cut out of the skin mask as faces (x, y, w, h, frame pixels)."""
        return [grow_face(b, self.width, self.height) for b, _ in self.faces]

    def _cut_faces(self, mask: np.ndarray) -> None:
        for x, y, w, h in self.face_boxes():
            mask[y:y + h, x:x + w] = 0

    def _face_look_due(self, blobs: int) -> bool:
        """Every FACE_EVERY frames, and at once when a blob appears (a player walking in: their face must not count
        as a hand even for the 2 frames the hysteresis asks), at most every FACE_SOON frames."""
        self.look_pending = self.look_pending or blobs > self.blobs_before
        since = self.frame_index - self.last_look
        return blobs > 0 and (since >= FACE_EVERY or (self.look_pending and since >= FACE_SOON))

    def _look_for_faces(self, frame: np.ndarray, blobs: list) -> bool:
        """Run the face cascade in the largest blobs and where faces were; True when a new face overlaps a blob."""
        from vision.faces import detect_faces
        self.face_looks += 1
        self.last_look = self.frame_index
        self.look_pending = False
        regions = []
        for px, c in blobs[:FACE_BLOBS]:
            x, y, w, h = cv2.boundingRect(c)
            regions.append(((x, y, w, h), max(FACE_MIN_PX, 0.45 * w), 1.1 * w))
        for (x, y, w, h), _ in self.faces:
            regions.append(((x - w // 2, y - h // 2, 2 * w, 2 * h), max(FACE_MIN_PX, 0.75 * w), 1.35 * w))
        found = []
        for (x, y, w, h), lo, hi in regions:
            m = int(0.15 * max(w, h))
            x0, y0 = max(0, x - m), max(0, y - m)
            x1, y1 = min(self.width, x + w + m), min(self.height, y + h + m)
            if x1 - x0 < FACE_MIN_PX or y1 - y0 < FACE_MIN_PX:
                continue
            ycc = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2YCrCb)
            skin = self.skin_model.skin(ycc, np.empty(ycc.shape[:2], np.uint8))
            for fx, fy, fw, fh in detect_faces(np.ascontiguousarray(ycc[:, :, 0]), skin, min_size=lo, max_size=hi,
                                               min_neighbors=2):
                box = (fx + x0, fy + y0, fw, fh)
                if not any(_overlap(box, b) > 0.3 for b in found):
                    found.append(box)
        kept = []
        for box, misses in self.faces:
            if not any(_overlap(box, b) > 0.3 for b in found) and misses + 1 < FACE_KEEP:
                kept.append([box, misses + 1])
        new = [box for box in found if not any(_overlap(box, b) > 0.3 for b, _ in self.faces)]
        for box in found:
            kept = [k for k in kept if _overlap(box, k[0]) <= 0.3]
            kept.append([box, 0])
        self.faces = kept
        return bool(new)

    # ---- blobs to hands --------------------------------------------------------------------------------------
    def _blobs(self) -> list:
        """(enclosed pixels, contour) of the mask's blobs large enough to be hands, largest first."""
        if self.roi is None:
            return []
        x, y, w, h = self.roi
        contours, _ = cv2.findContours(self.mask[y:y + h, x:x + w], cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE,
                                       offset=(x, y))
        scored = []
        for c in contours:
            if len(c) < 8:
                continue
            px = enclosed_pixels(c)
            if px >= MIN_AREA * self.frame_px:
                scored.append((px, c))
        scored.sort(key=lambda pc: pc[0], reverse=True)
        return scored

    def _hands(self, blobs: list) -> list:
        hands = []
        for px, c in blobs[:2]:
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
        self.faces = []
        self.blobs_before = 0
        self.look_pending = False
        if self.steadier is not None:
            self.steadier.reset()


def grow_face(box, width: int, height: int) -> tuple[int, int, int, int]:
    """A face box widened by FACE_GROW, clipped to the frame."""
    x, y, w, h = box
    gl, gt, gr, gb = FACE_GROW
    x0, y0 = max(0, int(x - gl * w)), max(0, int(y - gt * h))
    x1, y1 = min(width, int(x + w + gr * w)), min(height, int(y + h + gb * h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _overlap(a, b) -> float:
    """Intersection over the smaller box."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / smaller if smaller > 0 else 0.0


def enclosed_pixels(contour) -> float:
    """Pixels enclosed by an 8-connected outer contour (CHAIN_APPROX_NONE): polygon area + boundary/2 + 1 (Pick)."""
    return cv2.contourArea(contour) + len(contour) / 2.0 + 1.0
