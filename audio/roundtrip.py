"""Measures the speaker-to-microphone delay (`python main.py calibrate-audio`): beeps out, the recording back in.

Why: recording.wav is placed on the session clock by the recorder's timeline (audio/sampleclock.py: sample k at
t_first_sample + k / (rate * (1 + rate_ppm / 1e6))), but a sound played at session time t is not placed at t: the
speaker's and the microphone's buffering past what PortAudio reports, and the air, move it. The reports take that
delay off.

So that the delay is exactly the correction a session needs, both ends are the session's own code: the beeps are
played by audio/output.py's OutputRunner (each beep starts at the first sample of a block, so its time is that
block's output_buffer_dac_time put on the session clock, as the synth's blocks are) and recorded by
audio/recorder.py's Recorder with its writer thread (the same timeline fit), with a count-in before t0 and the
speaker playing before the recorder starts, as in a session.
delay = where the recording's timeline places a beep - the beep's DAC time (negative: placed before it was played).

Beeps are found by cross-correlating the recording with the known chirp: the envelope of the correlation (the chirp's
analytic signal, so the speaker's or microphone's polarity and phase do not matter) peaks where the beep starts;
a parabola through the peak gives a fraction of a sample. A beep counts as heard when that peak stands
MIN_PROMINENCE times above the correlation's RMS elsewhere in its search window. The median delay of the heard beeps
that agree with a line through them is saved, with the few that do not left out (see judge).
"""
from __future__ import annotations

import math
import tempfile
import threading
import time
import types
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

BEEP_S = 0.04                 # a Hann-windowed linear chirp: broad band for a sharp correlation peak
BEEP_HZ = (1000.0, 6000.0)    # inside what laptop speakers and microphones pass
BEEP_LEVEL = 0.5
FIRST_BEEP_S = 0.3            # session time of the first beep
SPACING_S = 1.5               # between beeps: more than the search window, so no echo is taken for the next beep
SEARCH_S = (-0.05, 1.0)       # a beep is looked for from 50 ms before its DAC time to 1 s after
MIN_PROMINENCE = 8.0          # white noise alone exceeds k x RMS with probability exp(-k^2) per lag
AGREE_MS = 1.0                # every kept beep within this of the delay line, or the result is refused
MAX_LEFT_OUT_PPM = 1000.0     # a line that leaves beeps out may slope this much at most (measured: -5..+72 ppm)
MIN_HEARD = 3
NO_BEEPS = "no beeps heard: is the microphone near the speaker, or muted?"


class RoundTripError(RuntimeError):
    """The measurement cannot be trusted or made; the message says what to do (one line)."""


def beep(rate: int) -> np.ndarray:
    """The chirp played and looked for (float32)."""
    n = int(round(BEEP_S * rate))
    t = np.arange(n) / rate
    f0, f1 = BEEP_HZ
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / BEEP_S * t * t)
    return (BEEP_LEVEL * np.hanning(n) * np.sin(phase)).astype(np.float32)


def beep_times(count: int) -> list[float]:
    """Session times at which the beeps are due."""
    return [FIRST_BEEP_S + i * SPACING_S for i in range(count)]


class BeepSource:
    """OutputRunner's block source: silence, and each beep from the first sample of the first block due at or after
    its time. row = (t_dac, index of the beep starting in this block or -1). Preallocated: this runs in the callback."""

    def __init__(self, rate: int, block: int, times: list[float]):
        self.wave = beep(rate)
        self.times = list(times)
        self.block = block
        self.next = 0
        self.pos = -1
        self.out = np.zeros(block, np.float32)
        self.row = np.zeros(2, np.float64)

    def render(self, t_dac: float, underflow: bool) -> np.ndarray:
        out = self.out
        out[:] = 0.0
        self.row[0] = t_dac
        self.row[1] = -1.0
        if self.pos < 0 and self.next < len(self.times) and t_dac >= self.times[self.next]:
            self.pos = 0
            self.row[1] = self.next
            self.next += 1
        if self.pos >= 0:
            n = min(self.block, self.wave.size - self.pos)
            out[:n] = self.wave[self.pos:self.pos + n]
            self.pos += n
            if self.pos >= self.wave.size:
                self.pos = -1
        return out


