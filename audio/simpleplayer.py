"""--music-backend simpleaudio: the backing through simpleaudio, where it works (Python 3.11 and older).

Why it is only an option: simpleaudio is archived and crashes on Python 3.12+, so ``backend_problem`` refuses it
there (and when it is not installed) before the session starts, in one line.

How it plays without a callback: simpleaudio's play_buffer hands a buffer to a C thread that writes it to ALSA's
"default" device and returns at once. We start one buffer per stretch of uninterrupted song: at go (from the
count-in on, silence until song time 0) and again when a pause ends. Its sample k plays at session time
t_first + k / rate, where t_first = the call's time + START_S. A pause is known ahead of time (game/pause.py): the
buffer is still ours and simpleaudio reads it only ~0.1 s ahead of what is sounding, so we write a one-block fade
and silence into it from the pause's first sample, then stop the play object once that has played. A pause seen
less than READ_AHEAD before it begins is cut READ_AHEAD from now (late; counted in late_pause_s).

Measured on the PulseAudio null sink (tests/audio/test_music_simpleaudio.py): sample 0 of a buffer sounds 0-5 ms
after the call, on the clock PyAudio's DAC times give (START_S); a change written 100 ms ahead of the sounding
sample is heard, one 60 ms ahead is not (READ_AHEAD).

Logs: a thread of OutputRunner's clock mode asks ``render(t)`` for each block as its time comes and gets the
samples the play buffers hold for that time (silence where none plays): backing.wav and music.csv are what was
handed to simpleaudio, on the session clock. stats-music.json says "backend": "simpleaudio"; simpleaudio reports
no underflows, so those are null.
"""
from __future__ import annotations

import importlib.util
import math
import sys
import threading
import time

import numpy as np

from game.pause import COUNT, PLAYING, RESUMING, START

START_S = 0.003          # call of play_buffer -> its sample 0 at the DAC (null sink: 0-5 ms)
READ_AHEAD = 0.1         # simpleaudio has read the buffer up to this far ahead of the sounding sample
POLL_S = 0.005           # how often the steering thread looks at the pause record
CONTIGUOUS_S = 0.1       # the log thread late by less than this: its blocks still follow each other sample for sample
PYTHON = sys.version_info[:2]
FULL_SCALE = 32767.0


def backend_problem(settings, version=None) -> str | None:
    """Why --music-backend simpleaudio cannot be used here (one line), or None."""
    if settings.music_backend != "simpleaudio":
        return None
    v = tuple(PYTHON if version is None else version[:2])
    if v >= (3, 12):
        return (f"--music-backend simpleaudio needs Python 3.11 or older (simpleaudio crashes on Python "
                f"{v[0]}.{v[1]}): use --music-backend pyaudio")
    if importlib.util.find_spec("simpleaudio") is None:
        return ("--music-backend simpleaudio: simpleaudio is not installed (make setup installs it on Python 3.11 "
                "and older): use --music-backend pyaudio")
    return None


class Segment:
    """One play_buffer: int16 samples, the session time of sample 0, and where the song music in it starts."""

    def __init__(self, samples: np.ndarray, t_first: float, music_from: float, song_from: float, rate: float):
        self.samples = samples
        self.t_first = t_first
        self.music_from = music_from          # session time at which the song sounds in it (after a lead of silence)
        self.song_from = song_from            # song time at music_from
        self.rate = rate
        self.cut_t = math.inf                 # session time from which it is silent (a pause)
        self.play = None
        self.stopped = False

    @property
    def end_t(self) -> float:
        return self.t_first + self.samples.size / self.rate


