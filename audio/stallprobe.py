"""How long this machine keeps a real-time thread from running: the floor under any audio stream's underflows.

Why: an audio callback at real-time priority can still be held off by things no program controls (a virtual
machine's host running something else, long kernel sections). When that happens for longer than the stream's
buffer, the speaker runs dry whatever the game does. `bench audio` runs this probe beside its session, in a process
of its own at the audio callbacks' priority (audio/realtime.py): a thread that asks to wake every millisecond and
records how late each wake-up was, cyclictest's method. The kernel's count of stolen time (/proc/stat, Linux) is
read over the same span.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import time

PERIOD_S = 0.001
LATE_S = (0.002, 0.005)     # wake-ups later than these are counted
MAX_STALLS_KEPT = 500       # wake-ups later than LATE_S[0] whose time is kept, to line up with an audio stream's


def _steal_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs so far, or None where /proc/stat is not there."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            parts = f.readline().split()
    except OSError:
        return None
    values = [int(x) for x in parts[1:9]]
    return values[7], sum(values)


def _ms(seconds: float) -> float:
    """Milliseconds to 0.01, rounded up: a wake-up counted as later than 2 ms stays over 2 ms as kept (2.004 ms
    rounded to 2.0 once, in CI)."""
    return math.ceil(seconds * 1e5 - 1e-7) / 100   # (less a little: 0.00312 * 1e5 is 312.00000000000006)


def _probe(conn, stop, priority: int) -> None:
    """The probe process: wake every PERIOD_S until stop is set, then send the figures."""
    realtime = None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        realtime = True
    except (AttributeError, OSError):
        realtime = False
    steal0 = _steal_ticks()
    wakeups, counts, worst, stalls = 0, [0] * len(LATE_S), 0.0, []
    nxt = time.monotonic()
    while not stop.is_set():
        nxt += PERIOD_S
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        late = time.monotonic() - nxt
        wakeups += 1
        if late > worst:
            worst = late
        for i, limit in enumerate(LATE_S):
            if late > limit:
                counts[i] += 1
        if late > LATE_S[0] and len(stalls) < MAX_STALLS_KEPT:
            stalls.append([round(nxt + late, 4), _ms(late)])   # [time.monotonic() at the wake-up, ms]
        if late > PERIOD_S:
            nxt = time.monotonic()   # start the pace again from now: one stall is counted once
    steal1 = _steal_ticks()
    steal_share = None
    if steal0 is not None and steal1 is not None and steal1[1] > steal0[1]:
        steal_share = round((steal1[0] - steal0[0]) / (steal1[1] - steal0[1]), 4)
    conn.send({"realtime": realtime, "priority": priority, "wakeups": wakeups,
               "late_over_2ms": counts[0], "late_over_5ms": counts[1], "late_max_ms": _ms(worst),
               "steal_share": steal_share, "stalls": stalls})
    conn.close()


class StallProbe:
    """``with StallProbe() as probe: ...`` then ``probe.result`` (None when the probe could not report)."""

    def __init__(self, priority: int | None = None):
        from audio.realtime import PRIORITY
        self.priority = PRIORITY if priority is None else priority
        self.result = None
        self._ctx = multiprocessing.get_context("spawn")

    def __enter__(self) -> "StallProbe":
        self._recv, send = self._ctx.Pipe(duplex=False)
        self._stop = self._ctx.Event()
        self._proc = self._ctx.Process(target=_probe, args=(send, self._stop, self.priority),
                                       name="handtone-stallprobe", daemon=True)
        self._proc.start()
        send.close()
        return self

    @property
    def pid(self) -> int | None:
        """The probe process's pid (the memory table names it)."""
        return self._proc.pid if getattr(self, "_proc", None) is not None else None

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._recv.poll(5.0):
            try:
                self.result = self._recv.recv()
            except EOFError:
                self.result = None
        self._proc.join(2.0)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2.0)
        self._recv.close()
