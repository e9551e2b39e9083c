"""What every session child (vision, synth, music, recorder) shares: start-up, the session clock, stop, reporting.

The launcher starts each child with the `spawn` method as ``child_main(name, target, settings, link)``; ``target``
is "module:function" and is called with a ChildContext. The child:

1. opens its device, says ``ctx.ready()`` (the launcher measures start-up time from process start to this);
2. waits for ``t0 = ctx.wait_go()``: the session clock's zero on ``time.monotonic()``, the same in every process;
3. works until ``ctx.stopped`` is set (launcher's stop, SIGTERM, or the launcher dying), stamping times with
   ``ctx.now()`` (seconds since t0);
4. writes what it collected (logs, WAV, ``ctx.write_stats``) and returns.

Ctrl-C reaches the whole process group; children ignore SIGINT and leave it to the launcher, which stops them.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from importlib import import_module
from multiprocessing import parent_process
from pathlib import Path
from typing import Any

from game.cputime import process_usage
from game.pause import PAUSE_SIGNAL


class ChildFailure(RuntimeError):
    """A failure with a one-line reason for the player (what is wrong and what to do)."""


class Flag:
    """A shared yes/no that never blocks: one byte in shared memory (multiprocessing.RawValue), no lock.

    Why not multiprocessing.Event: its set() waits for every process sleeping in wait() to wake, so a child killed
    with SIGKILL while waiting makes the launcher's stop hang forever. A byte written by one side and polled by the
    other cannot hang."""

    def __init__(self, ctx):
        self._value = ctx.RawValue("b", 0)

    def set(self) -> None:
        self._value.value = 1

    def is_set(self) -> bool:
        return bool(self._value.value)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._value.value:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)  # stop and go are never needed faster; the audio process must stay quiet
        return True


class Outbox:
    """The child's end of its own one-way pipe to the launcher (no lock shared with other children)."""

    def __init__(self, conn):
        self.conn = conn

    def put(self, message) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            pass  # the launcher is gone; nothing to tell


@dataclass
class ChildLink:
    """The picklable handles the launcher gives a child (Flags, or anything with set/is_set/wait)."""
    name: str
    session_dir: str
    shm: dict            # {"hand": name, "voice": name, "pause": name, ...}
    ready: Any           # Flag: this child is ready
    go: Any              # Flag: t0 is set, the count-in runs
    stop: Any            # Flag: the session is over, finish up
    end: Any             # Flag: a child asks to end the session (window quit, file camera ended)
    t0: Any              # multiprocessing RawValue('d'): t0 on time.monotonic()
    messages: Any        # Outbox (anything with put()) of (kind, child, text): notice | end | error | pause
    spawned_at: float = 0.0  # time.monotonic() when the launcher started the process (start-up counts from here)


@dataclass
class SessionSignals:
    """The session-wide flags and clock every child shares; ``link()`` makes one child's handles."""
    go: Flag
    stop: Flag
    end: Flag
    t0: Any              # RawValue('d'), 0.0 until the launcher fixes t0

    @classmethod
    def new(cls, ctx) -> "SessionSignals":
        return cls(Flag(ctx), Flag(ctx), Flag(ctx), ctx.RawValue("d", 0.0))

    def link(self, ctx, name: str, session_dir, shm: dict):
        """A child's ChildLink and the read end of its message pipe (close the link's write end once started)."""
        reader, writer = ctx.Pipe(duplex=False)
        link = ChildLink(name, str(session_dir), dict(shm), Flag(ctx), self.go, self.stop, self.end, self.t0,
                         Outbox(writer))
        return link, reader

    def start_clock(self, count_in: float) -> float:
        """Fix t0 ``count_in`` seconds from now and let the children go."""
        self.t0.value = time.monotonic() + count_in
        self.go.set()
        return self.t0.value


