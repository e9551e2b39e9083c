"""Frontal faces in a grey picture, so the classic detector can leave a face (skin too) out of its hand mask.

Why our own evaluator: OpenCV 5 moved CascadeClassifier out of its main modules (opencv-python 5.0.0.93 has an empty
cv2/data/haarcascades folder and no CascadeClassifier), so we read one of OpenCV's published cascades and run it
with numpy. We use the LBP cascade `lbpcascade_frontalface_improved.xml` (KU Leuven 2017, BSD-3-Clause, as shipped
in OpenCV's data and Debian's opencv-data; kept in assets/cascades/): 153 integer features against the Haar
frontal-face cascade's 2913, so it is an order of magnitude cheaper in numpy and needs no variance normalisation.

Semantics follow OpenCV's LBP evaluator: a feature is a 3x3 grid of equal blocks; its code has one bit per outer
block, set when that block's pixel sum is >= the centre block's (clockwise from top-left = bit 7); a weak
classifier looks the code up in a 256-bit set and adds one of two leaf values; a window fails at the first stage
whose sum is below the stage threshold. Windows are scanned on an image pyramid (factor 1.2, step 2 level pixels) and hits are grouped as cv2.groupRectangles does (eps 0.2, min_neighbors).

Speed: `candidates` (a mask, e.g. skin) limits the scan to windows whose centre lies on it, so a frame with little
skin costs little.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

CASCADE = Path(__file__).resolve().parent.parent / "assets" / "cascades" / "lbpcascade_frontalface_improved.xml"
OUTER = np.array([0, 1, 2, 5, 8, 7, 6, 3])  # 3x3 blocks (row-major) in bit order 7..0: clockwise from top-left


class Cascade:
    """An OpenCV LBP boosted cascade (stumps over 256-category codes), loaded from its XML."""

    def __init__(self, path: Path = CASCADE):
        root = ET.parse(path).getroot().find("cascade")
        if root.findtext("featureType").strip() != "LBP":
            raise ValueError(f"{path}: not an LBP cascade")
        self.win_w = int(root.findtext("width"))
        self.win_h = int(root.findtext("height"))
        rects = np.array([[int(v) for v in f.findtext("rect").split()] for f in root.find("features")], np.int32)
        self.stages = []  # (feature rects (k,4), leaf values (k,2), 256-entry membership (k,256) bool, threshold)
        for st in root.find("stages"):
            feats, leaves, sets = [], [], []
            for weak in st.find("weakClassifiers"):
                nodes = [int(v) for v in weak.findtext("internalNodes").split()]
                feats.append(rects[nodes[2]])
                words = np.array(nodes[3:11], np.int64) & 0xFFFFFFFF
                codes = np.arange(256)
                sets.append(((words[codes >> 5] >> (codes & 31)) & 1).astype(bool))
                leaves.append([float(v) for v in weak.findtext("leafValues").split()])
            self.stages.append((np.array(feats, np.int32), np.array(leaves, np.float32),
                                np.array(sets, bool), float(st.findtext("stageThreshold"))))
        self.plan = [(len(feats), ys, xs, sets.reshape(-1), (np.arange(len(feats)) * 256)[:, None],
                      float(leaves[:, 1].sum()), (leaves[:, 0] - leaves[:, 1])[:, None], threshold)
                     for (feats, leaves, sets, threshold), (ys, xs) in zip(self.stages, self._corners())]

    @property
    def features(self) -> int:
        return sum(len(s[0]) for s in self.stages)

    def _corners(self) -> list:
        """Per stage: (rows, cols), each (16, k), of each feature's 4x4 grid corners (row-major) in the window."""
        out = []
        r = np.arange(4)
        for feats, *_ in self.stages:
            x, y, w, h = (feats[None, None, :, i] for i in range(4))
            ys = np.broadcast_to(y + r[:, None, None] * h, (4, 4, len(feats))).reshape(16, -1)
            xs = np.broadcast_to(x + r[None, :, None] * w, (4, 4, len(feats))).reshape(16, -1)
            out.append((ys.astype(np.int64), xs.astype(np.int64)))
        return out

    def survivors(self, integral: np.ndarray, base: np.ndarray) -> np.ndarray:
        """The window origins (flat indices into ``integral``) that pass every stage.

        Arrays are laid out (corner or block, feature, window): the long window axis last keeps every numpy step
        one pass over contiguous memory (3x faster than windows first)."""
        flat = integral.reshape(-1)
        stride = integral.shape[1]
        for k, ys, xs, sets, set_base, leaf_miss, leaf_gain, threshold in self.plan:
            if base.size == 0:
                break
            p = flat.take((ys * stride + xs)[:, :, None] + base[None, None, :])   # (16, k, n) grid corners
            d = (p[4:] - p[:-4]).reshape(3, 4, k, base.size)                    # rows of the 3x3 blocks
            blocks = (d[:, 1:] - d[:, :-1]).reshape(9, k, base.size)            # block pixel sums
            code = np.packbits(blocks[OUTER] >= blocks[4], axis=0)[0]           # (k, n) LBP codes
            score = leaf_miss + (sets.take(code + set_base) * leaf_gain).sum(axis=0)
            base = base[score >= threshold]
        return base


