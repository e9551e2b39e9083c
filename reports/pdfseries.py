"""The per-frame series behind the scorecard's timing plots, read from the session folder (stats.json keeps only
percentiles): motion-to-sound latencies from synth.csv, frames per second from frames.csv, CPU per process from
stats.json. Each reader returns None (with the reason) rather than raising, so a session that lost a log still gets
its scorecard.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from game.figures import first_block_latencies
from game.logfiles import FRAME_COLUMNS, SYNTH_COLUMNS
from reports.sessiondata import SessionData


def latencies(folder: Path, stats: dict | None) -> tuple[np.ndarray | None, str]:
    """One latency (ms) per camera frame, as stats.json's percentiles were computed (game.figures), or None and why
    (clock mode: nothing reached a speaker, so there is no sound to time)."""
    synth = ((stats or {}).get("processes") or {}).get("synth") or {}
    lat = synth.get("latency_ms") or {}
    if lat.get("not_measured"):
        return None, f"not measured: {lat['not_measured']}"
    rows = SessionData(folder).csv("synth.csv", SYNTH_COLUMNS)
    if not len(rows["t_dac"]):
        return None, "no synth.csv to time"
    keep = slice(None)
    lost = synth.get("device_lost") or {}
    if isinstance(lost, dict) and lost.get("at_s") is not None:  # only the blocks the speaker played were timed by it
        keep = rows["t_dac"] <= float(lost["at_s"])
    values = first_block_latencies(rows["frame_index"][keep], rows["t_capture"][keep], rows["latency_ms"][keep])
    return (values, "") if len(values) else (None, "no frame reached the synth")


def fps_series(folder: Path, window: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
    """(window centres s, frames per second in each window) from frames.csv's t_capture."""
    frames = SessionData(folder).csv("frames.csv", FRAME_COLUMNS)
    t = frames["t_capture"]
    t = np.sort(t[~np.isnan(t)])
    if len(t) < 2 or t[-1] <= t[0]:
        return None
    edges = np.arange(t[0], t[-1] + window, window)
    if len(edges) < 2:
        return None
    counts, _ = np.histogram(t, edges)
    last = min(window, t[-1] - edges[-2]) or window       # the last window is only partly covered
    widths = np.full(len(counts), window)
    widths[-1] = max(last, 1e-3)
    keep = widths >= 0.25 * window
    return (edges[:-1] + window / 2)[keep], (counts / widths)[keep]


def cpu_per_process(stats: dict | None) -> dict[str, float]:
    """CPU seconds of each process that reported them (stats.json's processes, launcher included)."""
    out = {}
    for name, rec in ((stats or {}).get("processes") or {}).items():
        cpu = (rec or {}).get("cpu_s")
        if isinstance(cpu, (int, float)) and not isinstance(cpu, bool):
            out[name] = float(cpu)
    return out
