"""`bench ipc`: the hand state and a camera frame sent one way between two processes, by our shared memory and by
the alternatives (multiprocessing.Queue and Pipe, a pickle file), measured side by side in one run.

Why: the synth reads the hand state from a real-time audio callback, so the hand state goes through a seqlock in
shared memory (game/shm.py) instead of a queue; this shows what that buys on this machine, and that the old way
of games like this (a pickle file rewritten in place) hands readers torn files.

How each method is measured (the same for all):
- a spawned writer process sends ``messages`` hand states, one every ``MESSAGE_GAP_S`` (time.sleep, which
  releases the GIL, so a Queue's feeder thread is not starved), stamping ``time.monotonic()`` (CLOCK_MONOTONIC,
  one clock for every process on Linux) just before each send. The stamps stay in the writer and come back at
  the end; the payload is the real 10-field hand record with *every field set to the message's counter*, so a
  read whose fields do not all agree mixed two writes (torn), and the counter joins a read to its stamp.
- this process is the reader: it spins (seqlock, pickle files, frame ring) or blocks (Queue, Pipe), stamps the
  receive time, and one-way latency = receive time - send stamp, in microseconds.
- a seqlock or a file holds only the latest state, so a reader can miss states the writer overwrote: those are
  counted as lost (received + lost = messages); a Queue or Pipe delivers every one.

Shared memory is created and unlinked here (in ``finally``, whatever a child does); children attach outside their
resource tracker (game/shm.py), so nothing is left in /dev/shm even when a child dies.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import platform
import queue as queue_module
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from game import handstate
from game.benchall import verdict
from game.framering import FrameRing

MESSAGE_GAP_S = 100e-6    # writer pause between hand states (about 150-200 us with timer slack)
FRAME_GAP_S = 5e-3        # writer pause between frames: longer than a Queue's ~2 ms, so frames do not pile up
FRAME_SHAPE = (480, 640, 3)
FRAME_SLOTS = 4
TARGET_RATIO = 20.0       # issue 6: the seqlock at least 20 times faster than Queue (median, same run)
TARGET_NAME = f"seqlock >= {TARGET_RATIO:g}x Queue"
WRITER_START_S = 0.05     # writer settles after its imports before the first message
NFIELDS = len(handstate.HAND_FIELDS)

HAND_METHODS = {          # key -> label in the table and plot
    "seqlock": "shared-memory seqlock",
    "queue": "multiprocessing.Queue",
    "pipe": "multiprocessing.Pipe",
    "pickle_replace": "pickle file, os.replace",
    "pickle_inplace": "pickle file, in place",
}
FRAME_METHODS = {
    "shm_ring": "shared-memory ring",
    "queue": "multiprocessing.Queue",
}


class WriterFailed(RuntimeError):
    """A writer child died or hung; nothing from that method is reported."""


# ---- writers (module level: spawned children import them) ----------------------------------------------------
def _pause(gap: float) -> None:
    time.sleep(gap)


def _write_seqlock(name: str, messages: int, gap: float, results) -> None:
    rec = handstate.attach_hand(name)
    try:
        values = np.zeros(NFIELDS)
        rec.bind(values, writes=True)   # as the vision child binds its array
        stamps = []
        time.sleep(WRITER_START_S)
        for k in range(1, messages + 1):
            values.fill(float(k))
            t = time.monotonic()
            rec.write(values)
            stamps.append(t)
            _pause(gap)
    finally:
        rec.close()
    results.put(stamps)


def _write_channel(channel, messages: int, gap: float, results) -> None:
    """Through a multiprocessing.Queue (put) or a Pipe's sending end (send, then closed: the reader sees EOF)."""
    is_pipe = hasattr(channel, "send")
    send = channel.send if is_pipe else channel.put
    stamps = []
    time.sleep(WRITER_START_S)
    for k in range(1, messages + 1):
        state = (float(k),) * NFIELDS
        t = time.monotonic()
        send(state)
        stamps.append(t)
        _pause(gap)
    if is_pipe:
        channel.close()
    results.put(stamps)


