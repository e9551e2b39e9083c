"""CPU time and usable cores, the same way on every OS, for the CPU utilisation that bench pipeline and analyze print.

Why one place: both had their own copies, on `resource`, which Windows does not have (analyze is a player's command).
"""
from __future__ import annotations

import os
import sys
import time

try:
    import resource
except ImportError:          # Windows
    resource = None


def cores() -> int:
    """The cores this process may run on (its affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_seconds(children: bool = False) -> float:
    """User + system CPU seconds of this process (all its threads), or with ``children`` of its ended and
    waited-for child processes (0.0 on Windows, which does not count them)."""
    if not children:
        return time.process_time()
    if resource is None:
        return 0.0
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_usage() -> dict:
    """This process's CPU seconds and peak memory in MB, for every stats-*.json. Peak memory is None on Windows
    (no getrusage there); ru_maxrss counts kilobytes on Linux and bytes on macOS."""
    peak = None
    if resource is not None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = round(maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    return {"cpu_s": round(time.process_time(), 3), "max_rss_mb": peak}