class SimplePlayer:
    """Steers simpleaudio on the session clock (``steer`` in its own thread) and is the log's block source."""

    def __init__(self, settings, track: np.ndarray | None, clock, sa, now):
        self.sa = sa
        self.now = now                        # session seconds since t0
        self.clock = clock
        self.rate = float(settings.sample_rate)
        self.n = int(settings.block)
        self.track = None if track is None or not track.size else \
            np.clip(np.round(track * FULL_SCALE), -FULL_SCALE, FULL_SCALE).astype(np.int16)
        self.fade_out = np.linspace(1.0, 0.0, self.n)
        self.segments: list[Segment] = []
        self.out = np.zeros(self.n, np.float32)
        self.row = np.zeros(3, np.float64)
        self.next_t = None
        self.failure: str | None = None
        self.late_pause_s = 0.0
        self.lock = threading.Lock()

    # ---- steering: start, cut and stop play buffers ----------------------------------------------------------
    def steer(self, stopped) -> None:
        """Until ``stopped`` is set: keep a play buffer running whenever the song plays."""
        try:
            while not stopped.is_set() and self.failure is None:
                self.step()
                time.sleep(POLL_S)
        finally:
            self.stop_all()

    def step(self) -> None:
        clock, now = self.clock, self.now()
        if clock is not None:
            clock.refresh()
        active = self.segments[-1] if self.segments and not self.segments[-1].stopped else None
        if active is not None:
            self._cut_if_paused(active, now)
            if now > min(active.cut_t, active.end_t) + self.n / self.rate + 0.05:
                self._stop(active)
            return
        if self.track is None:
            return
        t_first = now + START_S
        song_t, state = self._song(t_first + 0.02)
        if state != PLAYING or song_t * self.rate >= self.track.size:
            return
        self._start(t_first)

    def _song(self, t: float) -> tuple[float, int]:
        if self.clock is None:
            return t, PLAYING
        return self.clock.song_time(t), self.clock.state(t)

    def _start(self, t_first: float) -> None:
        music_from = t_first
        if self.clock is not None and self.clock.state(t_first) == RESUMING:
            music_from = t_first + self.clock.resume_in(t_first)
        song_from = self._song(music_from)[0]
        lead = int(round((music_from - t_first) * self.rate))
        pos = int(round(song_from * self.rate))
        body = self.track[max(0, pos):]
        samples = np.zeros(lead + max(0, -pos) + body.size, np.int16)
        samples[lead + max(0, -pos):] = body
        resumed = self.clock is not None and self.clock.values[COUNT] > 0 and pos > 0
        if resumed:                           # play on after a pause: fade in over one block, as the callback does
            k = lead + max(0, -pos)
            m = min(self.n, samples.size - k)
            samples[k:k + m] = np.round(samples[k:k + m] * self.fade_out[::-1][:m]).astype(np.int16)
        seg = Segment(samples, t_first, music_from, song_from, self.rate)
        try:
            seg.play = self.sa.play_buffer(samples, 1, 2, int(self.rate))
        except Exception as e:  # noqa: BLE001 - simpleaudio raises its own error type; the session plays on
            self.failure = f"simpleaudio stopped playing ({type(e).__name__}: {e})"
            return
        with self.lock:
            self.segments.append(seg)

    def _cut_if_paused(self, seg: Segment, now: float) -> None:
        """Silence the segment from the pause's first sample (or as soon as it can still be changed)."""
        if seg.cut_t < math.inf or self.clock is None:
            return
        v = self.clock.values
        pause_start = float(v[START])
        if pause_start >= seg.music_from - 1e-9 and pause_start < math.inf:
            at = pause_start                  # a pause begins while this buffer plays
        elif pause_start < seg.music_from and self.clock.state(seg.music_from + 1e-6) != PLAYING:
            at = seg.music_from               # the resume it was started for was called off (p in the count-in)
        else:
            return
        earliest = now + READ_AHEAD
        if at < earliest:
            self.late_pause_s = max(self.late_pause_s, earliest - at)
            at = earliest
        k = int(round((at - seg.t_first) * self.rate))
        if k < seg.samples.size:
            k = max(0, k)
            m = min(self.n, seg.samples.size - k)
            seg.samples[k:k + m] = np.round(seg.samples[k:k + m] * self.fade_out[:m]).astype(np.int16)
            seg.samples[k + m:] = 0
        seg.cut_t = at

    def _stop(self, seg: Segment) -> None:
        if seg.play is not None:
            seg.play.stop()
        seg.stopped = True

    def stop_all(self) -> None:
        """Stop every play buffer and wait (at most 1 s) until simpleaudio has let go of them."""
        for seg in list(self.segments):
            if seg.play is not None and not seg.stopped:
                seg.play.stop()
                seg.stopped = True
        deadline = time.monotonic() + 1.0
        for seg in list(self.segments):
            while seg.play is not None and seg.play.is_playing() and time.monotonic() < deadline:
                time.sleep(0.01)

    # ---- the log: what the buffers hold for a block's time --------------------------------------------------
    def render(self, t_dac: float, underflow: bool = False) -> np.ndarray:
        n, out = self.n, self.out
        if self.next_t is not None and abs(t_dac - self.next_t) <= CONTIGUOUS_S:
            t_dac = self.next_t               # blocks back to back: the log thread's times jitter and catch up
        self.next_t = t_dac + n / self.rate
        out.fill(0.0)
        song_t = None
        with self.lock:
            segments = list(self.segments)
        for seg in segments:
            k = int(round((t_dac - seg.t_first) * self.rate))
            if k + n <= 0 or k >= seg.samples.size:
                continue
            a, b = max(k, 0), min(k + n, seg.samples.size)
            out[a - k:b - k] += seg.samples[a:b] / FULL_SCALE
            if seg.music_from <= t_dac < min(seg.cut_t, seg.end_t):
                song_t = seg.song_from + (t_dac - seg.music_from)
        if song_t is None:
            song_t = self._song(t_dac)[0]
        r = self.row
        r[0], r[1], r[2] = t_dac, song_t, math.sqrt(float(np.dot(out, out)) / n)
        return out