class ChildContext:
    def __init__(self, name: str, settings, link: ChildLink):
        self.name = name
        self.settings = settings
        self.link = link
        self.session_dir = Path(link.session_dir)
        self.t0: float | None = None
        self.started = link.spawned_at or time.monotonic()
        self.startup_s: float | None = None
        self.stopped = threading.Event()
        self.drain_error: str | None = None   # set when a drain thread could not write (see drain_until_stopped)
        self._watch = threading.Thread(target=self._watch_stop, name=f"{name}-stopwatch", daemon=True)
        self._watch.start()

    def _watch_stop(self) -> None:
        parent = parent_process()
        while not self.stopped.is_set():
            if self.link.stop.wait(0.1):
                self.stopped.set()
            elif parent is not None and not parent.is_alive():
                self.stopped.set()  # launcher gone: finish and write what we have

    # ---- session clock --------------------------------------------------------------------------------------
    def ready(self) -> None:
        self.startup_s = time.monotonic() - self.started
        self.link.ready.set()

    def wait_go(self, timeout: float | None = None) -> float | None:
        """Block until t0 is known (or the session stops first: returns None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.stopped.is_set():
            if self.link.go.wait(0.05):
                self.t0 = float(self.link.t0.value)
                return self.t0
            if deadline is not None and time.monotonic() > deadline:
                return None
        return None

    def now(self) -> float:
        """Seconds since t0 (negative during the count-in)."""
        return time.monotonic() - (self.t0 if self.t0 is not None else float(self.link.t0.value))

    def song(self):
        """The session's song; a file that does not load is a ChildFailure with the parser's one-line reason."""
        from game.song import SongError, load_for
        try:
            return load_for(self.settings)
        except SongError as e:
            raise ChildFailure(str(e)) from None

    def drain_until_stopped(self, drain, every: float) -> None:
        """Call ``drain`` every ``every`` seconds until the stop (a drain thread's body). A failure (disk full,
        say) ends the session with the reason, instead of killing the thread unseen while the game plays on."""
        while not self.stopped.wait(every):
            try:
                drain()
            except Exception as e:  # noqa: BLE001 - reported to the player, then this thread ends
                self.drain_error = f"{type(e).__name__}: {e}"
                self.end_session(f"{self.name} cannot write its files ({self.drain_error})")
                return

    # ---- talking to the launcher ----------------------------------------------------------------------------
    def notice(self, text: str) -> None:
        """A one-line message the launcher prints for the player (e.g. 'no microphone: not recording')."""
        self.link.messages.put(("notice", self.name, text))

    def info(self, text: str) -> None:
        """A line the launcher prints but the reports leave out: how the session runs (which detector "auto"
        chose), not something the player has to know afterwards."""
        self.link.messages.put(("info", self.name, text))

    def headless(self) -> None:
        """Tell the launcher the game window it asked for did not open (no display), before this child is ready: the
        player's messages then name what works without one."""
        self.link.messages.put(("headless", self.name, ""))

    def toggle_pause(self, why: str) -> None:
        """Ask the launcher to pause the song or play on (the p key); it alone writes the pause record."""
        self.link.messages.put(("pause", self.name, why))

    def leave(self, reason: str) -> None:
        """Tell the launcher this process is ending on its own while the session goes on (its device went away);
        the launcher prints the reason, the report keeps it, and the exit that follows is not a crash."""
        self.link.messages.put(("left", self.name, reason))

    def end_session(self, reason: str) -> None:
        """Ask the launcher to end the session (e.g. the player pressed q, the video file ended)."""
        self.link.messages.put(("end", self.name, reason))
        self.link.end.set()

    def write_stats(self, stats: dict) -> Path:
        """Write stats-<name>.json; start-up time and CPU seconds are added here."""
        data = {"process": self.name, "pid": os.getpid(), "startup_s": self.startup_s, **process_usage()}
        data.update(stats)
        return write_json(self.session_dir / f"stats-{self.name}.json", data)


def write_json(path: Path, data) -> Path:
    """Write JSON atomically (a reader never sees half a file)."""
    from game.atomicfile import write_atomic
    return write_atomic(Path(path), json.dumps(data, indent=2, default=_jsonable).encode("utf-8"))


def read_json(path: Path) -> dict:
    """A JSON object file as a dict; {} when it is missing, unreadable or not an object (a child killed before
    writing its stats leaves none)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def child_main(name: str, target: str, settings, link: ChildLink) -> None:
    """Entry point of every child process (started with the spawn method)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if PAUSE_SIGNAL is not None:    # pause is the launcher's: a SIGUSR1 to the group must not kill us
        signal.signal(PAUSE_SIGNAL, signal.SIG_IGN)
    ctx = ChildContext(name, settings, link)
    signal.signal(signal.SIGTERM, lambda *_: ctx.stopped.set())
    module, func = target.split(":")
    try:
        getattr(import_module(module), func)(ctx)
    except ChildFailure as e:
        link.messages.put(("error", name, str(e)))
        sys.exit(2)
    except BaseException as e:  # noqa: BLE001 - report anything, then die with a non-zero code
        if isinstance(e, SystemExit) and not e.code:
            return
        link.messages.put(("error", name, f"{type(e).__name__}: {e}"))
        traceback.print_exc()
        sys.exit(1)