def _write_pickle(path: str, in_place: bool, messages: int, gap: float, results) -> None:
    """The old way: the whole state pickled to a file per message, either replaced atomically (temp file +
    os.replace) or rewritten in place (truncate, then write: a reader can open it in between)."""
    tmp = path + ".tmp"
    stamps = []
    time.sleep(WRITER_START_S)
    for k in range(1, messages + 1):
        state = (float(k),) * NFIELDS
        t = time.monotonic()
        if in_place:
            with open(path, "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            with open(tmp, "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        stamps.append(t)
        _pause(gap)
    results.put(stamps)


def _write_frame_ring(name: str, frames: int, gap: float, results) -> None:
    ring = FrameRing.attach(name)
    try:
        frame = np.empty(FRAME_SHAPE, dtype=np.uint8)
        time.sleep(WRITER_START_S)
        for k in range(1, frames + 1):
            frame.fill(k % 256)
            ring.put(frame, time.monotonic())   # the slot carries the stamp
            _pause(gap)
    finally:
        ring.close()
    results.put([])


def _write_frame_queue(q, frames: int, gap: float, results) -> None:
    frame = np.empty(FRAME_SHAPE, dtype=np.uint8)
    time.sleep(WRITER_START_S)
    for k in range(1, frames + 1):
        frame.fill(k % 256)
        q.put((k, time.monotonic(), frame))
        _pause(gap)
    results.put([])


# ---- the reader side and the bookkeeping -----------------------------------------------------------------------
class _Tally:
    """Receive times by message counter, and the read counts of one method."""

    def __init__(self, messages: int):
        self.messages = messages
        self.recv = np.full(messages + 1, np.nan)   # index k: when message k was first seen
        self.sent_at = np.full(messages + 1, np.nan)  # index k: its send stamp (frames carry it in the message)
        self.received = 0
        self.reads = 0      # read attempts that returned something or failed
        self.torn = 0       # reads whose content did not come from one write
        self.partial = 0    # (pickle) of the torn reads, those of a truncated or empty file
        self.failed = 0     # reads that returned nothing (seqlock gave up, file missing)
        self.last = 0

    def seen(self, k: int, now: float) -> None:
        if k > self.last:
            self.last = k
            if 1 <= k <= self.messages and np.isnan(self.recv[k]):
                self.recv[k] = now
                self.received += 1

    def done(self) -> bool:
        return self.last >= self.messages

    def figures(self, stamps) -> dict:
        if len(stamps):
            self.sent_at[1:len(stamps) + 1] = stamps
        got = ~np.isnan(self.recv) & ~np.isnan(self.sent_at)
        lat = (self.recv[got] - self.sent_at[got]) * 1e6
        out = {"sent": self.messages, "received": int(self.received), "lost": int(self.messages - self.received),
               "reads": int(self.reads), "torn": int(self.torn), "partial": int(self.partial),
               "failed": int(self.failed)}
        if lat.size:
            out |= {"median_us": round(float(np.median(lat)), 2), "p99_us": round(float(np.percentile(lat, 99)), 2),
                    "min_us": round(float(lat.min()), 2), "max_us": round(float(lat.max()), 2)}
        else:
            out |= {"median_us": None, "p99_us": None, "min_us": None, "max_us": None}
        return out


def _consistent(values) -> bool:
    return values.count(values[0]) == len(values)


def _deadline(count: int, gap: float) -> float:
    return time.monotonic() + 60.0 + count * (gap + 2e-3)


def _check_writer(proc, deadline: float, what: str) -> bool:
    """True when the writer has ended cleanly; raises when it died or the method ran past its deadline."""
    code = proc.exitcode
    if code not in (None, 0):
        raise WriterFailed(f"ipc bench: the {what} writer process died (exit code {code}); nothing was measured")
    if time.monotonic() > deadline:
        raise WriterFailed(f"ipc bench: the {what} run did not finish in time (machine overloaded?)")
    return code == 0


def _stamps(proc, results, what: str):
    """The writer's send stamps, fetched before joining it (a child with queued data cannot exit)."""
    deadline = time.monotonic() + 60.0
    while True:
        try:
            return results.get(timeout=0.2)
        except queue_module.Empty:
            if proc.exitcode is not None:
                try:
                    return results.get(timeout=1.0)
                except queue_module.Empty:
                    raise WriterFailed(f"ipc bench: the {what} writer process ended (exit code {proc.exitcode}) "
                                       "without its send stamps") from None
            if time.monotonic() > deadline:
                raise WriterFailed(f"ipc bench: the {what} writer never sent its stamps")


def _run(ctx, target, args, read, what: str, count: int, gap: float, after_start=None) -> dict:
    """Start the writer child, read in this process, collect the stamps; the child is killed if anything fails."""
    results = ctx.Queue()
    tally = _Tally(count)
    proc = ctx.Process(target=target, args=(*args, count, gap, results), name=f"ipcbench-{what}", daemon=True)
    proc.start()
    if after_start:
        after_start()
    try:
        read(tally, proc, _deadline(count, gap))
        stamps = _stamps(proc, results, what)
        proc.join(30)
        _check_writer(proc, float("inf"), what)
        return tally.figures(stamps)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        results.close()
        results.join_thread()


def _spin_seqlock(rec, what: str):
    """Spins on the sequence counter alone (one aligned 8-byte load) and copies a snapshot when it moves: how a
    reader that wants each new state at once waits on a seqlock."""
    def read(tally: _Tally, proc, deadline: float) -> None:
        out = np.zeros(NFIELDS)
        rec.bind(out)                   # as the synth binds its array
        read_into, sequence, monotonic = rec.read_into, rec.sequence, time.monotonic
        seen_seq, idle = -1, 0
        while not tally.done():
            s = sequence()
            while s == seen_seq or s & 1:    # the wait: one load of the counter per turn, nothing else
                idle += 1
                if idle & 65535 == 0 and _check_writer(proc, deadline, what) and sequence() == seen_seq:
                    return   # writer done and nothing newer to read: the rest were lost
                s = sequence()
            ok = read_into(out)
            now = monotonic()
            tally.reads += 1
            if not ok:
                tally.failed += 1
                continue
            seen_seq = s
            values = out.tolist()
            if not _consistent(values):
                tally.torn += 1
                continue
            tally.seen(int(values[0]), now)
    return read


def _blocking(get, what: str):
    """Reader for Queue.get / Pipe.recv: blocks up to 0.2 s at a time, checking the writer in between."""
    def read(tally: _Tally, proc, deadline: float) -> None:
        while not tally.done():
            try:
                values = get()
            except (queue_module.Empty, TimeoutError):
                if _check_writer(proc, deadline, what):
                    break
                continue
            except EOFError:   # the writer closed its end (died or finished)
                _check_writer(proc, float("inf"), what)
                break
            now = time.monotonic()
            tally.reads += 1
            if not _consistent(list(values)):
                tally.torn += 1
                continue
            tally.seen(int(values[0]), now)
    return read


def _poll_pickle(path: str, what: str):
    def read(tally: _Tally, proc, deadline: float) -> None:
        monotonic, load = time.monotonic, pickle.load
        spins = 0
        while not tally.done():
            spins += 1
            if spins & 1023 == 0 and _check_writer(proc, deadline, what):
                break
            try:
                with open(path, "rb") as f:
                    values = load(f)
            except FileNotFoundError:
                tally.reads += 1
                tally.failed += 1
                continue
            except Exception:   # empty or truncated file: EOFError, UnpicklingError, ... = a torn read
                tally.reads += 1
                tally.torn += 1
                tally.partial += 1
                continue
            now = monotonic()
            tally.reads += 1
            if not isinstance(values, tuple) or len(values) != NFIELDS or not _consistent(list(values)):
                tally.torn += 1
                continue
            tally.seen(int(values[0]), now)
    return read


def _spin_ring(ring: FrameRing, what: str):
    def read(tally: _Tally, proc, deadline: float) -> None:
        out = np.empty(FRAME_SHAPE, dtype=np.uint8)
        monotonic = time.monotonic
        spins = 0
        while tally.received + ring.lost < tally.messages:
            got = ring.take(out)
            if got is None:
                spins += 1
                if spins & 4095 == 0 and _check_writer(proc, deadline, what) and ring.pending() == 0:
                    break
                continue
            now = monotonic()
            number, t = got
            k = number + 1          # the ring numbers frames from 0, the writer from 1
            tally.reads += 1
            if not out[0, 0, 0] == out[-1, -1, -1] == k % 256:
                tally.torn += 1
                continue
            tally.sent_at[k] = t
            tally.seen(k, now)
    return read


def _frame_queue_reader(q, what: str):
    def read(tally: _Tally, proc, deadline: float) -> None:
        while tally.received < tally.messages:
            try:
                k, t, frame = q.get(timeout=0.2)
            except queue_module.Empty:
                if _check_writer(proc, deadline, what):
                    break
                continue
            now = time.monotonic()
            tally.reads += 1
            if not frame[0, 0, 0] == frame[-1, -1, -1] == k % 256:
                tally.torn += 1
                continue
            tally.sent_at[k] = t
            tally.seen(k, now)
    return read


# ---- the methods -------------------------------------------------------------------------------------------------
def _hand_seqlock(ctx, tag: str, messages: int, gap: float) -> dict:
    name = f"{handstate.PREFIX}-bench{tag}-hand"
    rec = handstate.create_hand(name)
    try:
        return _run(ctx, _write_seqlock, (name,), _spin_seqlock(rec, "seqlock"), "seqlock", messages, gap)
    finally:
        rec.close()


def _hand_queue(ctx, tag: str, messages: int, gap: float) -> dict:
    q = ctx.Queue()
    try:
        return _run(ctx, _write_channel, (q,), _blocking(lambda: q.get(timeout=0.2), "Queue"), "Queue", messages, gap)
    finally:
        q.close()


def _hand_pipe(ctx, tag: str, messages: int, gap: float) -> dict:
    receiver, sender = ctx.Pipe(duplex=False)

    def get():
        if not receiver.poll(0.2):
            raise TimeoutError
        return receiver.recv()

    try:
        # our copy of the sending end is closed once the child has it, so a dead writer shows as EOF
        return _run(ctx, _write_channel, (sender,), _blocking(get, "Pipe"), "Pipe", messages, gap,
                    after_start=sender.close)
    finally:
        receiver.close()
        sender.close()


def _hand_pickle(ctx, tag: str, messages: int, gap: float, in_place: bool) -> dict:
    folder = tempfile.mkdtemp(prefix="handtone-ipcbench-")
    what = "pickle in place" if in_place else "pickle replace"
    try:
        path = os.path.join(folder, "hand.pickle")
        with open(path, "wb") as f:
            pickle.dump((0.0,) * NFIELDS, f)
        return _run(ctx, _write_pickle, (path, in_place), _poll_pickle(path, what), what, messages, gap)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _frame_ring(ctx, tag: str, frames: int, gap: float) -> dict:
    ring = FrameRing.create(f"{handstate.PREFIX}-bench{tag}-frames", FRAME_SLOTS, FRAME_SHAPE[0], FRAME_SHAPE[1])
    try:
        ring.prefault()
        return _run(ctx, _write_frame_ring, (ring.name,), _spin_ring(ring, "frame ring"), "frame ring", frames, gap)
    finally:
        ring.close()


def _frame_queue(ctx, tag: str, frames: int, gap: float) -> dict:
    q = ctx.Queue()
    try:
        return _run(ctx, _write_frame_queue, (q,), _frame_queue_reader(q, "frame Queue"), "frame Queue", frames, gap)
    finally:
        q.close()


# ---- the benchmark -----------------------------------------------------------------------------------------------
def machine() -> dict:
    import cv2
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cores": os.cpu_count(), "usable_cores": usable, "python": platform.python_version(),
            "numpy": np.__version__, "opencv": cv2.__version__, "platform": platform.platform()}


