"""The `landmarks` detector: MediaPipe Hands' palm detector and 21-landmark model, run with LiteRT, tracked by us.

Per frame: every tracked hand's crop comes from its landmarks of the previous frame (cheap: only the landmark
model runs, ~2 ms on one LiteRT thread, ~1.3 on the session's two); the palm detector (~5 ms) runs only when no hand
is tracked, and every REDETECT_EVERY frames while fewer than two are, to pick up a second hand. A hand whose
presence score falls below PRESENCE is dropped. A fast move is followed without the palm search where possible
(LandmarkDetector._track: a grown crop, a refit).
In a live session (``background_search``) the look for a second hand runs on a copy of the frame in a worker thread
(LiteRT releases the GIL while it invokes), so it no longer adds its ~5-7 ms to every tenth frame's hand state; its
palms are tried on the frame in hand when it is done. Analysis and the benches keep it in line, so a video gives the
same hands whatever the timing.

The pitch size comes from the palm, which does not change shape when the fingers move: the area of the polygon
wrist - thumb base - index/middle/ring/little finger bases, as a fraction of the frame, times PALM_TO_HAND so its
numbers sit in the same range as the classic detector's whole-hand area (area_far / area_near keep their meaning).
"""
from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from game.quiet import quiet_stderr
from vision.detector import DetectorUnavailable, Detection, Hand, assign_roles
from vision.palm import PalmDetector, Roi, rotated_rect, rotation_between

LM_INPUT = 224
PRESENCE = 0.5            # MediaPipe's own threshold on the hand-presence score
MAX_HANDS = 2
REGROW = 1.5             # a tracked crop that lost the hand is tried once more this much larger
REFIT = 1.2              # landmarks whose next crop differs more than this in size are taken again from it
MAX_GROWTH = 1.25        # a change of size larger than this a frame is a jump, not a motion (see _growth)
GROWTH_SHARE = 0.5       # a tracked crop goes on with this share of the hand's last change of size (log scale)
REDETECT_EVERY = 10       # frames between palm searches while one hand is tracked (a second may come in)
SAME_HAND_IOU = 0.4       # two crops overlapping this much are one hand
SAME_HAND_INSIDE = 0.6    # ... and two hands whose landmark boxes overlap this much of the smaller one
# landmarks -> next frame's crop (MediaPipe hand_landmark_landmarks_to_roi)
TRACK_SUBSET = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)   # wrist, thumb base, finger bases and their next joints
TRACK_SCALE = 2.0
TRACK_SHIFT_Y = -0.1
PALM_POLYGON = (0, 1, 5, 9, 13, 17)   # wrist, thumb CMC, index/middle/ring/little MCP: rigid, fingers don't move it
PALM_TO_HAND = 5.2        # whole hand area / palm polygon area, measured on vision/handdraw.py's hand (5.0-5.45): so the
                          # demo clip plays the same notes with either detector; a player's near/far calibration sets
                          # the range for a real hand
#: the skeleton to draw: MediaPipe's hand connections
CONNECTIONS = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
               (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))


def session_threads(settings) -> int:
    """Threads the landmark model runs on in a live session: settings.landmark_threads, or (0) 2 where this process
    may run on 2 cores or more (its affinity). Why 2: a session's frames come 33 ms apart, so what counts is how soon
    one frame's hand state is out, and a second thread takes a 640x480 frame's model run from ~2.1 to ~1.3 ms here (a
    hand that jumps costs two runs: ~6.2 -> ~4.0 ms) for ~0.5 ms more CPU a frame. The palm detector stays on one:
    it runs in line only while no hand is tracked, and otherwise in its worker thread beside the frame, where a
    second thread would compete with the landmark model for the same cores."""
    if settings.landmark_threads:
        return int(settings.landmark_threads)
    from game.cputime import cores
    return 2 if cores() >= 2 else 1


