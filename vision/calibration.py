"""A player's saved calibration for the classic detector: what it holds, where it lives, and how it is learned.

Learned by `python main.py calibrate` (vision/calibrate.py) and, later, by `c` during a session: both call
``learn_calibration(room_frames, hand_frames, box, ...)`` with plain BGR frames, so it runs in any process.

Learning: the empty room's median picture is the background; in each hand frame GrabCut, seeded by the box (inside:
probable hand; outside: room) and by the difference from the background (unchanged inside the box: probably room,
unchanged outside: surely room), cuts the hand out; the hand's pixels against the room's pixels give the skin
colour table (vision/skin.py). Frames of the hand held near and far give the hand's largest and smallest size
(area_near / area_far, the ends of the pitch range), measured by the classic detector with the new colours.

Saved as JSON, one file per player: settings.calibration_dir, else calibration/ in the user config folder
(game/userdirs.py: ~/.config/handtone/calibration on Linux), named after the player. A file of another version, or
unreadable, is ignored with a notice (the fixed skin range is used).
"""
from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from game.atomicfile import write_atomic
from vision import skin

VERSION = 1
GRABCUT_ITERATIONS = 4
GRABCUT_FRAMES = 4           # hand frames cut out with GrabCut (spread over those given): enough pixels, bounded time
MOVED = 24                   # a pixel differing from the background by more than this (any YCrCb channel) changed
MIN_HAND_PIXELS = 2000       # fewer than this in the cut-out: the hand was not in the box


class CalibrationError(RuntimeError):
    """Calibration could not be learned from these frames; the message says what to do."""


@dataclass
class Calibration:
    player: str
    skin_table: np.ndarray                 # (32, 32) bool over (Cr, Cb) bins of 8
    y_min: int                             # luma floor
    area_near: float | None = None         # hand area held near (fraction of the frame), None when not measured
    area_far: float | None = None          # ... and far
    landmarks_near: float | None = None    # the same two sizes as the landmarks detector measures them (palm-based),
    landmarks_far: float | None = None     # None when its models were not there at calibration
    frame_size: tuple[int, int] = (640, 480)
    created: str = ""
    source: str = ""
    facts: dict = field(default_factory=dict)   # what was measured (pixels used, room pixels taken as skin, ...)

    def skin_model(self) -> skin.SkinModel:
        return skin.SkinModel(self.skin_table, self.y_min)

    def to_json(self) -> dict:
        return {"version": VERSION, "player": self.player, "created": self.created, "source": self.source,
                "frame_size": list(self.frame_size),
                "skin": {"space": "YCrCb", "bins": skin.C_BINS, "y_min": self.y_min,
                         "table": ["".join("1" if v else "0" for v in row) for row in self.skin_table]},
                "area_near": self.area_near, "area_far": self.area_far,
                "landmarks_near": self.landmarks_near, "landmarks_far": self.landmarks_far, "facts": self.facts}

    @classmethod
    def from_json(cls, data: dict) -> "Calibration":
        if data.get("version") != VERSION:
            raise CalibrationError(f"calibration version {data.get('version')!r}, expected {VERSION}")
        s = data["skin"]
        table = np.array([[c == "1" for c in row] for row in s["table"]], bool)
        if table.shape != (skin.C_BINS, skin.C_BINS):
            raise CalibrationError(f"skin table of shape {table.shape}")
        return cls(player=data["player"], skin_table=table, y_min=int(s["y_min"]),
                   area_near=data.get("area_near"), area_far=data.get("area_far"),
                   landmarks_near=data.get("landmarks_near"), landmarks_far=data.get("landmarks_far"),
                   frame_size=tuple(data.get("frame_size") or (640, 480)), created=data.get("created", ""),
                   source=data.get("source", ""), facts=data.get("facts") or {})

    def summary(self) -> str:
        sizes = (f", hand area near {self.area_near:.3f} / far {self.area_far:.3f} of the frame"
                 if self.area_near and self.area_far else "")
        return f"{int(self.skin_table.sum())} skin colour bins, luma >= {self.y_min}{sizes}"


# ---- where ---------------------------------------------------------------------------------------------------------
def calibration_dir(configured: str = "") -> Path:
    if configured:
        return Path(configured).expanduser()
    from game.userdirs import config_dir
    return config_dir() / "calibration"


#: names Windows keeps for devices, whatever the extension ("con.json" is the console there)
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def file_name(player: str) -> str:
    """A file name for the player: letters and digits kept (any script), the rest '_', case folded; a name Windows
    keeps for a device gets a '_' after it (the same on every OS, so a calibration folder can be copied across)."""
    name = unicodedata.normalize("NFC", player).strip().casefold()
    name = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._") or "player"
    name = name[:80]
    return (name + "_" if name.split(".")[0] in WINDOWS_RESERVED else name) + ".json"


def calibration_path(settings) -> Path:
    return calibration_dir(settings.calibration_dir) / file_name(settings.player)


