"""The microphone: records the input device to recording.wav as the session goes (SIGKILL-safe), plus levels.csv.

The input stream is opened and started before ready, and ready waits for its first data (the Pulse monitor takes
~2 s): the recording then runs from before t0. Where it sits on the session clock is audio/sampleclock.py's fit of
the callbacks' times: sample k was captured at
t_first_sample + k / (rate * (1 + rate_ppm / 1e6)) (the device's clock is not the computer's). Both are in
stats-recorder.json as soon as t0 is known, again every STATS_S while recording (so a killed recorder still tells
where its WAV sits, by a fit of all but its last seconds) and at the end.

The callback only copies the samples and its timing into preallocated rings; a writer thread appends to the WAV,
refits the timeline and computes levels (their times by the latest fit).
A pause (game/pause.py) does not stop it: the microphone records the room, on the session clock, and the pauses in
session.json say which stretches of the recording were paused.
Files: recording.wav (mono int16), levels.csv (t, rms_dbfs per ~50 ms), stats-recorder.json (also the
speaker-to-microphone delay the reports take off: mic_delay_ms, mic_delay_source flag|calibration|none, mic_delay_note).
"""
from __future__ import annotations

import math
import sys
import threading
import time

import numpy as np

from audio import sampleclock
from audio.wavfile import WavWriter
from game.logfiles import LEVEL_COLUMNS

NO_MIC = "no microphone: not recording (connect one, or choose one with --input-device)"
FIRST_DATA_S = 6.0
RING_S = 30.0
DRAIN_S = 0.05
LEVEL_S = 0.05
VANISH_S = 1.0               # no input callback for this long mid-session: the microphone went away
INPUT_BLOCK = 251            # frames per input callback: odd on purpose (see input_block)
STATS_S = 2.0                # a provisional timeline is written this often while recording
FIT_S = 2.0                  # the writer refits at most this often, and spends at most FIT_SHARE of its time on it
FIT_SHARE = 0.02


def input_block(settings) -> int:
    """Frames per input callback, whatever the session's block: INPUT_BLOCK, 251 (5.2 ms at 48 kHz).

    Why odd: the timeline (audio/sampleclock.py) is the lower envelope of the callbacks' times, and a block only
    arrives once the server's chunk holding its last sample does. Servers cut their chunks on a grid of a power of
    two (or 10 ms): with a block on the same grid every block ends at the same place in its chunk, at a distance
    from the chunk's end fixed by how the streams happened to start, and the envelope carries it. On the null sink
    the envelope's level against what the recording holds varied by 18 ms between runs with 1024-frame blocks,
    3.2 ms with 256 and 2.5 ms with 128; with 250 (not on the grid: block ends sweep through every place in the
    chunks, and the envelope's floor is the block that ends where a chunk does) by 0.21 ms over 5 runs.
    Why this size: the recording has no latency to keep small; at 251 frames the recorder took 1.5% of a core
    here, 1.1% at 1024 and 2.6% at 128."""
    del settings
    return INPUT_BLOCK