@dataclass
class Beep:
    dac_s: float                  # session time the beep's first sample was played (its block's DAC time)
    heard_s: float | None         # where the recording's timeline places it (None: not heard)
    prominence: float             # correlation peak / RMS of the correlation elsewhere in the window

    @property
    def delay_ms(self) -> float | None:
        return None if self.heard_s is None else 1000.0 * (self.heard_s - self.dac_s)


def _analytic(x: np.ndarray, n: int) -> np.ndarray:
    """FFT (length n) of x's analytic signal: positive frequencies doubled, negative ones dropped."""
    spec = np.fft.fft(x, n)
    h = np.zeros(n)
    h[0] = 1.0
    h[1:(n + 1) // 2] = 2.0
    if n % 2 == 0:
        h[n // 2] = 1.0
    return spec * h


def locate(x: np.ndarray, template: np.ndarray) -> tuple[float, float]:
    """(sample position in x where template starts, with a fraction; prominence of that peak), or (nan, 0)."""
    m, n = template.size, x.size
    if n < m + 2:
        return math.nan, 0.0
    size = 1 << int(math.ceil(math.log2(n + m)))
    corr = np.fft.ifft(np.fft.fft(x.astype(np.float64), size) * np.conj(_analytic(template.astype(np.float64), size)))
    env = np.abs(corr[:n - m + 1])
    k = int(np.argmax(env))
    peak = float(env[k])
    if not peak > 0.0:
        return math.nan, 0.0
    rest = np.concatenate([env[:max(0, k - m)], env[k + m + 1:]])
    floor = float(np.sqrt(np.mean(rest * rest))) if rest.size else 0.0
    prominence = peak / floor if floor > 0 else math.inf
    frac = 0.0
    if 0 < k < env.size - 1:
        a, b, c = float(env[k - 1]), peak, float(env[k + 1])
        denom = a - 2 * b + c
        if denom < 0:
            frac = 0.5 * (a - c) / denom
    return k + frac, prominence


def find_beeps(recording: np.ndarray, line, dac_times: list[float]) -> list[Beep]:
    """Each played beep looked for in the recording, whose sample k the recorder's timeline ``line`` (a
    sampleclock.Timeline on the session clock, as the reports read it) places at line.time_of(k)."""
    template = beep(line.rate)
    spr = line.samples_per_s
    out = []
    for t in dac_times:
        lo = int(math.floor((t + SEARCH_S[0] - line.t_first) * spr))
        hi = int(math.ceil((t + SEARCH_S[1] - line.t_first) * spr)) + template.size
        lo, hi = max(lo, 0), min(hi, recording.size)
        pos, prominence = locate(recording[lo:hi], template) if hi > lo else (math.nan, 0.0)
        heard = math.isfinite(pos) and prominence >= MIN_PROMINENCE
        out.append(Beep(t, line.time_of(lo + pos) if heard else None, prominence))
    return out


@dataclass
class Result:
    beeps: list[Beep]
    t_first_s: float = math.nan   # the recorder's t_first_sample in this run (session seconds)
    rate_ppm: float = math.nan    # ... and its clock against the session's
    timeline: dict = field(default_factory=dict)   # ... and how its fit went (stats-recorder.json "timeline")
    delay_ms: float = math.nan    # judge() sets these: the kept beeps' median delay (what is saved),
    drift_ppm: float = math.nan   # their line's slope (what is left of the input's clock against the output's),
    median_ms: float = math.nan   # the kept beeps' median delay, their spread (max - min),
    spread_ms: float = math.nan   # and the largest distance of a kept beep from their line
    residual_ms: float = math.nan
    left_out: tuple = ()          # heard beeps left out as off the others' line (indexes into beeps)
    input_device: str = ""
    output_device: str = ""
    input_latency_ms: float | None = None     # PortAudio's reported stream latencies
    output_latency_ms: float | None = None
    notices: list[str] = field(default_factory=list)

    def details(self) -> dict:
        """What is saved with the delay."""
        return {"median_ms": round(self.median_ms, 3), "spread_ms": round(self.spread_ms, 3),
                "drift_ppm": round(self.drift_ppm, 1), "t_first_s": round(self.t_first_s, 6),
                "rate_ppm": round(self.rate_ppm, 2), "timeline": self.timeline,
                "beeps": [[round(b.dac_s, 4), None if b.delay_ms is None else round(b.delay_ms, 3)]
                          for b in self.beeps], "left_out_beeps": [i + 1 for i in self.left_out],
                "input_latency_ms": self.input_latency_ms, "output_latency_ms": self.output_latency_ms}

    def judge(self) -> None:
        """Set the delay and its figures, or raise RoundTripError (see judge)."""
        verdict = judge(self.beeps)
        self.delay_ms, self.drift_ppm, self.median_ms, self.residual_ms, self.left_out = verdict
        kept = [b.delay_ms for i, b in enumerate(self.beeps) if b.delay_ms is not None and i not in self.left_out]
        self.spread_ms = max(kept) - min(kept)


class Verdict(NamedTuple):
    delay_ms: float               # the kept beeps' median delay (what is saved)
    drift_ppm: float              # the slope of the line through them
    median_ms: float
    residual_ms: float            # the largest distance of a kept beep from that line
    left_out: tuple[int, ...]     # indexes (in the beeps played) of heard beeps left out as off the others' line


def _line(t: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """(slope in ms per s, largest distance in ms) of the least-squares line through the delays d at times t."""
    slope, at_zero = np.polyfit(t, d, 1)
    return float(slope), float(np.max(np.abs(d - (at_zero + slope * t))))


def _agreeing(t: np.ndarray, d: np.ndarray, need: int) -> list[int] | None:
    """The largest group of at least ``need`` beeps within AGREE_MS of one line (ties: the flattest, then the
    closest), or None. Each pair of beeps proposes a line sloping at most MAX_LEFT_OUT_PPM; its beeps are those
    within AGREE_MS of it, and their own line must hold them too. A free slope would let two beeps knocked off
    together outvote three that agree (0, 0, 0, 3, 6 ms: a line through 0, 3 and 6)."""
    best, best_key = None, None
    for i in range(len(t)):
        for j in range(i + 1, len(t)):
            slope = (d[j] - d[i]) / (t[j] - t[i])
            if abs(slope) * 1000.0 > MAX_LEFT_OUT_PPM:
                continue
            group = np.nonzero(np.abs(d - (d[i] + slope * (t - t[i]))) <= AGREE_MS)[0]
            if group.size < need:
                continue
            fitted, residual = _line(t[group], d[group])
            if residual > AGREE_MS or abs(fitted) * 1000.0 > MAX_LEFT_OUT_PPM:
                continue
            key = (group.size, -abs(fitted), -residual)
            if best_key is None or key > best_key:
                best, best_key = [int(k) for k in group], key
    return best


def judge(beeps: list[Beep]) -> Verdict:
    """The delay from the heard beeps, or RoundTripError when too few were heard or they disagree.

    The delay is the median: the recorder's timeline takes the input's clock error out (rate_ppm), so the delay does
    not grow along a session (before, with the nominal rate, it drifted 650-750 ppm on the null sink and the line's
    value at session time 0 was saved). The line through the beeps is still fitted: each beep must lie within
    AGREE_MS of it, and its slope, what is left of the clocks' difference (-5..+72 ppm over 4 runs here: the fit's
    and the DAC times' jitter over 6 s), is reported. Measured on the null sink, the line's value at 0 spread
    0.25 ms over 4 runs, the median 0.05 ms.

    When the heard beeps are not all within AGREE_MS of their line, the largest group that is (at least the beeps
    needed: 3 of 5) is kept and the others are left out: a knock in the room on one beep, or the machine holding the
    speaker's stream off while it played (one beep 1.4 ms off its neighbours failed a CI run's calibration). With no
    such group the result is refused."""
    heard = [(i, b) for i, b in enumerate(beeps) if b.delay_ms is not None]
    if not heard:
        raise RoundTripError(NO_BEEPS)
    need = max(MIN_HEARD, math.ceil(0.6 * len(beeps)))
    if len(heard) < need:
        raise RoundTripError(f"only {len(heard)} of {len(beeps)} beeps heard: turn the speaker up or bring the "
                             "microphone nearer, keep the room quiet, and run it again")
    t = np.array([b.dac_s for _, b in heard])
    d = np.array([b.delay_ms for _, b in heard])
    kept = list(range(len(heard)))
    if _line(t, d)[1] > AGREE_MS:
        kept = _agreeing(t, d, need)
        if kept is None:
            raise RoundTripError(f"the beeps disagree ({d.min():.1f} to {d.max():.1f} ms): keep the room quiet "
                                 "and the devices still, and run it again")
    slope, residual = _line(t[kept], d[kept])
    median = float(np.median(d[kept]))
    left_out = tuple(heard[j][0] for j in range(len(heard)) if j not in kept)
    return Verdict(median, slope * 1000.0, median, residual, left_out)


class _Messages(list):
    def put(self, message) -> None:
        self.append(message)


def _context(settings, folder: str):
    """A ChildContext in this process, so the session's Recorder and OutputRunner run exactly as in a session."""
    from game.child import ChildContext, ChildLink
    link = ChildLink("calibrate-audio", folder, {}, threading.Event(), threading.Event(), threading.Event(),
                     threading.Event(), types.SimpleNamespace(value=0.0), _Messages())
    return ChildContext("calibrate-audio", settings, link)


def record_beeps(settings, count: int, say=lambda text: None) -> Result:
    """Play ``count`` beeps on settings.output_device while recording settings.input_device and find them in the
    recording (not judged yet: Result.judge()).

    Raises RoundTripError when a device cannot be used, and lets ChildFailure (a named device that is not there)
    through."""
    from audio.output import OutputRunner
    from audio.recorder import Recorder
    from audio.sampleclock import Timeline
    from audio.wavfile import read_wav
    times = beep_times(count)
    with tempfile.TemporaryDirectory(prefix="handtone-calibrate-") as folder:
        ctx = _context(settings, folder)
        rec = Recorder(ctx)
        rows: list[np.ndarray] = []
        source = BeepSource(int(settings.sample_rate), int(settings.block), times)
        runner = OutputRunner(ctx, source, f"{folder}/beeps.wav", rows.append)
        input_latency = None
        writer = None
        try:
            # the speaker first: a sound server sets its buffering by the streams it plays (PulseAudio's null sink
            # renders ahead by the smallest latency asked for), so the recorder's timeline must be set while the
            # output plays, as in a session, where the synth and the backing play from before the first sample
            runner.open()
            if runner.mode != "device":
                raise RoundTripError(f"no speaker to play the beeps ({runner.reason}): choose one with "
                                     "--output-device (python main.py devices lists them)")
            if not rec.open():
                raise RoundTripError(f"no microphone to hear the beeps ({rec.reason}): choose one with "
                                     "--input-device (python main.py devices lists them)")
            input_latency = float(rec.stream.get_input_latency())
            writer = threading.Thread(target=rec.writer_loop, name="recorder-writer", daemon=True)
            writer.start()                                # as in a session: WAV, callback times and fits
            end_s = times[-1] + SEARCH_S[1] + BEEP_S + 0.2
            say(f"playing {count} beeps on {runner.device!r}, recording {rec.device!r} "
                f"(about {settings.count_in + end_s:.0f} s)")
            t0 = time.monotonic() + settings.count_in     # as a session: the recorder runs a count-in before t0
            ctx.t0 = ctx.link.t0.value = t0
            runner.start(t0)
            while time.monotonic() < t0 + end_s:
                time.sleep(0.05)
        finally:
            ctx.stopped.set()
            if writer is not None:
                writer.join(2.0)
            runner.finish()
            rec.close()
            if rec.wav is not None:
                rec.drain()
                rec.wav.close()
        fitted = rec.refit()
        if fitted is None:
            raise RoundTripError("the microphone gave no data: run it again")
        recorder_stats = fitted.stats(t0)
        line = Timeline.from_stats(recorder_stats, fitted.rate)      # exactly as the reports read it
        rate, recording = read_wav(rec.wav.path)
        played = np.concatenate(rows) if rows else np.zeros((0, 2))
        dac = [float(r[0]) for r in played if r[1] >= 0]
    if len(dac) < count:
        raise RoundTripError(f"the speaker played {len(dac)} of {count} beeps: run it again")
    beeps = find_beeps(recording.astype(np.float64), line, dac)
    notices = [m[2] for m in ctx.link.messages if m[0] == "notice"]
    return Result(beeps, line.t_first, line.ppm, recorder_stats["timeline"], input_device=rec.device,
                  output_device=runner.device,
                  input_latency_ms=None if input_latency is None else round(1000 * input_latency, 2),
                  output_latency_ms=round(1000 * runner.latency, 2), notices=notices)


def run_command(settings, beeps: int, say=print) -> int:
    """`python main.py calibrate-audio`: measure, print each beep and the figures, save; the exit code.

    0 saved; 1 measured but refused (beeps not heard or disagreeing: one line on stderr saying what to do);
    2 no usable device."""
    import sys
    from audio import delaystore
    from game.child import ChildFailure

    def fail(text: str, code: int) -> int:
        print(f"handtone: error: {text}", file=sys.stderr, flush=True)
        return code
    try:
        result = record_beeps(settings, beeps, lambda text: say(f"handtone: {text}"))
    except ChildFailure as e:
        return fail(str(e), 2)
    except RoundTripError as e:
        return fail(str(e), 2)
    except (IOError, OSError) as e:
        return fail(f"PortAudio cannot start ({e}): is an audio system installed?", 2)
    for text in result.notices:
        say(f"handtone: {text}")
    for i, b in enumerate(result.beeps, 1):
        heard = "not heard" if b.delay_ms is None else f"{b.delay_ms:+.2f} ms"
        say(f"beep {i}: played at {b.dac_s:.3f} s, {heard}")
    say(f"PortAudio's stream latencies: output {result.output_latency_ms} ms, input {result.input_latency_ms} ms")
    try:
        result.judge()
    except RoundTripError as e:
        return fail(str(e), 1)
    for i in result.left_out:
        say(f"beep {i + 1} left out: {result.beeps[i].delay_ms - result.delay_ms:+.2f} ms from the others' median (a "
            "noise in the room, or the computer holding the sound off while it played)")
    kept = sum(b.delay_ms is not None for b in result.beeps) - len(result.left_out)
    say(f"delay {result.delay_ms:+.2f} ms (the median of {kept} beeps, "
        f"spread {result.spread_ms:.2f} ms, {result.drift_ppm:+.0f} ppm along the recording; the microphone's clock "
        f"ran {result.rate_ppm:+.0f} ppm off the computer's, which the recorder's timeline takes out)")
    path = delaystore.save(settings, result.input_device, result.output_device, result.delay_ms, **result.details())
    say(f"saved for {result.input_device!r} -> {result.output_device!r} in {path}: sessions with these devices "
        "align recording.wav by it (--mic-delay overrides)")
    return 0