def save(cal: Calibration, settings) -> Path:
    path = calibration_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, (json.dumps(cal.to_json(), indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def load(settings, notice=None) -> Calibration | None:
    """The player's saved calibration, or None (none saved, or unusable: ``notice`` is told why)."""
    path = calibration_path(settings)
    if not path.is_file() and os.name != "nt":   # saved before reserved names got their '_' (elsewhere than Windows)
        path = path.with_name(path.name.replace("_.json", ".json")) if path.name.endswith("_.json") else path
    if not path.is_file():
        return None
    try:
        cal = Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, CalibrationError) as e:
        if notice:
            notice(f"calibration {path} not used ({e}): run `python main.py calibrate` again")
        return None
    if cal.player.casefold() != settings.player.casefold():
        return None  # two names sharing a file name: not this player's
    return cal


def with_calibrated_range(settings, cal: Calibration | None, defaults=None, landmarks: bool = False):
    """settings with the calibration's near/far sizes (the landmarks detector's own when ``landmarks``), unless
    either was set (differs from the default)."""
    from game.settings import Settings
    defaults = defaults or Settings()
    if cal is None:
        return settings
    near, far = (cal.landmarks_near, cal.landmarks_far) if landmarks else (cal.area_near, cal.area_far)
    if not near or not far or not 0.0 < far < near <= 1.0:
        return settings
    if settings.area_near != defaults.area_near or settings.area_far != defaults.area_far:
        return settings
    return settings.replace(area_near=float(near), area_far=float(far))


def classic_will_run(settings) -> bool:
    """Whether a session with these settings detects with the classic detector (auto: when the landmark models or
    LiteRT are missing), without loading any model."""
    if settings.detector == "classic":
        return True
    if settings.detector == "landmarks":
        return False
    import importlib.util

    from vision.models import ModelsMissing, model_paths
    try:
        model_paths(settings.models_dir, settings.landmark_model)
    except ModelsMissing:
        return True
    return importlib.util.find_spec("ai_edge_litert") is None


def session_settings(settings, notice=None):
    """The settings a session should run with: the player's calibrated pitch range (area_near / area_far, as the
    detector that will run measures them) on a real camera when the range was not set. Call it once in the launcher,
    before the children start, so the synth, the window and the reports share the range."""
    if str(settings.camera).strip() == "demo":
        return settings
    cal = load(settings)
    changed = with_calibrated_range(settings, cal, landmarks=not classic_will_run(settings))
    if notice and changed is not settings:
        notice(f"pitch range from {settings.player}'s calibration: hand area {changed.area_far:.3f} (lowest) to "
               f"{changed.area_near:.3f} (highest)")
    return changed


# ---- learning ------------------------------------------------------------------------------------------------------
def learn_calibration(room_frames: list, hand_frames: list, box: tuple[int, int, int, int], player: str = "Player",
                      near_frames: list | None = None, far_frames: list | None = None,
                      source: str = "") -> Calibration:
    """Learn a calibration from BGR frames: the empty room, the hand held in ``box`` (x, y, w, h, camera pixels),
    and optionally the hand held near and far (for area_near / area_far)."""
    if not room_frames or not hand_frames:
        raise CalibrationError("no frames of the empty room or of the hand in the box")
    h, w = room_frames[0].shape[:2]
    background = np.median(np.stack(room_frames), axis=0).astype(np.uint8)
    bg_ycc = cv2.cvtColor(background, cv2.COLOR_BGR2YCrCb)
    room_px = _sample(np.concatenate([cv2.cvtColor(f, cv2.COLOR_BGR2YCrCb).reshape(-1, 3) for f in room_frames]))
    picks = np.linspace(0, len(hand_frames) - 1, min(GRABCUT_FRAMES, len(hand_frames))).round().astype(int)
    hand_parts = []
    for i in sorted(set(picks.tolist())):
        frame = hand_frames[i]
        mask = hand_mask(frame, background, box)
        hand_parts.append(cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)[mask > 0])
    hand_px = np.concatenate(hand_parts)
    if len(hand_px) < MIN_HAND_PIXELS * len(hand_parts) / 2:
        raise CalibrationError("no hand found in the box: hold your open hand inside the box, filling most of it, "
                               "and keep the rest of you out of it")
    table = skin.learn_table(hand_px, room_px)
    y_min = skin.y_floor(hand_px)
    cal = Calibration(player=player, skin_table=table, y_min=y_min, frame_size=(w, h),
                      created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), source=source)
    model = cal.skin_model()
    room_skin = _skin_share(model, bg_ycc)
    hand_ycc = hand_px.reshape(-1, 1, 3)
    hand_skin = float(np.count_nonzero(model.skin(hand_ycc, np.empty(hand_ycc.shape[:2], np.uint8)))) / len(hand_px)
    cal.facts = {"hand_pixels": int(len(hand_px)), "room_taken_as_skin": round(room_skin, 5),
                 "hand_taken_as_skin": round(hand_skin, 4), "grabcut_frames": len(hand_parts)}
    if near_frames and far_frames:
        near = hand_area(near_frames, cal, background, "near")
        far = hand_area(far_frames, cal, background, "far")
        cal.facts.update({"near_frames_with_hand": near[1], "far_frames_with_hand": far[1]})
        if not far[0] < near[0]:
            raise CalibrationError(f"the hand held near ({near[0]:.3f} of the frame) was not bigger than held far "
                                   f"({far[0]:.3f}): hold it close to the camera first, then at arm's length")
        cal.area_near, cal.area_far = round(near[0], 5), round(far[0], 5)
    return cal