class Recorder:
    def __init__(self, ctx):
        self.ctx = ctx
        s = ctx.settings
        self.rate = int(s.sample_rate)
        self.block = input_block(s)
        self.cap = int(RING_S * self.rate)
        self.ring = np.zeros(self.cap, np.int16)
        self.written = 0             # samples received (callback only)
        self.read = 0                # samples drained (writer only)
        self.overflows = 0           # PortAudio input-overflow flags
        self.lost = 0                # samples lost because the writer fell a whole ring behind
        self.times = sampleclock.CallbackTimes()                  # the callback's timing (written there only)
        self.time_store = sampleclock.TimeStore(self.rate, self.block)   # ... all of it, kept by the writer
        self.timeline: sampleclock.Timeline | None = None          # the latest fit (monotonic clock)
        self._next_fit = 0.0
        self.last_call = 0.0         # monotonic time of the latest callback (the lost-device watchdog)
        self.device_lost = None      # {"device", "at_s"} when the microphone went away mid-session
        self._closer = None
        self.stream = self.pa = None
        self.device = None
        self.mic_delay: dict = {}    # the speaker-to-microphone delay the reports take off (audio/delaystore.py)
        self.wav: WavWriter | None = None
        self.levels = None
        self.peak = 0                # the loudest sample so far (int16): 0 all along is a muted or refused microphone
        self._pending_levels: list[tuple[int, float]] = []  # (first sample index, dBFS) until t0 is known
        self._level_acc = 0.0
        self._level_n = 0
        self._level_start = 0
        self._level_len = int(LEVEL_S * self.rate)
        self._overflow_bit = 0
        self._continue = 0

    # ---- real time ----------------------------------------------------------------------------------------
    def _callback(self, in_data, frame_count, time_info, status):
        now = self.last_call = time.monotonic()
        if self.device_lost is not None:
            return None, self._continue
        if status & self._overflow_bit:
            self.overflows += 1
        data = np.frombuffer(in_data, dtype=np.int16)  # a view on PyAudio's bytes, no copy
        i = self.written % self.cap
        n = data.shape[0]
        if i + n <= self.cap:
            self.ring[i:i + n] = data
        else:
            k = self.cap - i
            self.ring[i:] = data[:k]
            self.ring[:n - k] = data[k:]
        self.written += n
        self.times.add(now, self.written)
        return None, self._continue

    # ---- set-up -------------------------------------------------------------------------------------------
    def open(self) -> bool:
        """Open and start the input; True once data flows (then ready), False: no usable microphone."""
        from audio import devices
        from audio.output import GIL_SWITCH_S
        import pyaudio
        sys.setswitchinterval(GIL_SWITCH_S)   # the callback gets the GIL back from the writer within 0.5 ms
        self._overflow_bit = pyaudio.paInputOverflow
        self._continue = pyaudio.paContinue
        self.pa, stream, info = devices.open_callback_stream(self.ctx.settings, "input", self._callback,
                                                             fmt=pyaudio.paInt16, block=input_block(self.ctx.settings))
        if stream is None:
            self.reason = info
            return False
        self.stream, self.device = stream, info["name"]
        from audio.delaystore import delay_for_recorder
        self.mic_delay = delay_for_recorder(self.pa, self.ctx.settings, self.device)
        self.wav = WavWriter(self.ctx.session_dir / "recording.wav", self.rate, 1)
        try:
            stream.start_stream()
        except (IOError, OSError) as e:
            self.reason = f"input device {self.device!r} does not start ({e})"
            return False
        deadline = time.monotonic() + FIRST_DATA_S
        while self.written == 0 and time.monotonic() < deadline and not self.ctx.stopped.is_set():
            time.sleep(0.01)
        if self.written == 0:
            self.reason = f"input device {self.device!r} gave no data within {FIRST_DATA_S:.0f} s"
            return False
        return True

    # ---- writer -------------------------------------------------------------------------------------------
    def refit(self) -> sampleclock.Timeline | None:
        """Fit the timeline to every callback so far (the writer thread, or the one thread left at the end)."""
        self._take_times()
        cols = self.time_store.arrays()
        if cols["t"].size:
            self.timeline = sampleclock.fit(cols["t"], cols["n"], self.rate)
        return self.timeline

    def _refit_now_and_then(self) -> None:
        now = time.monotonic()
        if self.timeline is None or now >= self._next_fit:
            self.refit()
            spent = time.monotonic() - now
            self._next_fit = now + max(FIT_S, spent / FIT_SHARE)
        else:
            self._take_times()

    def _take_times(self) -> None:
        line = self.timeline
        self.time_store.take(self.times, 0.0 if line is None else line.slope)

    def drain(self) -> None:
        self._refit_now_and_then()
        written = self.written
        if written - self.read > self.cap:
            self.lost += written - self.read - self.cap
            self.read = written - self.cap
        if written == self.read:
            self.wav.flush()
            return
        a, b = self.read % self.cap, written % self.cap
        chunk = self.ring[a:b].copy() if a < b else np.concatenate([self.ring[a:], self.ring[:b]])
        self.wav.write(chunk)
        self.wav.flush()
        self._levels(chunk)
        self.read = written

    def _levels(self, chunk: np.ndarray) -> None:
        x = chunk.astype(np.float64) / 32768.0
        if x.size:
            self.peak = max(self.peak, int(round(float(np.abs(x).max()) * 32768.0)))
        pos = 0
        while pos < x.size:
            take = min(self._level_len - self._level_n, x.size - pos)
            seg = x[pos:pos + take]
            self._level_acc += float(np.dot(seg, seg))
            self._level_n += take
            pos += take
            if self._level_n == self._level_len:
                rms = math.sqrt(self._level_acc / self._level_n)
                self._pending_levels.append((self._level_start, 20 * math.log10(max(rms, 1e-10))))
                self._level_start += self._level_n
                self._level_acc, self._level_n = 0.0, 0
        t0 = self.ctx.t0
        if t0 is not None and self.levels is not None and self.timeline is not None:
            for start, db in self._pending_levels:
                self.levels.write((round(self.timeline.time_of(start) - t0, 4), round(db, 2)))
            self._pending_levels.clear()
            self.levels.flush()

    def writer_loop(self) -> None:
        self.ctx.drain_until_stopped(self.drain, DRAIN_S)

    def gone(self) -> bool:
        """True once the microphone stopped delivering for VANISH_S (unplugged, its server stream killed); the
        stream is then closed on a thread of its own (PortAudio may take a while with a device that is gone)."""
        if self.device_lost is None and self.stream is not None and self.written and \
                time.monotonic() - self.last_call > VANISH_S:
            t0, line = self.ctx.t0, self.timeline
            self.device_lost = {"device": self.device,
                                "at_s": None if t0 is None or line is None else round(line.time_of(self.written) - t0, 3)}
            from audio.output import _close_quietly
            stream, self.stream = self.stream, None
            self._closer = threading.Thread(target=_close_quietly, args=(stream,), name="close-lost", daemon=True)
            self._closer.start()
        return self.device_lost is not None

    def close(self) -> None:
        from audio.devices import close_stream
        if self._closer is not None:
            self._closer.join(1.0)
            if self._closer.is_alive():   # a lost device still closing: leave PortAudio to the process exit
                self.pa = None
        close_stream(self.stream, self.pa)
        self.stream = self.pa = None

    def stats(self) -> dict:
        t0, line = self.ctx.t0, self.timeline
        timing = {"t_first_sample": None, "rate_ppm": None} if t0 is None or line is None else line.stats(t0)
        return {"device": self.device, "device_lost": self.device_lost, "recording": self.wav is not None,
                **timing, "seconds": round(self.read / self.rate, 3), "sample_rate": self.rate, "peak": self.peak,
                "overflows": self.overflows, "lost_samples": self.lost} | self.mic_delay


