"""Start audio children exactly as the launcher does (spawn context, ChildLink with real Events, RawValue, Queue)."""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from game.child import ChildLink, child_main
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
        self.go = self.ctx.Event()
        self.stop = self.ctx.Event()
        self.end = self.ctx.Event()
        self.t0 = self.ctx.RawValue("d", 0.0)
        self.messages = self.ctx.Queue()
        self.children: dict[str, tuple] = {}
        self.frame = 0

    def start(self, name: str, target: str, settings, env: dict | None = None):
        link = ChildLink(name, str(self.dir), dict(self.names), self.ctx.Event(), self.go, self.stop, self.end,
                         self.t0, self.messages)
        proc = self.ctx.Process(target=child_main, args=(name, target, settings, link), name=name)
        with environment(env):
            proc.start()
        self.children[name] = (proc, link)
        return proc

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for name, (proc, link) in self.children.items():
            while not link.ready.wait(0.05):
                assert proc.is_alive(), f"{name} died before ready: {self.drain_messages()}"
                assert time.monotonic() < deadline, f"{name} not ready in {timeout} s"

    def go_in(self, count_in: float = 0.3) -> float:
        self.t0.value = time.monotonic() + count_in
        self.go.set()
        return self.t0.value

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
        while True:
            try:
                out.append(self.messages.get(timeout=0.2))
            except Exception:  # queue.Empty
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