def hand_mask(frame: np.ndarray, background: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The hand in ``box`` (uint8 0/255, frame size) by GrabCut, seeded by the box and the background difference."""
    h, w = frame.shape[:2]
    x, y, bw, bh = box
    moved = _moved(frame, background)
    # GrabCut works on the box and a margin around it: cheaper than the whole frame, and the margin gives it room
    m = max(bw, bh) // 3
    x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m)
    crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
    seed = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    inside = np.zeros(crop.shape[:2], bool)
    inside[y - y0:y - y0 + bh, x - x0:x - x0 + bw] = True
    mv = moved[y0:y1, x0:x1] > 0
    seed[~inside & mv] = cv2.GC_PR_BGD          # the arm and body outside the box: leave it to GrabCut
    seed[inside & ~mv] = cv2.GC_PR_BGD          # the room seen through the fingers
    seed[inside & mv] = cv2.GC_PR_FGD
    if not np.any(seed == cv2.GC_PR_FGD):
        return np.zeros((h, w), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(crop, seed, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    fg = ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)) & inside
    out = np.zeros((h, w), np.uint8)
    out[y0:y1, x0:x1][fg] = 255
    # the colour model wants clean hand pixels: drop the cut's border, where hand and room blend
    return cv2.erode(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


def measure_landmarks_range(cal: Calibration, near_frames: list, far_frames: list, settings) -> str:
    """Fill cal.landmarks_near/far from the near and far pictures with the landmarks detector (its palm-based size
    differs from the classic whole-hand area); returns what happened, for the player."""
    from vision.detector import DetectorUnavailable
    from vision.landmarks import LandmarkDetector
    if not near_frames or not far_frames:
        return "no near/far pictures"
    try:
        det = LandmarkDetector.from_settings(settings)
    except DetectorUnavailable as e:
        return f"landmarks detector not measured ({e})"
    sizes = {}
    for which, frames in (("near", near_frames), ("far", far_frames)):
        det.reset()
        areas = [d.hand.area for d in (det.detect(f) for f in frames) if d.present]
        if len(areas) < max(1, len(frames) // 2):
            return f"landmarks detector found the hand held {which} in {len(areas)} of {len(frames)} pictures"
        sizes[which] = float(np.median(areas))
    if not sizes["far"] < sizes["near"]:
        return "landmarks detector: the hand held near was not bigger than held far"
    cal.landmarks_near, cal.landmarks_far = round(sizes["near"], 5), round(sizes["far"], 5)
    return f"landmarks detector: hand size near {cal.landmarks_near:.3f} / far {cal.landmarks_far:.3f}"


def hand_area(frames: list, cal: Calibration, background: np.ndarray, which: str) -> tuple[float, int]:
    """(median area, frames with a hand) of the hand in ``frames``, by the classic detector with ``cal``'s colours."""
    from vision.classic import ClassicDetector
    h, w = frames[0].shape[:2]
    det = ClassicDetector(w, h, skin_model=cal.skin_model(), steady=False, faces=False)
    det.set_background(background)
    areas = [r.hand.area for r in (det.detect(f) for f in frames) if r.present]
    if len(areas) < max(1, len(frames) // 2):
        raise CalibrationError(f"the hand held {which} was found in {len(areas)} of {len(frames)} pictures: "
                               f"keep the whole hand in the picture, palm to the camera, and calibrate again")
    return float(np.median(areas)), len(areas)


def _moved(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    a = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb)
    b = cv2.cvtColor(background, cv2.COLOR_BGR2YCrCb)
    d = cv2.absdiff(cv2.GaussianBlur(a, (5, 5), 0), cv2.GaussianBlur(b, (5, 5), 0)).max(axis=2)
    return ((d > MOVED) * 255).astype(np.uint8)


def _sample(px: np.ndarray, n: int = 400_000) -> np.ndarray:
    if len(px) <= n:
        return px
    return px[np.random.default_rng(0).choice(len(px), n, replace=False)]


def _skin_share(model: skin.SkinModel, ycc: np.ndarray) -> float:
    out = np.empty(ycc.shape[:2], np.uint8)
    return float(np.count_nonzero(model.skin(np.ascontiguousarray(ycc), out))) / out.size
