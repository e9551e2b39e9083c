"""The launcher: one session from start to reports.

It owns everything shared: it creates the named shared memory (and is the only one to unlink it), spawns the four
children (five with --record-video: the video writer, fed by a frame ring in shared memory), waits for each to be
ready, fixes the session clock t0 after a short count-in, supervises until a stop condition, stops the children (stop
event, bounded joins, terminate, kill), and writes the reports from whatever was collected. It is also the one writer
of the pause record (game/pause.py): p in the window (a message from vision) or SIGUSR1 toggles it. Every exit path goes
through the same ``finally``; if the launcher itself is killed, the children notice their parent is gone and finish,
and the resource tracker unlinks the segments the launcher created.
"""
from __future__ import annotations

import multiprocessing as mp
import re
import os
import signal
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import wait as wait_connections
from pathlib import Path

from game import handstate
from game.child import ChildLink, SessionSignals, child_main, write_json
from game.framering import FrameRing, RingSpaceError, slots_for
from game.cputime import process_usage
from game.pause import PAUSE_SIGNAL, PauseControl, pause_keys, segment_name as pause_segment_name
from game.peek import watch_hint
from game.settings import Settings
from game.song import Song

CHILDREN = {
    "vision": "vision.process:run",
    "synth": "audio.synth:run",
    "music": "audio.music:run",
    "recorder": "audio.recorder:run",
}
VIDEO_CHILD = ("videowriter", "vision.videowriter:run")   # a fifth child with --record-video
JOIN_TIMEOUT = 4.0   # seconds a child gets to finish after the stop event
TERM_TIMEOUT = 2.0   # ... and after SIGTERM, before SIGKILL


@dataclass
class SessionResult:
    exit_code: int
    reason: str
    session_dir: Path | None = None
    summary: object = None          # reports.build.ReportSummary when reports were written
    notices: list = field(default_factory=list)
    unsaid: list = field(default_factory=list)   # start-up lines not printed: the start failed, not by a child's error


class StartFailure(RuntimeError):
    """The session could not start; the message is the one-line reason for the player. ``own``: a child's own
    error (no camera at index 3), which says all there is to say."""

    def __init__(self, text: str, own: bool = False):
        super().__init__(text)
        self.own = own


def _say(text: str) -> None:
    print(f"handtone: {text}", flush=True)


def new_session_dir(out_dir: str | Path, song: Song, suffix: str = "") -> Path:
    """A new folder <date>-<time>-<song><suffix>; a name already taken gets -2, -3, ... before the suffix."""
    ascii_title = unicodedata.normalize("NFKD", song.title).encode("ascii", "ignore").decode()  # Frère -> Frere
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-") or "song"
    base = Path(out_dir) / f"{datetime.now():%Y%m%d-%H%M%S}-{slug}"
    path, n = base.with_name(base.name + suffix), 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}{suffix}")


#: settings fields session.json keeps (under "sound", "pitch" and "hands") so `analyze` replays the voice the session
#: played (game/analyze.voice_from_session); besides block, snap, snap_strength and vibrato_cents
REPLAYED_SOUND = ("sample_rate", "glide_ms", "attack_ms", "release_ms", "vibrato_hz", "synth_volume")
REPLAYED_PITCH = ("area_far", "area_near", "pitch_margin")
REPLAYED_HANDS = ("pitch_hand", "landmark_model")


def session_fields(s, song) -> dict:
    """session.json's song and judging fields, which `python main.py report` rebuilds a folder by (reports/build.py
    with_session): written by the launcher, and by analyze for its folders."""
    return {
        "song": song.title, "artist": song.artist, "song_path": song.path,
        "player": s.player, "difficulty": s.difficulty, "tolerance": s.tolerance,
        "transpose": s.transpose, "tempo": s.tempo, "voice": s.voice, "track": s.track,
        "octave_fold": s.octave_fold, "delay": s.delay,
        "sound": {"block": s.block, "latency": s.latency, "music_latency": s.music_latency, "snap": s.snap,
                  "snap_strength": s.snap_strength, "vibrato_cents": s.vibrato_cents,
                  "music_backend": s.music_backend, **{k: getattr(s, k) for k in REPLAYED_SOUND}},
        # the pitch range the session played by (after the player's calibration) and the hands: analyze replays
        # the voice with these, whatever the player's calibration or .env says by then
        "pitch": {k: getattr(s, k) for k in REPLAYED_PITCH},
        "hands": {k: getattr(s, k) for k in REPLAYED_HANDS},
    }


