"""Detector speed on this machine: `python main.py bench vision` prints what bench_vision() returns.

Frames: vision/handdraw.py's room with its shaded hand at varied sizes, places and finger spreads (drawn before timing
starts, so only the detector is timed), 640x480. Every detector is timed in three thread configurations:

- ``one``: the process pinned to one CPU, OpenCV on 1 thread, LiteRT interpreters on 1 thread;
- ``session``: what the live vision child runs. vision/process.py builds its detector with make_detector, which
  never calls cv2.setNumThreads (OpenCV keeps its default, cv2.getNumThreads()) and runs the landmark model on
  vision/landmarks.session_threads (2 where there are 2 cores) and the palm detector on 1 LiteRT thread; the child
  is not pinned, and its landmarks detector looks for a second hand in a worker thread (make_detector(live=True)):
  its fps count the frame's path, not the worker's CPU. The targets use these figures. For the classic detector (no
  LiteRT) this is the same as ``default``, so it is timed once;
- ``default``: not pinned, OpenCV's default threads, LiteRT's own default (num_threads=None, which ai-edge-litert 2.3
  turns into one thread on any machine).

Landmarks are timed in tracking mode (the palm detector runs only when the hand is lost: what a session does while
a hand is in view) and searching (the palm detector on every frame, as when no hand is tracked).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CONFIGS = ("one", "session", "default")
CONFIG_LABELS = {"one": "1 thread, pinned", "session": "session", "default": "default threads"}
CLASSIC_TARGET_FPS = 600.0
LANDMARKS_TARGET_FPS = 150.0
SEARCH_FRACTION = 2        # searching is slower: half the frames


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


@contextmanager
def threads(config: str, opencv_default: int):
    """OpenCV's threads and this process's CPUs for one configuration; both put back afterwards."""
    import cv2
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    try:
        if config == "one":
            cv2.setNumThreads(1)
            if allowed:
                os.sched_setaffinity(0, {allowed[-1]})
        else:
            cv2.setNumThreads(opencv_default)
        yield
    finally:
        cv2.setNumThreads(opencv_default)
        if allowed:
            os.sched_setaffinity(0, set(allowed))


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
    return {"frames": n, "fps": round(n / wall, 1), "ms_mean": round(float(ms.mean()), 3),
            "ms_p50": round(float(np.median(ms)), 3), "ms_p95": round(float(np.percentile(ms, 95)), 3),
            "found": round(found / n, 3)}


def _row(rows: list, detector: str, mode: str) -> dict | None:
    return next((r for r in rows if r["detector"] == detector and r["mode"] == mode), None)


def _target(name: str, row: dict | None, goal: float) -> dict:
    if row is None or "session" not in row:
        return {"name": name, "figure": "not measured", "pass": None}
    fps = row["session"]["fps"]
    return {"name": name, "figure": f"{fps:.0f} fps (session threads)", "pass": fps >= goal}


def bench_vision(frames: int = 400, width: int = 640, height: int = 480, models_dir: str = "",
                 landmark_threads: int | None = None) -> dict:
    """Every detector in every thread configuration; the targets on the session's configuration."""
    from types import SimpleNamespace

    import cv2

    from game import settings as settings_mod
    from game.benchall import machine
    from vision.classic import ClassicDetector
    from vision.detector import DetectorUnavailable
    from vision.landmarks import LandmarkDetector, session_threads

    # as play: --landmark-threads, else HANDTONE_LANDMARK_THREADS (environment or .env), else automatic
    session_lm = session_threads(settings_mod.build({"landmark_threads": landmark_threads}))
    opencv_default = cv2.getNumThreads()
    pinned_cpu = sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else None
    pics = pictures(width, height)
    rows = []
    classic = {"detector": "classic", "mode": "-"}
    for config in ("one", "default"):
        with threads(config, opencv_default):
            classic[config] = time_detector(ClassicDetector(width, height), pics, frames)
    classic["session"] = classic["default"]     # no LiteRT: the session's threads are OpenCV's default
    rows.append(classic)
    for size in ("lite", "full"):
        tracking = {"detector": f"landmarks {size}", "mode": "tracking"}
        searching = {"detector": f"landmarks {size}", "mode": "palm each frame"}
        try:
            for config, litert in (("one", 1), ("session", 1), ("default", None)):
                with threads(config, opencv_default):
                    det = LandmarkDetector.from_settings(
                        SimpleNamespace(models_dir=models_dir, landmark_model=size, width=width, height=height,
                                        pitch_hand="right"),
                        threads=litert, background_search=config == "session",
                        landmark_threads=session_lm if config == "session" else -1)
                    try:
                        tracking[config] = time_detector(det, pics, frames)
                        det.tracking = False
                        searching[config] = time_detector(det, pics, max(10, frames // SEARCH_FRACTION))
                    finally:
                        det.close()
        except DetectorUnavailable as e:
            rows.append({"detector": f"landmarks {size}", "mode": "unavailable", "error": str(e)})
            continue
        rows += [tracking, searching]
    return {
        "machine": machine() | {"opencv_default_threads": opencv_default},
        "width": width, "height": height, "frames": frames,
        "configs": {
            "one": f"pinned to CPU {pinned_cpu}, OpenCV 1 thread, LiteRT 1 thread" if pinned_cpu is not None
                   else "OpenCV 1 thread, LiteRT 1 thread (CPU pinning not available on this OS)",
            "session": f"as the vision child: not pinned, OpenCV default ({opencv_default} threads), the landmark "
                       f"model on {session_lm} LiteRT thread{'s' if session_lm > 1 else ''} and the palm detector "
                       "on 1 (vision/landmarks.session_threads), the search for a second hand in a worker thread",
            "default": f"not pinned, OpenCV default ({opencv_default} threads), LiteRT default (num_threads=None: "
                       "one thread)",
        },
        "rows": rows,
        "targets": [_target(f"classic >= {CLASSIC_TARGET_FPS:.0f} fps", _row(rows, "classic", "-"),
                            CLASSIC_TARGET_FPS),
                    _target(f"landmarks >= {LANDMARKS_TARGET_FPS:.0f} fps tracking",
                            _row(rows, "landmarks lite", "tracking"), LANDMARKS_TARGET_FPS)],
    }


def format_vision(result: dict) -> str:
    """One line per detector and mode: fps and ms p50 per configuration; then the targets (session threads)."""
    from game.benchall import verdict
    m = result["machine"]
    lines = [f"bench vision: {result['width']}x{result['height']}, {result['frames']} frames per detector, "
             f"{m['cores']} cores, OpenCV {m['opencv']}, Python {m['python']}"]
    lines += [f"  {CONFIG_LABELS[c]}: {result['configs'][c]}" for c in CONFIGS]
    head = "".join(f"{CONFIG_LABELS[c]:>22s}" for c in CONFIGS)
    lines.append(f"{'detector':16s} {'mode':16s}{head}  {'hand found':>10s}")
    lines.append(f"{'':33s}" + "".join(f"{'fps':>11s}{'ms p50':>11s}" for _ in CONFIGS))
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"{r['detector']:16s} {'unavailable':16s} {r['error']}")
            continue
        cells = "".join(f"{r[c]['fps']:11.1f}{r[c]['ms_p50']:11.2f}" for c in CONFIGS)
        lines.append(f"{r['detector']:16s} {r['mode']:16s}{cells}  {r['session']['found'] * 100:9.0f}%")
    lines.append("(classic has no LiteRT: its session figures are its default-thread figures)")
    for t in result["targets"]:
        lines.append(f"target {t['name']}: {t['figure']}  {verdict(t)}")
    return "\n".join(lines)


def plot_vision(result: dict, path) -> Path:
    """Grouped bars of fps per detector and mode, one bar per thread configuration, the targets as marks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in result["rows"] if "error" not in r]
    fig, ax = plt.subplots(figsize=(9, 0.9 * len(rows) + 1.8))
    height = 0.8 / len(CONFIGS)
    colours = {"one": "#90a4ae", "session": "#1565c0", "default": "#66bb6a"}
    for k, config in enumerate(CONFIGS):
        ys = [i + (k - 1) * height for i in range(len(rows))]
        fps = [r[config]["fps"] for r in rows]
        ax.barh(ys, fps, height=height, color=colours[config], label=CONFIG_LABELS[config])
        for y, f in zip(ys, fps):
            ax.text(f, y, f" {f:.0f}", va="center", fontsize=7)
    goals = {("classic", "-"): CLASSIC_TARGET_FPS, ("landmarks lite", "tracking"): LANDMARKS_TARGET_FPS}
    for i, r in enumerate(rows):
        goal = goals.get((r["detector"], r["mode"]))
        if goal:
            ax.plot([goal, goal], [i - 0.45, i + 0.45], color="#c62828", lw=2)
            ax.text(goal, i - 0.45, f"target {goal:.0f}", color="#c62828", fontsize=7, va="bottom")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['detector']}\n{r['mode']}" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"frames per second at {result['width']}x{result['height']} (more is better)")
    ax.set_title(f"bench vision ({result['machine']['cores']} cores, OpenCV {result['machine']['opencv']})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
