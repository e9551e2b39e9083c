"""The child contract: flags that never block, start-up timing, and a drain failure that ends the session."""
import multiprocessing as mp
import time

from game.child import ChildContext, Flag, SessionSignals
from game.settings import Settings

SPAWN = mp.get_context("spawn")


def make_context(tmp_path):
    signals = SessionSignals.new(SPAWN)
    link, inbox = signals.link(SPAWN, "synth", tmp_path, {"hand": "x", "voice": "y"})
    return signals, ChildContext("synth", Settings(), link), inbox


def test_a_drain_that_cannot_write_ends_the_session_with_the_reason(tmp_path):
    signals, ctx, inbox = make_context(tmp_path)
    calls = []

    def drain():
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    ctx.drain_until_stopped(drain, 0.01)   # returns by itself after the failure
    assert len(calls) == 3
    assert signals.end.is_set()
    assert inbox.poll(1) and inbox.recv() == ("end", "synth", "synth cannot write its files "
                                             "(OSError: [Errno 28] No space left on device)")
    assert ctx.drain_error.startswith("OSError")
    signals.stop.set()


def test_flag_wait_times_out_and_sees_a_set():
    flag = Flag(SPAWN)
    t = time.monotonic()
    assert flag.wait(0.1) is False and time.monotonic() - t >= 0.1
    flag.set()
    assert flag.wait(0) and flag.is_set()


def test_start_up_counts_from_the_launchers_spawn(tmp_path):
    signals = SessionSignals.new(SPAWN)
    link, _ = signals.link(SPAWN, "vision", tmp_path, {})
    link.spawned_at = time.monotonic() - 0.5
    ctx = ChildContext("vision", Settings(), link)
    ctx.ready()
    assert 0.5 <= ctx.startup_s < 1.0
    signals.stop.set()
