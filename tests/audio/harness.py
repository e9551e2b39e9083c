"""Start audio children exactly as the launcher does (spawn context, SessionSignals: Flags, the t0 RawValue, a pipe each)."""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from multiprocessing.connection import wait as wait_connections

from game.child import SessionSignals, child_main
from game.handstate import HAND, HAND_FIELDS, create_hand, create_voice, segment_names


class Session:
    """Shared memory, events and children of one test session."""

    def __init__(self, session_dir: Path, tag: str):
        self.ctx = mp.get_context("spawn")
        self.dir = Path(session_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.names = segment_names(f"test{os.getpid()}-{tag}")
        self.hand = create_hand(self.names["hand"])
        self.voice = create_voice(self.names["voice"])
        self.signals = SessionSignals.new(self.ctx)
        self.go, self.stop, self.end, self.t0 = (self.signals.go, self.signals.stop, self.signals.end,
                                                 self.signals.t0)
        self.inboxes = []
        self.children: dict[str, tuple] = {}
        self.frame = 0

    def start(self, name: str, target: str, settings, env: dict | None = None):
        link, inbox = self.signals.link(self.ctx, name, self.dir, self.names)
        proc = self.ctx.Process(target=child_main, args=(name, target, settings, link), name=name)
        with environment(env):
            proc.start()
        link.messages.conn.close()
        self.inboxes.append(inbox)
        self.children[name] = (proc, link)
        return proc

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for name, (proc, link) in self.children.items():
            while not link.ready.wait(0.05):
                assert proc.is_alive(), f"{name} died before ready: {self.drain_messages()}"
                assert time.monotonic() < deadline, f"{name} not ready in {timeout} s"

    def go_in(self, count_in: float = 0.3) -> float:
        return self.signals.start_clock(count_in)

    def now(self) -> float:
        return time.monotonic() - self.t0.value

    def write_hand(self, present=True, area=0.05, present2=False, y2=0.0) -> None:
        v = np.zeros(len(HAND_FIELDS))
        v[HAND["frame_index"]] = self.frame
        v[HAND["t_capture"]] = self.now()
        v[HAND["present"]] = 1.0 if present else 0.0
        v[HAND["area"]] = area
        v[HAND["present2"]] = 1.0 if present2 else 0.0
        v[HAND["y2"]] = y2
        v[HAND["t_published"]] = self.now()
        self.hand.write(v)
        self.frame += 1

    def finish(self, timeout: float = 15.0) -> dict:
        self.stop.set()
        codes = {}
        for name, (proc, _) in self.children.items():
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join()
            codes[name] = proc.exitcode
        return codes

    def drain_messages(self) -> list:
        out = []
        while self.inboxes:
            ready = wait_connections(self.inboxes, timeout=0.2)
            if not ready:
                return out
            for conn in ready:
                try:
                    out.append(conn.recv())
                except EOFError:
                    self.inboxes.remove(conn)
        return out

    def close(self) -> None:
        for proc, _ in self.children.values():
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.hand.close()
        self.voice.close()


@contextmanager
def environment(env: dict | None):
    """Replace os.environ for the duration (a spawned child takes the environment at start)."""
    if env is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def fallback(stats: dict) -> dict:
    """What an output child's stats say about playing on the clock instead of its device, for assert messages."""
    return {k: stats.get(k) for k in ("mode", "no_device_reason", "device_lost")}
