"""Pausing a session: one shared record of the pauses, and the song time every process derives from it.

Why song time: the song (the backing, the note lane, the judging, a video file's or the demo clip's pictures) must
stop while the player pauses, but the session clock (seconds since t0) never stops: the logs stay on it, and the
microphone keeps recording the room through a pause. Song time = session time minus the time paused before it.

One writer: the launcher (p in the game window reaches it as a message from vision; SIGUSR1 to the launcher does the
same). Every child that follows the song reads the record without locks (game/shm.py's seqlock; the audio callbacks
read it into a preallocated array, scalar arithmetic only).

Timing: a pause begins a short lead after the request (``lead_s``: longer than an audio block plus the device's
latency), so no block already on its way to the speaker falls inside the pause; resuming is scheduled a count-in
later (``resume_after_s``, the session's --count-in), so every process resumes at the same known instant, the
backing at the very sample where it stopped (give or take a block, faded).

Record (float64 fields, game/shm.py layout):

    count    pauses so far (0: never paused)
    before   seconds of all the pauses before the latest one
    start    session s at which the latest pause begins (inf: never paused)
    end      session s at which it ends (inf while paused; a time ahead during the resume count-in)

    song_time(t) = t - before - clamp(t - start, 0, end - start)     for t after the previous pause ended

session.json keeps the pauses as [[start, end], ...] in session seconds; ``song_times`` maps the logs through them.
"""
from __future__ import annotations

import math
import os
import signal

import numpy as np

from game.shm import SeqlockRecord

FIELDS = ("count", "before", "start", "end")
#: the signal that pauses a session from outside (`kill -USR1 PID`); None where the OS has none (Windows: p in the
#: game window still pauses)
PAUSE_SIGNAL = getattr(signal, "SIGUSR1", None)
COUNT, BEFORE, START, END = range(4)
INF = math.inf

PLAYING, PAUSED, RESUMING = 0, 1, 2   # SongClock.state: the song runs; it is held; it is held, the count-in runs
MIN_LEAD_S = 0.1


def segment_name(names: dict) -> str:
    """The pause record's segment, named like the session's others (handtone-<launcher pid>-pause)."""
    return names["hand"].rsplit("-", 1)[0] + "-pause"


def pause_keys(window: bool, pid: int | None = None) -> tuple[str, str] | None:
    """(what plays on / pauses, what stops) for the player's messages: p and q in the window; headless, the launcher's
    SIGUSR1 and Ctrl-C; None headless where the OS has no SIGUSR1 (Windows: nothing can pause)."""
    if window:
        return "p", "q"
    if PAUSE_SIGNAL is None:
        return None
    return f"`kill -USR1 {os.getpid() if pid is None else pid}`", "Ctrl-C"


def lead_s(settings) -> float:
    """How far ahead a pause begins: two audio blocks and 50 ms of device latency, at least MIN_LEAD_S."""
    return max(MIN_LEAD_S, 0.05 + 2.0 * settings.block / settings.sample_rate)


def resume_after_s(settings) -> float:
    """How long after the request the song plays on: the session's count-in (never less than the lead)."""
    return max(float(settings.count_in), lead_s(settings))


def song_time(t: float, before: float, start: float, end: float) -> float:
    """Song time at session time t, given the latest pause (scalar: the audio callbacks call it)."""
    if t <= start:
        return t - before
    return start - before if t < end else t - before - (end - start)


