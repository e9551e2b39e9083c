"""Runs a block source (the synth's voice, the music's backing) on a speaker, or on the clock when there is none.

Why one runner: both output children need the same real-time plumbing. The audio callback only asks the source for
one block (the source computes it into preallocated arrays and fills its log row), copies block and row into
preallocated rings and returns; a drain thread turns the rings into the WAV (exactly what was played), the CSV
rows and the underflow counts. Without a speaker (none listed, or it fails to open or to run) a plain thread calls
the same source once per block period with t_dac = now + one block, so the files are made anyway; a speaker that
stops calling mid-session and whose stream PortAudio reports ended (unplugged) is closed and the clock thread takes over.

Underflows are counted two ways (DESIGN.md section 3): PortAudio's output-underflow flag, and frames delivered
against the wall clock (a call later than the stream's buffer behind its pace: flags alone missed a 2 s stall).
The WAV's pace against the session clock (wav_rate_ppm, from the DAC times) goes into the stats for the reports.
"""
from __future__ import annotations

import gc
import math
import sys
import threading
import time

import numpy as np

from audio.wavfile import WavWriter

DRAIN_S = 0.05
RING_S = 8.0
DRIFT_ALLOWANCE = 0.0005  # clock-rate mismatch tolerated by the wall-clock check (500 ppm)
MAX_UNDERFLOWS_KEPT = 100  # clock underflows whose time is kept in the stats
MAX_GAP_S = 60.0          # silence filled into a WAV for one gap at most (a longer one is a broken clock)
# Python hands the GIL to a waiting thread only after the holder has run this long (5 ms by default): longer than a
# 128-frame stream's whole buffer. With 0.5 ms the callback waits at most that for the drain thread.
GIL_SWITCH_S = 0.0005
# No callback for VANISH_S while PortAudio says the stream is no longer active: the device went away (an unloaded
# sink ends the stream at once). A stream that is still active may only be stalled (a loaded machine, the ~1.8 s
# pause of ALSA's pulse plugin after priming): that counts as gone only after HUNG_S.
VANISH_S = 1.0
HUNG_S = 5.0
START_S = 8.0             # the stream's callbacks must flow this soon after it starts (the plugin's pause, a load)


def _close_quietly(stream) -> None:
    """Close a stream whose device is gone (PortAudio may fail or take a while: this runs on its own thread)."""
    from audio.devices import close_stream
    try:
        close_stream(stream)
    except Exception:  # noqa: BLE001 - the device is gone; nothing left to save from it
        pass