def load_interpreter(path, threads: int | None = 1):
    """A LiteRT interpreter, allocated (its 'Created TensorFlow Lite XNNPACK delegate' line kept off the terminal)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise DetectorUnavailable("LiteRT (ai-edge-litert) is not installed: run `make setup`") from None
    with quiet_stderr():
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    return it


def palm_area(xy: np.ndarray) -> float:
    """Shoelace area (pixels) of the palm polygon."""
    p = xy[list(PALM_POLYGON)]
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def roi_from_landmarks(xy: np.ndarray) -> Roi:
    """Next frame's crop from this frame's landmarks (image pixels), MediaPipe's HandLandmarksToRect + transform."""
    x0, y0 = xy[0]
    x1 = ((xy[5, 0] + xy[13, 0]) / 2 + xy[9, 0]) / 2
    y1 = ((xy[5, 1] + xy[13, 1]) / 2 + xy[9, 1]) / 2
    rotation = rotation_between(x0, y0, x1, y1)
    pts = xy[list(TRACK_SUBSET)]
    centre = (pts.min(0) + pts.max(0)) / 2
    c, s = math.cos(-rotation), math.sin(-rotation)
    d = pts - centre
    proj = np.stack([d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c], axis=1)
    lo, hi = proj.min(0), proj.max(0)
    pc = (lo + hi) / 2
    cr, sr = math.cos(rotation), math.sin(rotation)
    cx = pc[0] * cr - pc[1] * sr + centre[0]
    cy = pc[0] * sr + pc[1] * cr + centre[1]
    w, h = hi - lo
    return rotated_rect(cx, cy, w, h, rotation, TRACK_SCALE, TRACK_SHIFT_Y, 0, 0)


class LandmarkModel:
    """One hand crop -> 21 landmarks (image pixels), presence score, P(player's right hand)."""

    def __init__(self, interpreter):
        self.it = interpreter
        outs = {o["name"]: o for o in self.it.get_output_details()}
        names = sorted(outs)   # Identity: landmarks, _1: presence, _2: handedness, _3: world landmarks
        self.landmarks_index = outs[names[0]]["index"]
        self.presence_index = outs[names[1]]["index"]
        self.handedness_index = outs[names[2]]["index"]
        self.input_index = self.it.get_input_details()[0]["index"]
        self.input_view = self.it.tensor(self.input_index)   # a function: each call gives a view of the input
        self.crop = np.zeros((LM_INPUT, LM_INPUT, 3), np.uint8)
        self.rgb = np.zeros((LM_INPUT, LM_INPUT, 3), np.uint8)
        self.dst = np.array([[0, 0], [LM_INPUT, 0], [0, LM_INPUT]], np.float32)

    def run(self, frame: np.ndarray, roi: Roi):
        m = cv2.getAffineTransform(roi.corners(), self.dst)
        cv2.warpAffine(frame, m, (LM_INPUT, LM_INPUT), dst=self.crop, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT)
        cv2.cvtColor(self.crop, cv2.COLOR_BGR2RGB, dst=self.rgb)
        # scaled straight into the interpreter's input (set_tensor would copy it there once more); the view lives
        # only in this statement: invoke refuses to run while one exists
        np.multiply(self.rgb, 1.0 / 255.0, out=self.input_view()[0], casting="unsafe")
        self.it.invoke()
        presence = float(self.it.get_tensor(self.presence_index).ravel()[0])
        # MediaPipe's "right" assumes a mirrored (selfie) picture; ours is the camera's own, so it is the other hand
        right = 1.0 - float(self.it.get_tensor(self.handedness_index).ravel()[0])
        raw = self.it.get_tensor(self.landmarks_index).reshape(21, 3)
        xy = roi.to_image(raw[:, :2].astype(np.float32), LM_INPUT).astype(np.float32)
        return xy, presence, right