def bench_ipc(messages: int = 5000, frames: int = 200) -> dict:
    """Every method run once in this process (the reader) against a spawned writer; a JSON-able dict of figures."""
    ctx = mp.get_context("spawn")
    tag = str(os.getpid())
    hand = {
        "seqlock": _hand_seqlock(ctx, tag, messages, MESSAGE_GAP_S),
        "queue": _hand_queue(ctx, tag, messages, MESSAGE_GAP_S),
        "pipe": _hand_pipe(ctx, tag, messages, MESSAGE_GAP_S),
        "pickle_replace": _hand_pickle(ctx, tag, messages, MESSAGE_GAP_S, in_place=False),
        "pickle_inplace": _hand_pickle(ctx, tag, messages, MESSAGE_GAP_S, in_place=True),
    }
    frame = {
        "shm_ring": _frame_ring(ctx, tag, frames, FRAME_GAP_S),
        "queue": _frame_queue(ctx, tag, frames, FRAME_GAP_S),
    }
    q, s = hand["queue"]["median_us"], hand["seqlock"]["median_us"]
    ratio = round(q / s, 1) if q and s else None
    fq, fs = frame["queue"]["median_us"], frame["shm_ring"]["median_us"]
    result = {
        "bench": "ipc",
        "machine": machine(),
        "settings": {"messages": messages, "frames": frames, "message_gap_us": MESSAGE_GAP_S * 1e6,
                     "frame_gap_us": FRAME_GAP_S * 1e6, "frame_shape": list(FRAME_SHAPE), "fields": NFIELDS,
                     "start_method": "spawn"},
        "hand_state": hand,
        "frame": frame,
        "frame_queue_over_shm": round(fq / fs, 1) if fq and fs else None,
        "target": {"name": TARGET_NAME, "ratio": ratio, "required": TARGET_RATIO,
                   "pass": None if ratio is None else ratio >= TARGET_RATIO},   # None: not measured
    }
    result["targets"] = [{"name": TARGET_NAME, "figure": "-" if ratio is None else f"{ratio:g}x",
                          "pass": result["target"]["pass"]}]
    return result