def probe(sa, rate: int) -> str | None:
    """Play 20 ms of silence: None when simpleaudio plays, else why not (one line)."""
    try:
        play = sa.play_buffer(np.zeros(int(0.02 * rate), np.int16), 1, 2, int(rate))
        deadline = time.monotonic() + 2.0
        while play.is_playing() and time.monotonic() < deadline:
            time.sleep(0.01)
    except Exception as e:  # noqa: BLE001 - any failure means no sound through simpleaudio
        return f"simpleaudio cannot play on ALSA's default device ({type(e).__name__}: {e})"
    return None


def run_simpleaudio(ctx, track: np.ndarray | None, facts: dict) -> None:
    """The music child's life with simpleaudio: probe, ready, play from go until the stop, write the files."""
    from audio.music import Backing, MusicLog
    from audio.output import OutputRunner
    from game.child import ChildFailure
    from game.pause import SongClock
    s = ctx.settings
    problem = backend_problem(s)
    try:
        import simpleaudio as sa
    except ImportError as e:
        problem = problem or f"--music-backend simpleaudio: simpleaudio does not load ({e}): use --music-backend pyaudio"
    if problem:
        raise ChildFailure(problem)
    log = MusicLog(ctx.session_dir / "music.csv")
    clock = SongClock.attach(ctx.link.shm, s)
    reason = probe(sa, s.sample_rate)
    if reason:                                # no sound: log what would have played, as PyAudio's clock mode does
        ctx.notice(f"{reason}: the backing is silent (backing.wav is still made)")
        player, source = None, Backing(s, track, clock)
    else:
        player = source = SimplePlayer(s, track, clock, sa, ctx.now)
    runner = OutputRunner(ctx, source, ctx.session_dir / "backing.wav", log, None,
                          latency_option="music_latency")
    steering = None
    try:
        ctx.ready()
        t0 = ctx.wait_go()
        if t0 is not None:
            runner.start(t0)
            if player is not None:
                steering = threading.Thread(target=player.steer, args=(ctx.stopped,), name="simpleaudio", daemon=True)
                steering.start()
            ctx.stopped.wait()
    finally:
        try:
            if steering is not None:
                steering.join(3.0)
            runner.finish()
        finally:
            log.csv.close()
            stats = runner.stats() | {
                "backend": "simpleaudio", "volume": s.music_volume,
                "rendered_s": 0.0 if track is None else round(track.size / s.sample_rate, 3),
                "underflows": None, "underflows_flag": None, "underflows_clock": None,
                "log_clock_stalls": runner.underflows_clock}
            if player is not None:
                failure = player.failure
                if failure:
                    ctx.notice(failure)
                stats |= {"mode": "device" if failure is None else "clock", "device": "ALSA default (simpleaudio)",
                          "start_latency_ms": 1000 * START_S, "play_buffers": len(player.segments),
                          "late_pause_s": round(player.late_pause_s, 3), "failure": failure}
            else:
                stats |= {"no_device_reason": reason}
            ctx.write_stats(stats | facts | {"write_error": ctx.drain_error})
            clock.close()
