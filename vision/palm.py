"""MediaPipe's palm detector, decoded by us: SSD anchors, boxes and 7 keypoints, weighted non-maximum suppression,
letterbox removal, and the rotated square crop (a "ROI") that the landmark model wants.

Why our own: the mediapipe package does all this in C++ graphs but weighs ~1 GB and pins numpy<2; the model files
alone plus these ~150 lines of numpy do the same job. The numbers (anchor layout, scales, thresholds, the 2.6x crop
shifted half a palm towards the fingers) are those of MediaPipe's palm_detection_cpu and
hand_detection_to_roi graphs, so the models see the inputs they were trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

INPUT = 192
MIN_SCORE = 0.5
NMS_IOU = 0.3
# detection -> landmark-model ROI (MediaPipe hand_detection_to_roi): keypoint 0 = wrist centre, 2 = middle finger
# base; the palm box is scaled 2.6x, shifted half its height towards the fingers, made square
ROI_SCALE = 2.6
ROI_SHIFT_Y = -0.5
WRIST, MIDDLE_BASE = 0, 2


def ssd_anchors() -> np.ndarray:
    """(2016, 2) anchor centres, normalised: 24x24 cells x 2 anchors (stride 8), then 12x12 x 6 (3 layers of
    stride 16, merged as MediaPipe's SsdAnchorsCalculator does). Fixed anchor size: width = height = 1."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = INPUT // stride
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


@dataclass
class Palm:
    score: float
    box: np.ndarray          # (4,) x_centre, y_centre, w, h, normalised to the image
    keypoints: np.ndarray    # (7, 2) normalised to the image


@dataclass
class Roi:
    """A rotated square in image pixels: centre, side, rotation (radians, counter-clockwise as MediaPipe's)."""
    cx: float
    cy: float
    size: float
    rotation: float
    past: tuple = ()         # a tracked hand's crop sizes one and two frames before this one's (newest last)

    def corners(self) -> np.ndarray:
        """(3, 2) image points of the crop's top-left, top-right, bottom-left (for an affine warp)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        half = self.size / 2.0
        pts = np.array([[-half, -half], [half, -half], [-half, half]], np.float32)
        rot = np.array([[c, -s], [s, c]], np.float32)
        return pts @ rot.T + np.array([self.cx, self.cy], np.float32)

    def to_image(self, xy: np.ndarray, side: int) -> np.ndarray:
        """Points in crop pixels (0..side) -> image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        local = (xy / side - 0.5) * self.size
        return np.stack([local[:, 0] * c - local[:, 1] * s + self.cx,
                         local[:, 0] * s + local[:, 1] * c + self.cy], axis=1)


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_between(x0: float, y0: float, x1: float, y1: float) -> float:
    """The rotation that turns the vector (x0,y0)->(x1,y1) (image pixels, y down) to point straight up."""
    return normalize_radians(math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0))


def rotated_rect(cx, cy, w, h, rotation, scale, shift_y, width, height) -> Roi:
    """MediaPipe's RectTransformation on a pixel rect: shift along the rotated axis, square on the long side,
    scale."""
    cx += -h * shift_y * math.sin(rotation)
    cy += h * shift_y * math.cos(rotation)
    side = max(w, h) * scale
    return Roi(cx, cy, side, rotation)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of box a (4,) against boxes b (n, 4); boxes as centre x, y, w, h."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0 = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2
    bx1, by1 = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[2] * a[3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, max_out: int) -> list:
    """MediaPipe's WEIGHTED suppression: each kept detection is the score-weighted mean of those overlapping it."""
    order = np.argsort(-scores)
    scores, boxes, keypoints = scores[order], boxes[order], keypoints[order]
    alive = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        overlap = alive & (iou(boxes[i], boxes) > NMS_IOU)
        w = scores[overlap]
        total = w.sum()
        out.append(Palm(float(scores[i]), (boxes[overlap] * w[:, None]).sum(0) / total,
                        (keypoints[overlap] * w[:, None, None]).sum(0) / total))
        alive &= ~overlap
        if len(out) >= max_out:
            break
    return out