class LandmarkDetector:
    name = "landmarks"

    def __init__(self, palm_interpreter, landmark_interpreter, width: int, height: int, pitch_hand: str = "right",
                 model: str = "lite", max_hands: int = MAX_HANDS, background_search: bool = False):
        self.width, self.height = width, height
        self.frame_px = float(width * height)
        self.palm = PalmDetector(palm_interpreter, width, height)
        self.model = LandmarkModel(landmark_interpreter)
        self.pitch_hand = pitch_hand
        self.size = model
        self.max_hands = max_hands
        self.rois: list = []            # crops for the hands tracked into the next frame
        self.since_search = 0
        self.palm_runs = 0              # counters for the stats and the bench
        self.threads: int | None = 1    # the landmark model's LiteRT threads (from_settings sets it)
        self.landmark_runs = 0
        self.tracking = True            # False: forget the hands every frame, search palms each time (the bench)
        self.background_search = background_search
        self._pool: ThreadPoolExecutor | None = None
        self._search = None             # the Future of a palm search running on _search_frame
        self._search_frame: np.ndarray | None = None

    @classmethod
    def from_settings(cls, settings, threads: int | None = 1, background_search: bool = False,
                      landmark_threads: int | None = -1) -> "LandmarkDetector":
        """threads: LiteRT's per interpreter (None: LiteRT's default, which is one thread in ai-edge-litert 2.3, for
        bench vision); landmark_threads: the landmark model's alone (-1: as ``threads``; the live child gives
        session_threads()); background_search: look for a second hand in a worker thread (the live vision child)."""
        from vision.models import ModelsMissing, model_paths
        try:
            paths = model_paths(settings.models_dir, settings.landmark_model)
        except ModelsMissing as e:
            raise DetectorUnavailable(str(e)) from None
        if landmark_threads == -1:
            landmark_threads = threads
        det = cls(load_interpreter(paths["palm"], threads), load_interpreter(paths["landmark"], landmark_threads),
                  settings.width, settings.height, settings.pitch_hand, settings.landmark_model,
                  background_search=background_search)
        det.threads = landmark_threads
        return det

    def describe(self) -> str:
        on = f", {self.threads} threads" if self.threads and self.threads > 1 else ""
        return f"landmarks ({self.size} models on LiteRT{on})"

    def detect(self, frame: np.ndarray) -> Detection:
        found = []   # (presence, xy, right, roi)
        if not self.tracking:
            self.rois = []
        for roi in self.rois:
            self._track(frame, roi, found)
        self.since_search += 1
        if not found:                   # nothing to follow: the palm search, now, on this frame
            self._settle_search()       # (a search still running holds the palm interpreter)
            self._add_palms(frame, self._search_now(frame), found)
        elif len(found) < self.max_hands:
            if self.background_search:
                self._add_palms(frame, self._search_behind(frame), found)
            elif self.since_search >= REDETECT_EVERY:
                self._add_palms(frame, self._search_now(frame), found)
        kept = _distinct_hands(found)[:self.max_hands]
        self.rois = [f[3] for f in kept]
        hands = [self._hand(presence, xy, right) for presence, xy, right, _ in kept]
        return Detection(assign_roles(hands, self.pitch_hand))

    def _search_now(self, frame) -> list:
        self.since_search = 0
        self.palm_runs += 1
        return self.palm.detect(frame, self.max_hands)

    def _search_behind(self, frame) -> list:
        """Palms from the worker's search when it has finished (else []); a new search of a copy of this frame
        every REDETECT_EVERY frames. Its palms are a frame or more old: the landmark crop (2.6 palms wide) still
        holds a hand that moved a little, and a hand already tracked is left out by its overlap."""
        if self._search is not None:
            if not self._search.done():
                return []
            search, self._search = self._search, None
            return search.result()
        if self.since_search < REDETECT_EVERY:
            return []
        self.since_search = 0
        self.palm_runs += 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="palm-search")
        if self._search_frame is None or self._search_frame.shape != frame.shape:
            self._search_frame = np.empty_like(frame)
        np.copyto(self._search_frame, frame)
        self._search = self._pool.submit(self.palm.detect, self._search_frame, self.max_hands)
        return []

    def _settle_search(self) -> None:
        """Wait for a search still running (a few ms at most) and drop it."""
        if self._search is not None:
            search, self._search = self._search, None
            search.exception()

    def _add_palms(self, frame, palms: list, found: list) -> None:
        """Landmarks from each palm's crop that is not a hand already found."""
        for palm in palms:
            roi = self.palm.roi(palm)
            if any(_overlap(roi, other[3]) > SAME_HAND_IOU for other in found):
                continue
            self._try(frame, roi, found)

    def _track(self, frame, roi: Roi, found: list) -> bool:
        """Follow a tracked hand into this frame from last frame's crop; True when found (and added to found).

        A hand that moved nearer faster than the crop allows is looked for once more in the crop grown REGROW
        times (~3 ms, where the palm search takes ~9). Landmarks from a crop far larger than the hand are rough
        (a hand that jumped away read 0.039 of the frame for 0.023, and took three frames to settle), so when the
        crop they give differs from the one used by more than REFIT in size, they are taken once more from it.

        The crop is last frame's, grown or shrunk with a hand moving nearer or away (_growth): a crop left behind
        by a hand moving away is too large, and a crop too large reads the hand larger still (1.3x the fitted size
        read 1.26x the area), so the crop fell further behind each frame and the hand was lost (test clips: 72 of
        1064 frames more than 1.3x off and 36 missed, against 5 and 14 now).
        """
        past = (*roi.past[-1:], roi.size)
        roi = dataclasses.replace(roi, size=roi.size * _growth(roi))
        if not self._try(frame, roi, found, past):
            roi = dataclasses.replace(roi, size=roi.size * REGROW)
            if not self._try(frame, roi, found, past):
                return False
        fitted = found[-1][3]
        if abs(math.log(fitted.size / roi.size)) > math.log(REFIT):
            rough = found.pop()
            if not self._try(frame, fitted, found, past):
                found.append(rough)
        return True

    def _try(self, frame, roi: Roi, found: list, past: tuple = ()) -> bool:
        """Run the landmark model on one crop; True (and the hand added to found, its next crop remembering the
        tracked sizes ``past``) when it holds a hand."""
        self.landmark_runs += 1
        xy, presence, right = self.model.run(frame, roi)
        if presence >= PRESENCE:
            found.append((presence, xy, right, dataclasses.replace(roi_from_landmarks(xy), past=past)))
            return True
        return False

    def _hand(self, presence: float, xy: np.ndarray, right: float) -> Hand:
        x0, y0 = np.floor(xy.min(0)).astype(int)
        x1, y1 = np.ceil(xy.max(0)).astype(int)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(self.width - 1, x1), min(self.height - 1, y1)
        palm = xy[list(PALM_POLYGON)].mean(0)
        area = min(1.0, PALM_TO_HAND * palm_area(xy) / self.frame_px)
        return Hand(area=area, cx=1.0 - float(palm[0]) / self.width, cy=float(palm[1]) / self.height,
                    box=(int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))), confidence=presence,
                    handedness="right" if right >= 0.5 else "left", landmarks=xy)

    def reset(self) -> None:
        self._settle_search()
        self.rois = []
        self.since_search = 0

    def close(self) -> None:
        """Stop the search thread (after the search it may be running)."""
        self._settle_search()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _growth(roi: Roi) -> float:
    """How much to grow (or shrink) a tracked crop for this frame: GROWTH_SHARE of the hand's last change of size,
    when it changed the same way the frame before too, and by at most MAX_GROWTH each time. A larger change is a
    jump, and the crop settling after it is not a motion."""
    sizes = (*roi.past, roi.size)
    if len(sizes) < 3:
        return 1.0
    before, last = sizes[-2] / sizes[-3], sizes[-1] / sizes[-2]
    moving = all(1 / MAX_GROWTH <= c <= MAX_GROWTH for c in (before, last)) and (before - 1) * (last - 1) > 0
    return last ** GROWTH_SHARE if moving else 1.0


