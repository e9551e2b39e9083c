"""A real child context for the vision process, as the launcher would build it (real events, real shared memory)."""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
import uuid

from game import handstate
from game.child import ChildContext, ChildLink


class Session:
    """Creates the hand/voice segments and a ChildLink; ``go()`` fixes t0 like the launcher's count-in."""

    def __init__(self, session_dir, settings):
        names = handstate.segment_names(f"test{uuid.uuid4().hex[:8]}")
        self.hand = handstate.create_hand(names["hand"])
        self.voice = handstate.create_voice(names["voice"])
        self.link = ChildLink(name="vision", session_dir=str(session_dir), shm=names, ready=mp.Event(), go=mp.Event(),
                              stop=mp.Event(), end=mp.Event(), t0=mp.RawValue("d", 0.0), messages=mp.Queue())
        self.ctx = ChildContext("vision", settings, self.link)
        self.thread = None
        self.error = None

    def start(self, target) -> "Session":
        def body():
            try:
                target(self.ctx)
            except BaseException as e:  # noqa: BLE001 - handed to the test
                self.error = e
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()
        return self

    def go(self, count_in: float = 0.3) -> float:
        deadline = time.monotonic() + 60
        while not self.link.ready.wait(0.05):
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline and self.thread.is_alive(), "vision did not say ready"
        t0 = time.monotonic() + count_in
        self.link.t0.value = t0
        self.link.go.set()
        return t0

    def stop(self, timeout: float = 10.0) -> None:
        self.link.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "vision did not finish after stop"

    def messages(self) -> list:
        out = []
        while True:
            try:
                out.append(self.link.messages.get(timeout=0.2))
            except Exception:  # noqa: BLE001 - queue.Empty
                return out

    def close(self) -> None:
        self.hand.close()
        self.voice.close()