def _num(v, fmt="{:,.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def format_ipc(result: dict) -> str:
    """A short table: one line per method, then the target with pass/short."""
    m, s = result["machine"], result["settings"]
    lines = [f"bench ipc: one way, spawned writer -> reader, {m['usable_cores']} cores, Python {m['python']}, "
             f"numpy {m['numpy']}",
             f"hand state ({s['fields']} float64, {s['messages']:,} messages, one per {s['message_gap_us']:.0f} us "
             "+ sleep overhead)",
             f"  {'method':<26}{'median us':>10}{'p99 us':>10}{'received':>10}{'lost':>7}{'reads':>10}"
             f"{'torn':>9}{'failed':>8}"]
    for key, label in HAND_METHODS.items():
        r = result["hand_state"][key]
        lines.append(f"  {label:<26}{_num(r['median_us']):>10}{_num(r['p99_us']):>10}{r['received']:>10,}"
                     f"{r['lost']:>7,}{r['reads']:>10,}{r['torn']:>9,}{r['failed']:>8,}")
    lines.append(f"frame {s['frame_shape'][1]}x{s['frame_shape'][0]}x{s['frame_shape'][2]} uint8 "
                 f"({s['frames']} frames, one per {s['frame_gap_us'] / 1000:.0f} ms)")
    lines.append(f"  {'method':<26}{'median us':>10}{'p99 us':>10}{'received':>10}{'lost':>7}{'torn':>9}")
    for key, label in FRAME_METHODS.items():
        r = result["frame"][key]
        lines.append(f"  {label:<26}{_num(r['median_us']):>10}{_num(r['p99_us']):>10}{r['received']:>10,}"
                     f"{r['lost']:>7,}{r['torn']:>9,}")
    if result.get("frame_queue_over_shm") is not None:
        lines.append(f"  frame: Queue median / shared memory median = {result['frame_queue_over_shm']}x")
    t = result["target"]
    ratio = "-" if t["ratio"] is None else f"{t['ratio']}x"
    lines.append(f"target {t['name']} (Queue median / seqlock median): {ratio}  {verdict(t)}")
    return "\n".join(lines)


def plot_ipc(result: dict, path) -> Path:
    """Bars of median latency with whiskers up to p99, log scale: hand state left, frame right."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [5, 2]})
    for ax, (title, methods, data) in zip(axes, (
            ("hand state, one way", HAND_METHODS, result["hand_state"]),
            ("640x480x3 frame, one way", FRAME_METHODS, result["frame"]))):
        labels = [methods[k].replace(", ", ",\n").replace(" ", "\n", 1) for k in methods]
        med = [data[k]["median_us"] or 0.0 for k in methods]
        p99 = [data[k]["p99_us"] or 0.0 for k in methods]
        up = [max(p - m, 0.0) for m, p in zip(med, p99)]
        x = np.arange(len(labels))
        ax.bar(x, med, yerr=[np.zeros(len(med)), up], capsize=4, color="#4c72b0", ecolor="#333333")
        for xi, m in zip(x, med):
            if m > 0:
                ax.text(xi, m, f"{m:,.1f}", ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylabel("microseconds (bar: median, whisker: p99)")
        ax.set_title(title)
    t = result["target"]
    fig.suptitle(f"bench ipc: {t['name']}: {t['ratio']}x  {verdict(t)}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