def _box_area(xy: np.ndarray) -> float:
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    return float((x1 - x0) * (y1 - y0))


def _nested(a: tuple, b: tuple) -> bool:
    """The smaller of two found hands' landmark boxes lies mostly (SAME_HAND_INSIDE) inside the other's."""
    (ax0, ay0), (ax1, ay1) = a[1].min(0), a[1].max(0)
    (bx0, by0), (bx1, by1) = b[1].min(0), b[1].max(0)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min(_box_area(a[1]), _box_area(b[1]))
    return smaller > 0 and inter / smaller > SAME_HAND_INSIDE


def _distinct_hands(found: list) -> list:
    """The found hands (presence, landmarks, right, next crop) that are not one hand found twice, most present
    first. Crops overlapping by IoU are one hand: the more present is kept. A palm found on a hand's fingers gives a
    second, squashed copy nested inside the hand (a small hand over an orange: 0.0002-0.007 of the frame for 0.013,
    with the other handedness, so it took the pitch), whose crop is too much smaller for IoU to tell: of such a
    pair the larger is kept, whichever is more present. (Two real hands crossing, one mostly in front of the other,
    are then one hand too, until they part.)"""
    kept = []
    for f in sorted(found, key=lambda f: -f[0]):
        if any(_overlap(f[3], k[3]) > SAME_HAND_IOU for k in kept):
            continue
        twin = next((n for n, k in enumerate(kept) if _nested(f, k)), None)
        if twin is None:
            kept.append(f)
        elif _box_area(f[1]) > _box_area(kept[twin][1]):
            kept[twin] = f
    return sorted(kept, key=lambda f: -f[0])


def _overlap(a: Roi, b: Roi) -> float:
    """IoU of two crops, treated as axis-aligned squares (good enough to tell one hand from two)."""
    from vision.palm import iou
    return float(iou(np.array([a.cx, a.cy, a.size, a.size]), np.array([[b.cx, b.cy, b.size, b.size]]))[0])
