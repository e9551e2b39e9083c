"""A real child link for the vision process, built as the launcher builds it (Flags, a pipe, real shared memory).

``start(run)`` runs the child function in a thread of the test process (headless tests: errors reach the test);
``spawn()`` runs it in its own spawned process through child_main, exactly as the launcher does (needed for the
window: Qt must live in a process's main thread).
"""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid

from game import handstate
from game.child import ChildContext, SessionSignals, child_main

SPAWN = mp.get_context("spawn")


class Session:
    def __init__(self, session_dir, settings):
        names = handstate.segment_names(f"test{uuid.uuid4().hex[:8]}")
        self.hand = handstate.create_hand(names["hand"])
        self.voice = handstate.create_voice(names["voice"])
        self.voice.write([0.0, 0.0, 0.0, -1.0])
        self.signals = SessionSignals.new(SPAWN)
        self.link, self.inbox = self.signals.link(SPAWN, "vision", session_dir, names)
        self.settings = settings
        self.thread = None
        self.process = None
        self.error = None

    def start(self, target) -> "Session":
        ctx = ChildContext("vision", self.settings, self.link)

        def body():
            try:
                target(ctx)
            except BaseException as e:  # noqa: BLE001 - handed to the test
                self.error = e
            finally:
                ctx.stopped.set()
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()
        return self

    def spawn(self) -> "Session":
        self.process = SPAWN.Process(target=child_main, args=("vision", "vision.process:run", self.settings, self.link),
                                     daemon=True)
        self.process.start()
        self.thread = self.process  # go()/stop() only need is_alive() and join()
        return self

    def go(self, count_in: float = 0.3) -> float:
        deadline = time.monotonic() + 60
        while not self.link.ready.wait(0.05):
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline and self.thread.is_alive(), "vision did not say ready"
        return self.signals.start_clock(count_in)

    def stop(self, timeout: float = 10.0) -> None:
        self.link.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "vision did not finish after stop"

    def messages(self) -> list:
        out = []
        while self.inbox.poll(0.2):
            try:
                out.append(self.inbox.recv())
            except EOFError:
                break
        return out

    def close(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.hand.close()
        self.voice.close()


def press_key(display: str, pid: int, key: str) -> None:
    """Type ``key`` into the handtone window of process ``pid`` on ``display`` (xdotool). Searched by pid as well as
    title: under a shared Xvfb another test's window may carry the same title."""
    import os
    import subprocess

    from standins import require_tool
    xdotool = require_tool("xdotool")
    env = os.environ | {"DISPLAY": display}
    deadline = time.monotonic() + 10
    wid = ""
    while not wid and time.monotonic() < deadline:
        found = subprocess.run([xdotool, "search", "--onlyvisible", "--pid", str(pid), "--name", "^handtone$"],
                               capture_output=True, text=True, env=env)
        wid = found.stdout.split()[0] if found.stdout.split() else ""
        time.sleep(0.1)
    assert wid, "no window titled handtone"
    time.sleep(1.0)
    subprocess.run([xdotool, "windowfocus", "--sync", wid], env=env, capture_output=True, timeout=5)
    subprocess.run([xdotool, "key", "--window", wid, key], env=env, check=True, timeout=5)