class Launcher:
    def __init__(self, settings: Settings, song: Song, children: dict | None = None, say=_say):
        self.settings = settings
        self.song = song
        self.children_spec = dict(children or CHILDREN)
        if settings.record_video and children is None:
            self.children_spec[VIDEO_CHILD[0]] = VIDEO_CHILD[1]
        self.ring: FrameRing | None = None   # the video frames, vision -> videowriter (--record-video)
        self.say = say
        self.procs: dict[str, mp.Process] = {}
        self.links: dict[str, ChildLink] = {}
        self.started_at: dict[str, float] = {}
        self.startup: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self.left: dict[str, str] = {}         # children that ended on their own (a device went away) and why
        self.left_ok: set[str] = set()         # ... and have exited cleanly since
        self.notices: list[str] = []
        # the children's notices during start-up ("no speaker: playing silently"), said once every child is ready:
        # when the start fails (no camera at index 3) its error is what the player reads, not two lines about a
        # session that never played (they stay in the result's notices)
        self.held: list[str] | None = []
        self.window_open = bool(settings.window)   # False once vision says the window could not open
        self.signal_reason: str | None = None
        self.end_reason: str | None = None
        self.records = []
        self.inboxes = {}   # read end of each child's pipe -> child name
        self.all_ready_s = None
        self.all_ready_at: float | None = None   # time.monotonic() of every child ready (bench startup)
        self.played_s = 0.0
        self.signals: SessionSignals | None = None
        self.pauses: PauseControl | None = None   # the one writer of the pause record (game/pause.py)
        self.pause_requests = 0                   # SIGUSR1s not yet acted on
        self.t0: float | None = None
        self.stopped_s: float | None = None       # session time of the stop

    # ---- signals ------------------------------------------------------------------------------------------
    def _on_pause_signal(self, _signum, _frame) -> None:
        self.pause_requests += 1   # acted on by the supervision loop, not here

    def _on_signal(self, signum, _frame) -> None:
        self.signal_reason = {signal.SIGINT: "stopped (Ctrl-C)", signal.SIGTERM: "stopped (SIGTERM)"}.get(
            signum, f"stopped (signal {signum})")

    # ---- the session ----------------------------------------------------------------------------------------
    def run(self) -> SessionResult:
        s = self.settings
        ctx = mp.get_context("spawn")
        old_handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        if PAUSE_SIGNAL is not None:
            old_handlers[PAUSE_SIGNAL] = signal.signal(PAUSE_SIGNAL, self._on_pause_signal)
        session_dir = new_session_dir(s.out_dir, self.song)
        names = handstate.segment_names()
        t_start = time.monotonic()
        self.started = datetime.now().astimezone().isoformat(timespec="seconds")
        t0_value = None
        played = False
        own = False
        reason, exit_code = "", 0
        crash = None
        try:
            self.records = [handstate.create_hand(names["hand"]), handstate.create_voice(names["voice"])]
            self.records[1].write([0.0, 0.0, 0.0, -1.0])
            names["pause"] = pause_segment_name(names)
            self.pauses = PauseControl.create(names["pause"], s)
            self.records.append(self.pauses)
            if s.record_video:   # two rings: the annotated pictures (session.mp4), the camera's own (camera.mp4)
                names["video"] = video_segment_name(names)
                names["camera"] = video_segment_name(names, "camera")
                try:
                    self.ring = FrameRing.create(names["video"], slots_for(s.fps), s.height, s.width)
                    self.records.append(self.ring)
                    self.records.append(FrameRing.create(names["camera"], slots_for(s.fps), s.height, s.width))
                except RingSpaceError as e:
                    raise StartFailure(str(e)) from None
            signals = self.signals = SessionSignals.new(ctx)
            for name, target in self.children_spec.items():
                link, reader = signals.link(ctx, name, session_dir, names)
                proc = ctx.Process(target=child_main, args=(name, target, s, link), name=f"handtone-{name}")
                self.links[name] = link
                self.started_at[name] = link.spawned_at = time.monotonic()
                proc.start()
                link.messages.conn.close()  # the child holds the only write end: its death closes the pipe
                self.inboxes[reader] = name
                self.procs[name] = proc
            self._wait_ready()
            self._drain_messages()     # all a child said before it was ready (it says them first): no window?
            self.pauses.set_window(self.window_open)
            for text in self.held:
                self.say(text)
            self.held = None
            self.all_ready_at = time.monotonic()
            self.all_ready_s = round(self.all_ready_at - t_start, 3)
            t0_value = self.t0 = signals.start_clock(s.count_in)
            played = True
            write_json(session_dir / "session.json", self._session_info("running", t_start))
            song_end = self.song.duration + s.tail
            # --duration stops early; with --loop-video (the video goes on) it is the session's length
            end_at = song_end if s.duration is None else (s.duration if s.loop_video else min(s.duration, song_end))
            length = (f"{self.song.duration:.1f} s" if end_at == song_end   # the song's end ends the session
                      else f"{end_at:.1f} s" if end_at > song_end               # --loop-video --duration past it
                      else f"{end_at:.1f} of {self.song.duration:.1f} s")
            watch = watch_hint(os.getpid())
            headless = pause_keys(False)
            pause_how = (("p in the window" + (f" or {headless[0]}" if headless else "")) if self.window_open
                         else headless[0] if headless else None)
            self.say(f"playing {self.song.title} ({length}) after a {s.count_in:g} s count-in; "
                     f"session folder {session_dir}" + (f"; {pause_how} pauses" if pause_how else "")
                     + (f"; {watch}" if watch else ""))
            reason, exit_code = self._supervise(t0_value, end_at, signals.end)
        except StartFailure as e:
            reason, exit_code, own = str(e), 2, e.own
        except Exception as e:  # noqa: BLE001 - a bug of ours: stop, and still write what was collected
            reason, exit_code, crash = f"launcher error: {type(e).__name__}: {e}", 1, e
        finally:
            if played:
                self.stopped_s = time.monotonic() - t0_value
                self.played_s = max(0.0, min(self.pauses.song_time(self.stopped_s), end_at))
            self._stop_children()
            self._drain_messages()
            video_fps = self.ring.fps if self.ring is not None else 0.0
            for rec in self.records:
                rec.close()
        if not played:
            self._restore(old_handlers)
            _remove_empty_session(session_dir)
            if crash is not None:
                raise crash
            return SessionResult(exit_code or 2, reason or "the session did not start", None, notices=self.notices,
                                 unsaid=[] if own else list(self.held or []))
        self._finish_video(session_dir, video_fps)
        write_json(session_dir / "session.json", self._session_info(reason, t_start))
        self._write_stats(session_dir, t_start)
        try:
            summary = self._reports(session_dir)  # Ctrl-C meanwhile only sets signal_reason: the reports finish
        finally:
            self._restore(old_handlers)
        return SessionResult(exit_code, reason, session_dir, summary, self.notices)

    @staticmethod
    def _restore(handlers: dict) -> None:
        for sig, h in handlers.items():
            signal.signal(sig, h)

    def _write_stats(self, session_dir: Path, t_start: float) -> None:
        """stats-launcher.json, like the children's: start-up is launcher start to every child ready."""
        write_json(session_dir / "stats-launcher.json", {
            "process": "launcher", "pid": os.getpid(), "startup_s": self.all_ready_s, **process_usage(),
            "children_startup_s": {k: round(v, 3) for k, v in self.startup.items()},
            # time.monotonic() (CLOCK_MONOTONIC: one clock for every process on Linux) of the launcher's start, of
            # every child ready and of t0, so a caller's own clock readings line up with them (bench startup)
            "monotonic": {"start": t_start, "all_ready": self.all_ready_at, "t0": self.t0}})

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout
        pending = set(self.procs)
        while pending:
            self._drain_messages()
            for name in list(pending):
                if self.links[name].ready.is_set():
                    self.startup[name] = time.monotonic() - self.started_at[name]
                    pending.discard(name)
                elif not self.procs[name].is_alive():
                    self._drain_messages(wait=0.3)
                    raise StartFailure(self.errors.get(name) or f"{name} process exited during start-up "
                                       f"({_exit_text(self.procs[name].exitcode)})", own=name in self.errors)
            if self.signal_reason:
                raise StartFailure(f"{self.signal_reason} before the session started", own=True)   # the player's own
            if time.monotonic() > deadline:
                raise StartFailure(f"{', '.join(sorted(pending))} not ready after "
                                   f"{self.settings.ready_timeout:g} s")
            time.sleep(0.02)

    def _supervise(self, t0: float, end_at: float, end) -> tuple[str, int]:
        """Until a stop condition. end_at is in song time: pauses move the song's end (and --duration's) later."""
        while True:
            self._drain_messages()
            while self.pause_requests > 0:
                self.pause_requests -= 1
                self._toggle_pause()
            if self.signal_reason:
                return self.signal_reason, 0
            if end.is_set():
                self._drain_messages(wait=0.1)
                return self.end_reason or "ended by a child", 0
            for name, proc in self.procs.items():
                if not proc.is_alive() and name not in self.left_ok:
                    self._drain_until_closed(name, 0.3)
                    if name in self.left and proc.exitcode == 0:
                        self.left_ok.add(name)    # its device went away: the session goes on without it
                        continue
                    why = self.errors.get(name) or _exit_text(proc.exitcode)
                    return f"{name} process died: {why}", 1
            if self.pauses.song_time(time.monotonic() - t0) >= end_at:
                return ("song ended" if end_at == self.song.duration + self.settings.tail else
                        f"--duration {self.settings.duration:g} s reached"), 0
            if self.inboxes:
                self._drain_messages(wait=0.05)   # a pause request is acted on as it arrives
            else:
                time.sleep(0.05)

    def _toggle_pause(self) -> None:
        """p in the window or SIGUSR1: pause or play on (only while the song plays: not in the count-in before
        it, not once the session is stopping)."""
        if self.pauses is None or self.t0 is None or self.stopped_s is not None:
            return
        t = time.monotonic() - self.t0
        if t < 0:
            self.say(f"the song has not started yet: {self.pauses.play_on} pauses it once it plays")
            return
        self.say(self.pauses.toggle(t))

    def _drain_until_closed(self, name: str, wait: float) -> None:
        """Read a dead child's last words: its pipe ends once they are read (no more than ``wait`` seconds), so the
        session stops when the death is seen, not a fixed wait later (the video and logs would run on meanwhile)."""
        deadline = time.monotonic() + wait
        while name in self.inboxes.values() and time.monotonic() < deadline:
            self._drain_messages(wait=0.01)

    def _drain_messages(self, wait: float = 0.0) -> None:
        """Handle what the children said; wait up to ``wait`` seconds for more."""
        deadline = time.monotonic() + wait
        while self.inboxes:
            ready = wait_connections(list(self.inboxes), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                return
            for conn in ready:
                try:
                    kind, name, text = conn.recv()
                except (EOFError, OSError):
                    self.inboxes.pop(conn, None)  # that child has exited
                    conn.close()
                    continue
                if kind == "notice":
                    self._notice(f"{name}: {text}")
                elif kind == "info":
                    self._notice(f"{name}: {text}", keep=False)
                elif kind == "headless":
                    self.window_open = False
                elif kind == "error":
                    self.errors[name] = text
                elif kind == "left":
                    self.left[name] = text
                    self._notice(f"{name}: {text}")
                elif kind == "end":
                    self.end_reason = self.end_reason or text
                elif kind == "pause":
                    self._toggle_pause()

    def _notice(self, text: str, keep: bool = True) -> None:
        """Say a child's line (held during start-up); ``keep``: the reports list it under the session's notes."""
        if keep:
            self.notices.append(text)
        if self.held is not None:
            self.held.append(text)
        else:
            self.say(text)

    def _stop_children(self) -> None:
        if self.signals is not None:
            self.signals.stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for name, proc in self.procs.items():
            if proc.is_alive():
                self.say(f"{name} did not stop in {JOIN_TIMEOUT:g} s: terminating it")
                proc.terminate()
        deadline = time.monotonic() + TERM_TIMEOUT
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.procs.values():
            if proc.is_alive():
                proc.kill()
                proc.join(2)

    def _finish_video(self, session_dir: Path, ring_fps: float) -> None:
        """A video writer that was killed could not write the mp4s' index: rebuild session.mp4 and camera.mp4 from
        their frames (vision/videosalvage.py) and tell the player either way."""
        name = VIDEO_CHILD[0]
        proc = self.procs.get(name)
        if proc is None or proc.exitcode == 0:
            return
        from vision.videosalvage import rebuild
        from vision.videowriter import CAMERA_FILE, FILE_NAME
        s = self.settings
        fps = ring_fps if ring_fps > 0 else float(s.fps)   # as vision/videowriter.py:video_fps chose it
        for file_name in (FILE_NAME, CAMERA_FILE):
            try:
                frames, what = rebuild(session_dir / file_name, fps, s.width, s.height)
            except Exception as e:  # noqa: BLE001 - the rest of the session's files still matter
                frames, what = 0, f"rebuilding it failed ({type(e).__name__}: {e})"
            if frames < 0:
                continue
            text = (f"{file_name} was not finished ({_exit_text(proc.exitcode)}): {what}"
                    + ("; the last moments may be missing" if frames > 0 else "; it will not play"))
            self.notices.append(f"{name}: {text}")
            self.say(f"{name}: {text}")

    def _session_info(self, reason: str, t_start: float) -> dict:
        s = self.settings
        stopped = self.pauses is not None and self.stopped_s is not None
        pauses = self.pauses.spans_until(self.stopped_s) if stopped else []
        return session_fields(s, self.song) | {
            "started": self.started, "stop_reason": reason, "duration_s": round(getattr(self, "played_s", 0.0), 3),
            "count_in_s": s.count_in, "camera": s.camera, "launcher_s": round(time.monotonic() - t_start, 3),
            "launcher_pid": os.getpid(),
            # pauses as [start, end] in session seconds (logs stay on the session clock; reports map it to song
            # time through these); duration_s above is song time played, pauses not counted
            "pauses": pauses, "paused_s": round(sum(e - st for st, e in pauses), 3),
            "children": {name: {"pid": p.pid, "exitcode": p.exitcode,
                                "startup_s": round(self.startup[name], 3) if name in self.startup else None,
                                "error": self.errors.get(name)}
                         for name, p in self.procs.items()},
            "notices": self.notices,
            "left": self.left,
        }

    def _reports(self, session_dir: Path):
        from reports.build import build_reports
        try:
            return build_reports(session_dir, self.settings, self.song)
        except Exception as e:  # noqa: BLE001 - the session's files are kept; say what failed
            self.say(f"reports failed: {type(e).__name__}: {e}")
            return None


def _exit_text(code) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _remove_empty_session(path: Path) -> None:
    """A session that never started leaves no folder behind (only files a child may have opened early)."""
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def video_segment_name(names: dict, kind: str = "video") -> str:
    """A frame ring's segment, named like the session's others (handtone-<launcher pid>-video, ...-camera)."""
    return names["hand"].rsplit("-", 1)[0] + "-" + kind


def run_session(settings: Settings, song: Song) -> SessionResult:
    return Launcher(settings, song).run()