@lru_cache(maxsize=1)
def default_cascade() -> Cascade:
    return Cascade(CASCADE)


def detect_faces(grey: np.ndarray, candidates: np.ndarray | None = None, cascade: Cascade | None = None,
                 min_size: float = 0.0, max_size: float = 1e9, scale_factor: float = 1.2,
                 min_neighbors: int = 3) -> list:
    """Face boxes (x, y, w, h) in ``grey``'s pixels, for faces between ``min_size`` and ``max_size`` pixels wide.

    ``candidates``: a mask of grey's size; only windows whose centre is on it are scanned (None: all). Faces smaller
    than the cascade's 45-pixel window are found by enlarging the picture (min_size 30 works, less is unreliable).
    """
    cascade = cascade or default_cascade()
    h, w = grey.shape[:2]
    ww, wh = cascade.win_w, cascade.win_h
    hits = []
    factor = max(min_size / ww, 0.5)
    while ww * factor <= max_size:
        lw, lh = int(round(w / factor)), int(round(h / factor))
        if lw < ww or lh < wh:
            break
        level = grey if abs(factor - 1.0) < 1e-9 else cv2.resize(grey, (lw, lh), interpolation=cv2.INTER_LINEAR)
        integral = cv2.integral(level, sdepth=cv2.CV_32S)
        step = 2  # in level pixels: 4% of the window at every size (OpenCV steps 1 above factor 2; 4x the windows)
        ys, xs = _origins(lw, lh, ww, wh, step, candidates)
        kept = cascade.survivors(integral, ys.astype(np.int64) * integral.shape[1] + xs)
        fx, fy = w / lw, h / lh
        for b in kept:
            y0, x0 = divmod(int(b), integral.shape[1])
            hits.append((x0 * fx, y0 * fy, ww * fx, wh * fy))
        factor *= scale_factor
    return group_rectangles(hits, min_neighbors)


def _origins(lw: int, lh: int, ww: int, wh: int, step: int, candidates):
    """Window origins on the step grid of a pyramid level, limited to centres on the candidate mask."""
    ys, xs = np.mgrid[0:lh - wh + 1:step, 0:lw - ww + 1:step]
    if candidates is not None:
        level = cv2.resize(candidates, (lw, lh), interpolation=cv2.INTER_NEAREST)
        on = level[ys + wh // 2, xs + ww // 2] > 0
        ys, xs = ys[on], xs[on]
    return ys.reshape(-1), xs.reshape(-1)


def group_rectangles(rects: list, min_neighbors: int = 3, eps: float = 0.2) -> list:
    """cv2.groupRectangles' rule: cluster similar boxes, keep clusters of more than ``min_neighbors``, average them."""
    n = len(rects)
    if n == 0:
        return []
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if _similar(rects[i], rects[j], eps):
                parent[find(i)] = find(j)
    groups: dict = {}
    for i, r in enumerate(rects):
        groups.setdefault(find(i), []).append(r)
    out = []
    for members in groups.values():
        if len(members) <= min_neighbors:
            continue
        m = np.mean(np.array(members, np.float64), axis=0)
        out.append(tuple(int(round(v)) for v in m))
    # drop boxes inside a bigger kept one (as OpenCV does)
    out.sort(key=lambda r: -r[2] * r[3])
    kept = []
    for r in out:
        if not any(_inside(r, k) for k in kept):
            kept.append(r)
    return kept


def _similar(a, b, eps) -> bool:
    delta = eps * (min(a[2], b[2]) + min(a[3], b[3])) * 0.5
    return (abs(a[0] - b[0]) <= delta and abs(a[1] - b[1]) <= delta and
            abs(a[0] + a[2] - b[0] - b[2]) <= delta and abs(a[1] + a[3] - b[1] - b[3]) <= delta)


def _inside(r, k) -> bool:
    dx, dy = k[2] * 0.2, k[3] * 0.2
    return (r[0] >= k[0] - dx and r[1] >= k[1] - dy and r[0] + r[2] <= k[0] + k[2] + dx and
            r[1] + r[3] <= k[1] + k[3] + dy)
