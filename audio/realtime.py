"""Real-time scheduling for the audio callback's thread, where the system allows it.

Why: a 128-frame stream holds 5.3 ms of sound; on a busy machine (the detector takes a core) an ordinary thread can
wait longer than that for a CPU, and the speaker runs dry. PortAudio's ALSA callback thread (and the pulse plugin's
thread) are created by ``pa.open``/``start_stream`` without scheduling attributes of their own, so they inherit the
policy of the thread that creates them. ``inherited_by_new_threads`` raises the calling thread to SCHED_FIFO while
the stream is opened and started, then puts the calling thread back: only the threads created inside keep it.
Without the privilege (no CAP_SYS_NICE and RLIMIT_RTPRIO 0, or not Linux) nothing changes and it says so.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

PRIORITY = 3    # above every ordinary thread, below the sound server's own (PulseAudio's sink thread runs at RR 5)


@contextmanager
def inherited_by_new_threads(priority: int = PRIORITY):
    """Yields a dict: {"realtime": bool, "reason": str | None}; filled before the block runs."""
    state = {"realtime": False, "reason": None}
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_FIFO"):
        state["reason"] = "real-time scheduling is not available on this system"
        yield state
        return
    try:
        old_policy, old_param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, PermissionError) as e:
        state["reason"] = f"not allowed ({e.strerror or e}); the callback runs at normal priority"
        yield state
        return
    state["realtime"] = True
    try:
        yield state
    finally:
        try:
            os.sched_setscheduler(0, old_policy, old_param)
        except OSError:
            pass


def raise_process_threads(priority: int = PRIORITY - 1) -> bool:
    """Every thread of this process (and those it starts later) to SCHED_FIFO ``priority``, below the callback's.

    Why: the callback needs Python's GIL; when an ordinary thread of ours holds it (the drain writing the WAV) and
    the CPU goes to another process (the detector), the callback waits for that process's time slice, far longer
    than its buffer. Our other threads only wake every few tens of milliseconds for short work, so running them
    above ordinary threads costs the machine little. False (nothing changed) where the system does not allow it."""
    import threading
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_FIFO"):
        return False
    done = False
    for thread in threading.enumerate():
        tid = getattr(thread, "native_id", None)
        if tid is None:
            continue
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
            done = True
        except OSError:
            return False
    return done
