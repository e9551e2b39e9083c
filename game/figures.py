"""Summary figures for the stats files, computed one way by the process that logs and by the reports that re-read
the logs (so stats-<process>.json and stats.json cannot disagree)."""
from __future__ import annotations

import numpy as np


def percentile(values, q: float, digits: int = 3) -> float | None:
    """The q-th percentile of the values that are numbers (NaN ignored), rounded; None when there are none."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return round(float(np.percentile(v, q)), digits) if v.size else None


def first_block_latencies(frame_index, t_capture, latency_ms) -> np.ndarray:
    """Motion-to-sound latencies (ms), one per camera frame: that of the first audio block reflecting the frame,
    whatever its amplitude (silence is timed too). Later blocks of the same frame would add the frame's age, not
    latency. Blocks without a frame (index < 0, NaN) are skipped; frames captured before t0 are not counted."""
    frame = np.asarray(frame_index, dtype=float)
    t_cap = np.asarray(t_capture, dtype=float)
    lat = np.asarray(latency_ms, dtype=float)
    out, last = [], -1.0
    with np.errstate(invalid="ignore"):
        usable = (frame >= 0) & ~np.isnan(lat) & ~np.isnan(t_cap)
    for i in np.flatnonzero(usable):
        if frame[i] != last:
            if t_cap[i] >= 0.0:
                out.append(lat[i])
            last = frame[i]
    return np.asarray(out, dtype=float)
