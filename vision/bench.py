"""Detector speed on this machine: `python main.py bench vision` prints what bench_detector() returns.

Frames are the demo clip's own drawings (room and hand at varied sizes and places), made before timing starts, so
only the detector is timed.
"""
from __future__ import annotations

import time

import numpy as np


def bench_detector(frames: int = 500, width: int = 640, height: int = 480) -> dict:
    """Time the classic detector on ``frames`` synthetic frames; fps and ms per frame (p50, p95, mean)."""
    from vision.classic import ClassicDetector
    from vision.handdraw import Painter

    painter = Painter(width, height)
    pictures = [painter.paint(None).copy()]
    for i in range(63):
        scale = height * (0.12 + 0.25 * (i % 16) / 15)
        pictures.append(painter.paint((width * (0.35 + 0.3 * (i % 7) / 6), height * 0.6, scale)).copy())
    det = ClassicDetector(width, height)
    for p in pictures[:8]:
        det.detect(p)  # warm-up
    times = np.empty(frames)
    start = time.perf_counter()
    for i in range(frames):
        t = time.perf_counter()
        det.detect(pictures[i % len(pictures)])
        times[i] = time.perf_counter() - t
    wall = time.perf_counter() - start
    ms = times * 1000.0
    return {"detector": det.name, "width": width, "height": height, "frames": frames,
            "fps": round(frames / wall, 1), "ms_p50": round(float(np.median(ms)), 3),
            "ms_p95": round(float(np.percentile(ms, 95)), 3), "ms_mean": round(float(ms.mean()), 3)}