class OutputRunner:
    """Owns the stream (or clock thread), the rings and the drain thread for one block source.

    ``source.render(t_dac, underflow) -> float32 array of settings.block frames`` (its own preallocated buffer)
    and ``source.row``: a preallocated float64 array the source fills with its log row for that block (row[0] is
    the block's t_dac in session seconds).
    ``on_rows(rows)`` is called from the drain thread with an (n, len(row)) array of new rows, in order.
    ``latency_option``: the settings field with this stream's latency ("latency": the hand's tone; "music_latency").
    """

    def __init__(self, ctx, source, wav_path, on_rows, no_device_notice: str | None = None,
                 latency_option: str = "latency"):
        self.ctx = ctx
        self.latency_option = latency_option
        self.latency_setting = getattr(ctx.settings, latency_option)
        self.source = source
        self.on_rows = on_rows
        self.notice_text = no_device_notice
        s = ctx.settings
        self.rate = int(s.sample_rate)
        self.block = int(s.block)
        self.cap = max(16, int(RING_S * self.rate / self.block))        # ring size in blocks
        self.samples = np.zeros((self.cap, self.block), np.float32)
        self.rows = np.zeros((self.cap, len(source.row)), np.float64)
        self.meta = np.zeros((self.cap, 2), np.float64)                 # monotonic time of the call, underflow flag
        self.written = 0            # blocks pushed (only the callback/clock thread writes this)
        self.read = 0               # blocks drained (only the drain thread)
        self.t0: float | None = None
        self.calls = 0              # callbacks, including those before go
        self.offset = 0.0           # monotonic - stream time
        self.last_dac = -1e9        # the last block's t_dac: a block plays no earlier than the one before it ends
        self.min_step = 0.998 * self.block / self.rate   # one block, less a sound card clock's ppm fast
        self.latency = 0.0          # reported output latency (s)
        self.mode = "clock"
        self.device = None
        self.reason = None
        self.stream = None
        self.pa = None
        self.wav_path = wav_path
        self.wav: WavWriter | None = None
        self.wav_t_start = None
        self.wav_frames = 0         # samples in the WAV so far (blocks and filled gaps)
        self.gaps_s = 0.0           # silence filled in for stalls
        self.underflows_flag = 0
        self.underflows_clock = 0
        self.realtime = None        # {"realtime": bool, "reason": str | None} once the stream is opened
        self.last_call = 0.0        # monotonic time of the latest callback (the lost-device watchdog)
        self.lost = None            # {"device", "at_s"} when the speaker went away mid-session
        self._closer = None
        self._rate_fit = [0.0, 0.0, 0.0, 0.0, 0.0]   # n, sum x, sum y, sum xx, sum xy (see wav_rate_ppm)
        self.calls_timed = 0
        self.calls_bunched = 0      # calls within a quarter block of the one before
        self._last_t_call = None
        self.late_max = 0.0         # the latest call behind the on-time pace (frames), for the stats
        self.underflow_at: list = []   # [monotonic time of the call, ms behind] of the first clock underflows
        self.overruns = 0
        self._ref = None
        self._ref_t = None
        self._clock_thread = None
        self._drain_thread = None
        self._silence = np.zeros(self.block, np.float32)
        # DAC times jitter by a millisecond or so through the pulse plugin: only a larger jump is a stall to fill
        self._gap_slack = max(self.block // 2, int(0.004 * self.rate))
        self._underflow_bit = 0
        self._continue = 0

    # ---- device ---------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Open and start the speaker stream, and wait until its callbacks flow; else fall back to the clock."""
        from audio import devices
        import pyaudio
        sys.setswitchinterval(GIL_SWITCH_S)
        self._underflow_bit = pyaudio.paOutputUnderflow
        self._continue = pyaudio.paContinue
        from audio.realtime import inherited_by_new_threads, raise_process_threads
        with inherited_by_new_threads() as rt:   # PortAudio's threads, made inside, get real-time scheduling
            self.pa, stream, info = devices.open_callback_stream(self.ctx.settings, "output", self._callback,
                                                                    latency=self.latency_setting)
            started = None
            if stream is not None:
                try:
                    stream.start_stream()
                except (IOError, OSError) as e:
                    started = e
        if stream is not None and rt["realtime"]:
            rt["process_threads"] = raise_process_threads()   # so a thread of ours holding the GIL is not preempted
        # Python's cyclic garbage collector runs in whichever thread allocates past its threshold, the callback too;
        # a full pass over every module and array object loaded so far takes milliseconds. Frozen, those objects are
        # never scanned again, and a pass only looks at the few made since.
        gc.collect()
        gc.freeze()
        self.realtime = rt
        if stream is None:
            self.reason = info
            return self._use_clock()
        self.stream, self.device = stream, info["name"]
        self.requested_latency = info["requested_latency"]
        self.latency_applied = info["latency_applied"]
        if not info["latency_applied"] and self.latency_setting != "low" and self.notice_text:
            option = "--" + self.latency_option.replace("_", "-")
            self.ctx.notice(f"{option} {self.latency_setting} cannot be set here ({info['latency_note']}): "
                            "playing at the device's low latency")
        try:
            if started is not None:
                raise started
            deadline = time.monotonic() + START_S  # PortAudio primes a few buffers, then ALSA/pulse pauses ~1.8 s
            first = None
            while time.monotonic() < deadline:
                if self.calls > 3 and first is None:
                    first = self.calls
                if first is not None and self.calls >= first + 8:
                    break
                time.sleep(0.01)
            else:
                raise OSError(f"its callbacks did not start within {START_S:g} s")
            self.offset = devices.stream_offset(self.stream)
            self.latency = float(self.stream.get_output_latency())
            self.mode = "device"
        except (IOError, OSError) as e:
            self.reason = f"output device {self.device!r} does not play ({e})"
            self._close_stream()
            self.device = None
            return self._use_clock()

    def _use_clock(self) -> None:
        self.mode = "clock"
        if self.notice_text:
            self.ctx.notice(self.notice_text)

    def _close_stream(self) -> None:
        from audio.devices import close_stream
        close_stream(self.stream)
        self.stream = None

    # ---- real time ----------------------------------------------------------------------------------------
    def _callback(self, in_data, frame_count, time_info, status):
        self.calls += 1
        self.last_call = time.monotonic()
        t0 = self.t0
        if t0 is None or self.lost is not None:   # (a lost stream that wakes up again: the clock plays now)
            return self._silence, self._continue
        dac = time_info["output_buffer_dac_time"]
        if dac > 0.0:
            t_dac = dac + self.offset - t0
        else:
            t_dac = time.monotonic() + self.latency - t0
        # PortAudio's DAC time is the backend's delay estimate: it jitters (0.6 ms backwards seen through ALSA's
        # pulse plugin), but blocks play back to back, so none starts before the previous one has played
        floor = self.last_dac + self.min_step
        if t_dac < floor:
            t_dac = floor
        self.last_dac = t_dac
        underflow = (status & self._underflow_bit) != 0
        if underflow:
            self.underflows_flag += 1
        out = self.source.render(t_dac, underflow)
        self._push(out, underflow)
        return out, self._continue

    def _push(self, out, underflow) -> None:
        i = self.written % self.cap
        self.samples[i] = out
        self.rows[i] = self.source.row
        meta = self.meta[i]
        meta[0] = time.monotonic()
        meta[1] = 1.0 if underflow else 0.0
        self.written += 1

    def _clock_loop(self) -> None:
        period = self.block / self.rate
        nxt = time.monotonic()
        while not self.ctx.stopped.is_set():
            nxt += period
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.5:
                nxt = time.monotonic()  # we were suspended: go on from now (the wall-clock check counts it)
            if self.t0 is None:
                continue
            t_dac = time.monotonic() + period - self.t0
            out = self.source.render(t_dac, False)
            self._push(out, False)

    # ---- session ------------------------------------------------------------------------------------------
    def start(self, t0: float) -> None:
        """t0 is known: the callback starts producing and logging; the drain (and clock) threads start."""
        self.wav = WavWriter(self.wav_path, self.rate, 1)
        self.t0 = t0
        self._drain_thread = threading.Thread(target=self._drain_loop, name="drain", daemon=True)
        self._drain_thread.start()
        if self.mode == "clock":
            self._clock_thread = threading.Thread(target=self._clock_loop, name="clock", daemon=True)
            self._clock_thread.start()

    def finish(self) -> None:
        """Stop producing, drain everything, close the files."""
        self._close_stream()
        if self._closer is not None:
            self._closer.join(1.0)
        if self._clock_thread is not None:
            self._clock_thread.join(2.0)
        if self._drain_thread is not None:
            self._drain_thread.join(2.0)
        try:
            if self.wav is not None and self.ctx.drain_error is None:
                self.drain()
        finally:
            if self.wav is not None:
                self.wav.close()
            if self.pa is not None and (self._closer is None or not self._closer.is_alive()):
                from audio.devices import close_stream
                close_stream(None, self.pa)   # (a lost stream still closing: leave PortAudio to the process exit)
                self.pa = None

    def _drain_loop(self) -> None:
        self.ctx.drain_until_stopped(self._drain_and_watch, DRAIN_S)

    def _drain_and_watch(self) -> None:
        self.drain()
        if self.mode == "device" and self.calls:
            silent = time.monotonic() - self.last_call
            if silent > HUNG_S or (silent > VANISH_S and not self._stream_active()):
                self._device_lost()

    def _stream_active(self) -> bool:
        try:
            return bool(self.stream.is_active())
        except (IOError, OSError):
            return False

    def _device_lost(self) -> None:
        """The speaker stopped asking for sound (unplugged, its server stream killed): close it without waiting on
        it, and go on on the clock from now, as a session without a speaker does, so the files stay whole."""
        t_lost = self.last_call - self.t0 + self.latency
        self.lost = {"device": self.device, "at_s": round(t_lost, 3)}
        stream, self.stream = self.stream, None
        self._closer = threading.Thread(target=_close_quietly, args=(stream,), name="close-lost", daemon=True)
        self._closer.start()
        self.mode = "clock"
        what = {"synth": "the hand's tone", "music": "the backing"}.get(self.ctx.name, self.ctx.name)
        self.ctx.notice(f"speaker {self.device!r} went away at {t_lost:.1f} s: {what} goes on without sound "
                        "(its part of performance.wav is still made)")
        self._clock_thread = threading.Thread(target=self._clock_loop, name="clock", daemon=True)
        self._clock_thread.start()

    def drain(self) -> None:
        written = self.written
        if written - self.read > self.cap:  # the drain fell a whole ring behind: those blocks are lost
            self.overruns += written - self.read - self.cap
            self.read = written - self.cap
        if written == self.read:
            if self.wav is not None:
                self.wav.flush()
            return
        idx = np.arange(self.read, written) % self.cap
        blocks = self.samples[idx]
        rows = self.rows[idx]
        meta = self.meta[idx]
        if self.wav_t_start is None:
            self.wav_t_start = float(rows[0, 0])
            self.wav_frames = 0
        self._write_on_clock(blocks, rows[:, 0])
        self.wav.flush()
        self._check_clock(meta, self.read)
        self.read = written
        self.on_rows(rows)

    def _write_on_clock(self, blocks, t_dac) -> None:
        """Append blocks so that sample k of the WAV always plays at wav_t_start + k / rate: a block whose DAC time
        is later than where the WAV has got to (after a stall, a resync, or clock-mode catch-up) is preceded by
        silence for the gap, so the reports can place the file by its start time and its pace (wav_rate_ppm)."""
        start = 0
        fit = self._rate_fit if self.mode == "device" else None
        for k in range(len(t_dac)):
            due = int(round((float(t_dac[k]) - self.wav_t_start) * self.rate))
            gap = due - (self.wav_frames + (k - start) * self.block)
            if fit is not None:   # (WAV position, DAC time) of each block the speaker played, for wav_rate_ppm
                x = float(self.wav_frames + (k - start) * self.block + (gap if gap > self._gap_slack else 0))
                y = float(t_dac[k]) - self.wav_t_start
                fit[0] += 1.0
                fit[1] += x
                fit[2] += y
                fit[3] += x * x
                fit[4] += x * y
            if gap > self._gap_slack:
                if k > start:
                    self.wav.write(blocks[start:k].reshape(-1))
                    self.wav_frames += (k - start) * self.block
                gap = min(gap, MAX_GAP_S * self.rate)
                self.wav.write(np.zeros(int(gap), np.float32))
                self.wav_frames += int(gap)
                self.gaps_s += gap / self.rate
                start = k
        if start < len(t_dac):
            self.wav.write(blocks[start:].reshape(-1))
            self.wav_frames += (len(t_dac) - start) * self.block

    def wav_rate_ppm(self) -> float | None:
        """How much faster than nominal the speaker's clock ran against the session clock (parts per million), from
        a least-squares line through each played block's (WAV position, DAC time): the sound card's crystal is not
        the machine's (the null sink ran 400-700 ppm fast here). The reports place the WAV's samples at
        wav_t_start + k / (rate * (1 + ppm / 1e6)), as they place the recording by its own fitted rate. None when
        fewer than 5 s were played on the device."""
        n, sx, sy, sxx, sxy = self._rate_fit
        den = n * sxx - sx * sx
        if n < 2 or den <= 0 or sx / n < 2.5 * self.rate:
            return None
        slope = (n * sxy - sx * sy) / den          # seconds per sample
        if slope <= 0:
            return None
        return round((1.0 / (slope * self.rate) - 1.0) * 1e6, 1)

    def _check_clock(self, meta, first_block: int) -> None:
        """Frames delivered vs the wall clock, at each call: a call later than the on-time pace by more than the
        stream's buffer (its output latency; a block in clock mode) means the speaker ran dry. Callbacks come in
        bursts when the device's period is longer than a block, so a block of lateness alone is not a stall."""
        slack = max(float(self.block), self.latency * self.rate if self.mode == "device" else 0.0)
        for k in range(len(meta)):
            t_call = float(meta[k, 0])
            n = first_block + k
            if self._last_t_call is not None:   # calls that come right after another: the device takes 2+ blocks
                self.calls_timed += 1
                if t_call - self._last_t_call < 0.25 * self.block / self.rate:
                    self.calls_bunched += 1
            self._last_t_call = t_call
            if self._ref_t is None:
                self._clock_start = t_call - n * self.block / self.rate
                self._ref, self._ref_t = 0.0, t_call
            deficit = (t_call - self._clock_start) * self.rate - n * self.block
            allowance = DRIFT_ALLOWANCE * self.rate * (t_call - self._ref_t)
            self._ref_t = t_call
            self._ref = min(self._ref + allowance, deficit)
            late = deficit - self._ref
            if late > self.late_max:
                self.late_max = late
            if late > slack:
                self.underflows_clock += 1
                if len(self.underflow_at) < MAX_UNDERFLOWS_KEPT:   # (the drain thread: not the callback)
                    self.underflow_at.append([round(t_call, 4), round(1000.0 * late / self.rate, 2)])
                self._ref = deficit

    def stats(self) -> dict:
        # without a speaker nothing can run dry: the clock thread's late wake-ups are not underflows (None: not
        # counted), unless a speaker played before it went away
        counted = self.mode == "device" or self.lost is not None
        return {"mode": self.mode, "device": self.device, "no_device_reason": self.reason if self.mode == "clock" else None,
                "output_latency_ms": round(1000 * self.latency, 2) if self.mode == "device" else None,
                "requested_latency_ms": round(1000 * getattr(self, "requested_latency", math.nan), 2)
                if self.mode == "device" else None,
                "latency_setting": self.latency_setting,
                "latency_applied": getattr(self, "latency_applied", None) if self.mode == "device" else None,
                "realtime": self.realtime["realtime"] if self.realtime else None,
                "realtime_note": self.realtime["reason"] if self.realtime else None,
                "blocks": self.written, "block": self.block,
                "underflows_flag": self.underflows_flag if counted else None,
                "underflows_clock": self.underflows_clock if counted else None,
                "underflows": max(self.underflows_flag, self.underflows_clock) if counted else None,
                "ring_overruns": self.overruns,
                "late_ms_max": round(1000 * self.late_max / self.rate, 2), "device_lost": self.lost,
                # when each was (time.monotonic(), one clock for every process: bench audio lines them up with
                # what its stall probe saw) and how far behind
                "underflows_clock_at": self.underflow_at if counted else None,
                "bunched_share": round(self.calls_bunched / self.calls_timed, 3) if self.calls_timed else None,
                "wav_t_start": self.wav_t_start, "wav_rate_ppm": self.wav_rate_ppm(), "wav_gaps_s": round(self.gaps_s, 3), "sample_rate": self.rate}


def play_until_stopped(ctx, runner: OutputRunner, log, extra_stats) -> None:
    """An output child's life: open the speaker, say ready, play from t0 until the stop, then always close the
    files and write the stats (``runner.stats() | extra_stats()``), whatever ended it."""
    from game.quiet import CStderrLog
    c_stderr = CStderrLog(ctx.session_dir / f"stderr-{ctx.name}.log")
    try:
        runner.open()
        ctx.ready()
        t0 = ctx.wait_go()
        if t0 is not None:
            runner.start(t0)
            ctx.stopped.wait()
    finally:
        try:
            runner.finish()
        finally:
            log.csv.close()
            ctx.write_stats(runner.stats() | extra_stats() | {"write_error": ctx.drain_error})
            c_stderr.close()