def run(ctx) -> None:
    from game.sessionlog import CsvLog
    from game.quiet import CStderrLog
    rec = Recorder(ctx)
    ok = False
    c_stderr = CStderrLog(ctx.session_dir / f"stderr-{ctx.name}.log")
    try:
        ok = rec.open()
        if not ok:
            rec.close()
            if rec.wav is not None:
                rec.wav.close()
                rec.wav.path.unlink(missing_ok=True)
                rec.wav = None
            if not ctx.stopped.is_set():  # a start cancelled while the microphone warmed up is not "no microphone"
                ctx.notice(NO_MIC)
        ctx.ready()
        writer = None
        if ok:
            writer = threading.Thread(target=rec.writer_loop, name="recorder-writer", daemon=True)
            writer.start()
        t0 = ctx.wait_go()
        recording = t0 is not None and ok
        if recording:
            rec.levels = CsvLog(ctx.session_dir / "levels.csv", LEVEL_COLUMNS)
            before, rec._next_fit = rec.timeline, 0.0      # the writer refits at its next drain (50 ms), so the
            wait_fit = time.monotonic() + 1.0              # first value written has every call so far
            while rec.timeline is before and time.monotonic() < wait_fit and not ctx.stopped.is_set():
                time.sleep(0.01)
            ctx.write_stats(rec.stats() | {"status": "recording"})
        next_stats = time.monotonic() + STATS_S
        while not ctx.stopped.wait(0.1):
            if recording and time.monotonic() >= next_stats:
                ctx.write_stats(rec.stats() | {"status": "recording"})
                next_stats += STATS_S
            if ok and rec.gone():
                at = rec.device_lost["at_s"]
                ctx.leave(f"microphone {rec.device!r} went away{'' if at is None else f' at {at:.1f} s'}: "
                          "recording.wav stops there; the session goes on without it")
                ctx.stopped.set()   # this process only: the writer thread finishes, the files are closed
                break
        if writer is not None:
            writer.join(2.0)
    finally:
        rec.close()
        try:
            if ok:
                try:
                    if ctx.drain_error is None:
                        rec.drain()
                    rec.refit()
                finally:
                    rec.wav.close()
                    if rec.levels is not None:
                        rec.levels.close()
        finally:
            extra = {} if ok else {"no_device_reason": getattr(rec, "reason", None)}
            ctx.write_stats(rec.stats() | {"status": "done", "write_error": ctx.drain_error} | extra)
            c_stderr.close()
