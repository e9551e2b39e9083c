"""`python main.py peek`: watch a running session's hand state from another terminal.

It attaches read-only and outside its resource tracker (game/shm.py), so exiting never unlinks the session's memory.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from game import handstate
from game.song import midi_to_hz, note_name

SHM_DIR = Path("/dev/shm")


def can_list() -> bool:
    """True where shared memory can be listed (Linux's /dev/shm): there `peek` finds the newest session by itself.
    macOS (POSIX shm_open) and Windows (named mappings) keep no list, so `peek` needs the session's number."""
    return SHM_DIR.is_dir()


def running_sessions() -> list[str]:
    """Hand-state segment names of running sessions, newest first (Linux: listed from /dev/shm; else none)."""
    if not can_list():
        return []
    found = [p for p in SHM_DIR.glob(f"{handstate.PREFIX}-*-hand")]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def watch_hint(pid: int) -> str | None:
    """What the launcher says so a session can be watched where `peek` cannot find it alone; None where it can."""
    return None if can_list() else f"`python main.py peek {pid}` watches its hand"


def resolve_name(name: str | None) -> str:
    if name is None:
        if not can_list():
            raise LookupError("this system keeps no list of running sessions: give the session's number, as in "
                              "`python main.py peek 1234` (the session prints the command when it starts)")
        names = running_sessions()
        if not names:
            raise LookupError("no running session found: start one with `python main.py play` (or give the "
                              "shared-memory name printed by the session)")
        return names[0]
    if name.isdigit():
        return handstate.segment_names(name)["hand"]
    return name


def format_state(s: dict, voice: dict | None = None) -> str:
    hand = (f"hand area {s['area']:.4f} at ({s['cx']:.2f}, {s['cy']:.2f}) conf {s['confidence']:.2f}"
            if s["present"] >= 0.5 else "no hand")
    second = f" | 2nd hand y {s['y2']:.2f}" if s["present2"] >= 0.5 else ""
    sound = ""
    if voice is not None:
        sound = (f" | playing {note_name(voice['midi'])} ({midi_to_hz(voice['midi']):.1f} Hz, "
                 f"amp {voice['amplitude']:.2f})" if voice["amplitude"] > 0.01 else " | silent")
    return f"frame {int(s['frame_index']):6d}  t {s['t_capture']:8.3f} s  {hand}{second}{sound}"


def peek(name: str | None, count: int | None = None, interval: float = 0.1, out=sys.stdout) -> int:
    try:
        name = resolve_name(name)
        rec = handstate.attach_hand(name)
    except LookupError as e:
        print(f"handtone: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError:
        running = f" (running: {', '.join(running_sessions()) or 'none'})" if can_list() else ""
        print(f"handtone: error: no shared memory named {name!r}: is the session running?{running}",
              file=sys.stderr)
        return 2
    voice = None
    if name.endswith("-hand"):
        try:  # the synth's record of the same session, when it is there
            voice = handstate.attach_voice(name[: -len("-hand")] + "-voice")
        except (FileNotFoundError, ValueError):
            voice = None
    print(f"peeking at {name} (Ctrl-C to stop)", file=out, flush=True)
    shown = 0
    try:
        while count is None or shown < count:
            print(format_state(rec.read(), voice.read() if voice else None), file=out, flush=True)
            shown += 1
            if SHM_DIR.is_dir() and not (SHM_DIR / name).exists():
                print("the session ended", file=out, flush=True)
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        rec.close()
        if voice is not None:
            voice.close()
    return 0
