"""Detector speed on this machine, on one core: `python main.py bench vision` prints what bench_vision() returns.

Frames: vision/handdraw.py's room with its shaded hand at varied sizes, places and finger spreads (drawn before timing starts, so only
the detector is timed). The process is pinned to one CPU and OpenCV and LiteRT use one thread, as in a session
where the other core plays the audio. Landmarks are timed twice: tracking (the palm detector runs only when the
hand is lost) and searching (the palm detector on every frame, as when no hand is tracked).
"""
from __future__ import annotations

import os
import time

import numpy as np


def pin_to_one_core() -> str:
    """Pin this process to one CPU where the OS allows it; says what was done."""
    import cv2
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}, 1 thread"
    return "1 thread (CPU pinning not available on this OS)"


def pictures(width: int, height: int, count: int = 64) -> list:
    """The room, then a shaded hand moving smoothly nearer/farther and sideways (what tracking sees from a camera)."""
    from vision.handdraw import paste_shaded_hand, posed_hand_mask, room
    background = room(width, height)
    out = [background.copy()]
    for i in range(count - 1):
        phase = 2 * np.pi * i / (count - 1)
        scale = height * (0.17 + 0.12 * (1 + np.sin(phase)) / 2)
        frame = background.copy()
        mask = posed_hand_mask(width, height, width * (0.45 + 0.1 * np.sin(2 * phase)), height * 0.62, scale,
                               spread=0.5 + 0.5 * np.sin(3 * phase))
        out.append(paste_shaded_hand(frame, mask, seed=i))
    return out


def time_detector(det, frames: list, n: int) -> dict:
    for p in frames[:8]:
        det.detect(p)  # warm-up
    times = np.empty(n)
    found = 0
    start = time.perf_counter()
    for i in range(n):
        frame = frames[1 + i % (len(frames) - 1)]   # the hand frames, in order, looping
        t = time.perf_counter()
        found += det.detect(frame).present
        times[i] = time.perf_counter() - t
    wall = time.perf_counter() - start
    ms = times * 1000.0
    return {"frames": n, "fps": round(n / wall, 1), "ms_p50": round(float(np.median(ms)), 3),
            "ms_p95": round(float(np.percentile(ms, 95)), 3), "found": round(found / n, 3)}


def bench_vision(frames: int = 400, width: int = 640, height: int = 480, models_dir: str = "") -> list:
    """Rows: classic; landmarks lite and full, tracking and searching (when the models are there)."""
    from types import SimpleNamespace

    from vision.classic import ClassicDetector
    from vision.detector import DetectorUnavailable
    from vision.landmarks import LandmarkDetector

    pinned = pin_to_one_core()
    pics = pictures(width, height)
    rows = [{"detector": "classic", "mode": "-", **time_detector(ClassicDetector(width, height), pics, frames)}]
    for size in ("lite", "full"):
        s = SimpleNamespace(models_dir=models_dir, landmark_model=size, width=width, height=height,
                            pitch_hand="right")
        try:
            det = LandmarkDetector.from_settings(s)
        except DetectorUnavailable as e:
            rows.append({"detector": f"landmarks {size}", "mode": "unavailable", "error": str(e)})
            continue
        rows.append({"detector": f"landmarks {size}", "mode": "tracking", **time_detector(det, pics, frames)})
        det.tracking = False
        rows.append({"detector": f"landmarks {size}", "mode": "palm each frame",
                     **time_detector(det, pics, frames // 2)})
    for r in rows:
        r.update(width=width, height=height, cpu=pinned)
    return rows


def format_rows(rows: list) -> str:
    lines = [f"vision bench, {rows[0]['width']}x{rows[0]['height']}, {rows[0]['cpu']}",
             f"{'detector':16s} {'mode':16s} {'fps':>8s} {'ms p50':>8s} {'ms p95':>8s} {'hand found':>10s}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['detector']:16s} {'unavailable':16s} {r['error']}")
            continue
        lines.append(f"{r['detector']:16s} {r['mode']:16s} {r['fps']:8.1f} {r['ms_p50']:8.2f} {r['ms_p95']:8.2f} "
                     f"{r['found'] * 100:9.0f}%")
    return "\n".join(lines)