class PalmDetector:
    """Frame (BGR, any size) -> palms, normalised to the frame. Buffers preallocated for one frame size."""

    def __init__(self, interpreter, width: int, height: int, min_score: float = MIN_SCORE):
        self.it = interpreter
        self.it.allocate_tensors()
        inp = self.it.get_input_details()[0]
        outs = sorted(self.it.get_output_details(), key=lambda o: o["shape"][-1], reverse=True)
        self.input_index = inp["index"]
        self.boxes_index, self.scores_index = outs[0]["index"], outs[1]["index"]
        self.anchors = ssd_anchors()
        self.min_score = min_score
        self.logit_min = math.log(min_score / (1.0 - min_score))
        self.width, self.height = width, height
        # letterbox: the frame scaled to fit 192x192, centred, zero borders
        self.scale = INPUT / max(width, height)
        self.rw, self.rh = round(width * self.scale), round(height * self.scale)
        self.px, self.py = (INPUT - self.rw) // 2, (INPUT - self.rh) // 2
        self.small = np.empty((self.rh, self.rw, 3), np.uint8)
        self.rgb = np.zeros((INPUT, INPUT, 3), np.uint8)
        self.tensor = np.zeros((1, INPUT, INPUT, 3), np.float32)

    def detect(self, frame: np.ndarray, max_palms: int = 2) -> list:
        cv2.resize(frame, (self.rw, self.rh), dst=self.small, interpolation=cv2.INTER_AREA)
        cv2.cvtColor(self.small, cv2.COLOR_BGR2RGB, dst=self.rgb[self.py:self.py + self.rh, self.px:self.px + self.rw])
        np.multiply(self.rgb, 1.0 / 255.0, out=self.tensor[0], casting="unsafe")
        self.it.set_tensor(self.input_index, self.tensor)
        self.it.invoke()
        raw_scores = self.it.get_tensor(self.scores_index)[0, :, 0]
        keep = np.nonzero(raw_scores > self.logit_min)[0]
        if keep.size == 0:
            return []
        raw = self.it.get_tensor(self.boxes_index)[0, keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[keep], -100.0, 100.0)))
        anchors = self.anchors[keep]
        boxes = raw[:, :4] / INPUT
        boxes[:, :2] += anchors
        kps = raw[:, 4:].reshape(-1, 7, 2) / INPUT + anchors[:, None, :]
        palms = weighted_nms(scores, boxes, kps, max_palms)
        return [self._unletterbox(p) for p in palms]

    def _unletterbox(self, p: Palm) -> Palm:
        """Normalised letterboxed 192x192 coordinates -> normalised frame coordinates."""
        sx, sy = INPUT / self.rw, INPUT / self.rh
        ox, oy = self.px / INPUT, self.py / INPUT
        box = p.box.copy()
        box[0], box[1] = (box[0] - ox) * sx, (box[1] - oy) * sy
        box[2], box[3] = box[2] * sx, box[3] * sy
        kps = p.keypoints.copy()
        kps[:, 0] = (kps[:, 0] - ox) * sx
        kps[:, 1] = (kps[:, 1] - oy) * sy
        return Palm(p.score, box, kps)

    def roi(self, palm: Palm) -> Roi:
        """The landmark model's crop for a palm, in frame pixels."""
        w, h = self.width, self.height
        x0, y0 = palm.keypoints[WRIST] * (w, h)
        x1, y1 = palm.keypoints[MIDDLE_BASE] * (w, h)
        rotation = rotation_between(x0, y0, x1, y1)
        return rotated_rect(palm.box[0] * w, palm.box[1] * h, palm.box[2] * w, palm.box[3] * h, rotation,
                            ROI_SCALE, ROI_SHIFT_Y, w, h)