# ---- the launcher's side: the one writer --------------------------------------------------------------------------
class PauseControl:
    """Toggles the pause, publishes it, and keeps every pause as [start, end] (session s) for session.json."""

    def __init__(self, record: SeqlockRecord | None, lead: float, resume_after: float, window: bool = True):
        self.record = record
        self.lead, self.resume_after = lead, resume_after
        self.set_window(window)
        self.values = np.array([0.0, 0.0, INF, INF])
        self.spans: list[list[float]] = []
        self._publish()

    def set_window(self, window: bool) -> None:
        """What the player does next, in the words of how they play: keys in the window, or a signal when headless
        (the launcher learns at start-up whether the window it asked for opened)."""
        self.play_on, self.stop = pause_keys(window) or ("p", "q")

    @classmethod
    def create(cls, name: str, settings) -> "PauseControl":
        return cls(SeqlockRecord.create(name, FIELDS), lead_s(settings), resume_after_s(settings),
                   bool(settings.window))

    def _publish(self) -> None:
        if self.record is not None:
            self.record.write(self.values)

    def state(self, t: float) -> int:
        v = self.values
        if v[COUNT] == 0 or t < v[START] or t >= v[END]:
            return PLAYING
        return PAUSED if t < v[END] - self.resume_after else RESUMING

    def song_time(self, t: float) -> float:
        v = self.values
        return song_time(t, v[BEFORE], v[START], v[END])

    def toggle(self, t: float) -> str:
        """p pressed at session time t: pause, or play on after the count-in, or (during that count-in) stay
        paused. Returns what happened, in words for the player."""
        v = self.values
        holding = v[COUNT] > 0 and v[END] == INF
        resuming = v[COUNT] > 0 and t < v[END] < INF
        if holding:
            v[END] = t + self.resume_after
            self.spans[-1][1] = float(v[END])
            what = (f"playing on from {self.song_time(t):.1f} s of the song after a {self.resume_after:g} s "
                    "count-in")
        elif resuming:
            v[END] = INF
            self.spans[-1][1] = INF
            what = f"still paused at {self.song_time(t):.1f} s of the song: {self.play_on} plays on"
        else:
            if v[COUNT] > 0:
                v[BEFORE] += v[END] - v[START]
            v[COUNT] += 1
            v[START], v[END] = t + self.lead, INF
            self.spans.append([float(v[START]), INF])
            what = (f"paused at {self.song_time(v[START]):.1f} s of the song: {self.play_on} plays on, "
                    f"{self.stop} stops")
        self._publish()
        return what

    def spans_until(self, t_stop: float) -> list[list[float]]:
        """The pauses as they happened when the session stopped at t_stop: an open pause (or its count-in) ends
        there; one that had not begun yet did not happen."""
        return [[round(s, 6), round(min(e, float(t_stop)), 6)] for s, e in self.spans if s < t_stop]

    def close(self) -> None:
        if self.record is not None:
            self.record.close()
            self.record = None


# ---- the children's side: readers ---------------------------------------------------------------------------------
class SongClock:
    """A child's view of the pauses: song time and pause state at a session time. Without a record (a test that
    starts a child alone, an older launcher) the song is never paused.

    ``refresh()`` reads the record (lock-free, no allocation); the other methods are scalar arithmetic on that copy,
    so an audio callback can refresh once per block and ask several questions."""

    def __init__(self, record: SeqlockRecord | None, resume_after: float):
        self.record = record
        self.resume_after = resume_after
        self.values = np.array([0.0, 0.0, INF, INF])
        if record is not None:
            record.bind(self.values)   # refresh() runs in audio callbacks: nothing allocated there

    @classmethod
    def attach(cls, shm: dict, settings) -> "SongClock":
        """The session's clock from a child link's segment names (no "pause" segment: never paused)."""
        name = shm.get("pause")
        return cls(SeqlockRecord.attach(name, FIELDS) if name else None, resume_after_s(settings))

    def refresh(self) -> None:
        if self.record is not None:
            self.record.read_into(self.values)

    def song_time(self, t: float) -> float:
        v = self.values
        return song_time(t, v[BEFORE], v[START], v[END])

    def state(self, t: float) -> int:
        v = self.values
        if t < v[START] or t >= v[END]:   # also never paused: start is inf
            return PLAYING
        return PAUSED if t < v[END] - self.resume_after else RESUMING

    def resume_in(self, t: float) -> float | None:
        """Seconds until the song plays on (during the resume count-in), else None."""
        return self.values[END] - t if self.state(t) == RESUMING else None

    def session_time(self, song_t: float) -> float:
        """The session time at which the song reaches song_t (inf while it is held before it): a paced video's
        frame of song time song_t is due then. For song times after the previous pause ended."""
        v = self.values
        t = song_t + v[BEFORE]
        if t <= v[START]:
            return t
        return INF if v[END] == INF else t + (v[END] - v[START])

    def close(self) -> None:
        if self.record is not None:
            self.record.close()
            self.record = None


# ---- the reports' side: whole logs ----------------------------------------------------------------------------------
def spans_from(session: dict) -> list[tuple[float, float]]:
    """session.json's pauses as sorted (start, end) pairs; anything malformed is left out."""
    raw = session.get("pauses") if isinstance(session, dict) else None
    out = []
    for item in raw if isinstance(raw, list) else ():
        try:
            s, e = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(s) and math.isfinite(e) and e > s:
            out.append((s, e))
    return sorted(out)


def song_times(t: np.ndarray, spans) -> np.ndarray:
    """Song time of each session time in t (a time inside a pause maps to where the song was held)."""
    t = np.asarray(t, dtype=float)
    out = t.copy()
    for s, e in spans:
        out -= np.clip(t - s, 0.0, e - s)
    return out


def in_pause(t: np.ndarray, spans) -> np.ndarray:
    """True where a session time falls inside a pause (those moments neither hit nor miss a note)."""
    t = np.asarray(t, dtype=float)
    out = np.zeros(t.shape, bool)
    for s, e in spans:
        out |= (t >= s) & (t < e)
    return out


def paused_total(spans) -> float:
    return float(sum(e - s for s, e in spans))
