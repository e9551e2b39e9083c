"""The microphone's sample clock on the session clock: at what session time sample k of recording.wav was captured.

Sample k was captured at t_first + k / (rate * (1 + ppm / 1e6)): a sound card's (or a sound server's) clock is not
the computer's, so the samples come a little faster or slower than the nominal rate (PulseAudio's null sink: 620-630
ppm fast against time.monotonic() here, 12 ms over 20 s). Each input callback gives (t_call, n): its monotonic time
and the samples received through the end of its block. The block's last sample was captured before the call, so
t_call is the capture time of sample n plus the delivery delay, small and about constant at best and larger whenever
a call comes late: the lowest calls lie on the line, shifted by the best delivery delay. t_first is that line's
intercept (the session time by which sample 0 had arrived, at best; calibrate-audio measures what is left between it
and the sound) and ppm comes from its slope.

How the line is found: the envelope is read per window of WINDOW_S of samples (its lowest call; ~96 calls of 251
frames per window, some of which arrive at the floor even under load) and a line is fitted through the window
minima. Not a linear program through all points (the line under every point, hugging them closest): on the null
sink the envelope is not one line. Measured here, under load (2 cores, a benchmark running):
- single calls come early by up to a block (a burst after a stall), and the last calls of a stream come early by
  10-20 ms once the output streams close; a line under every point is pulled down by them;
- after a stall the delivery delay can grow for good by 0.8-26 ms (a step: the server keeps a backlog and the calls
  go on at the stream's pace) while the recording itself stays continuous: beeps played every 0.3 s kept their
  place on one line through such steps to within 0.3 ms. So a step is not a gap in the recording.
So the envelope is fitted as segments between steps with one common slope (least squares through the windows of
every segment, each with its own level): a step is where at least HOLD windows in a row move away from the level
together; a window alone off the level is an outlier and left out. The level is the first segment's: the state the
streams started in, before any stall (the count-in is in it: the recorder starts seconds before t0), as
calibrate-audio, running the same code, sees it. Steps and outliers are reported (stats-recorder.json "timeline");
they do not move the recording.

Not PortAudio's input_buffer_adc_time: through ALSA's pulse plugin it was within 0.5 ms of the sound in most runs
but wandered by 20-60 ms for seconds in others (PulseAudio's interpolated timing), which no fit can tell from truth.

The callback only writes into a preallocated ring (CallbackTimes); the recorder's writer thread moves the calls into
a TimeStore (which thins its oldest part when full) and refits every few seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

WINDOW_S = 0.5          # the envelope's lowest point is taken per half second of samples
HOLD = 3                # windows in a row at a new level make a step (1.5 s); fewer are outliers
TOL_MIN_S = 0.0005      # a window within this of its segment's level belongs to it (window minima scatter ~0.05 ms)
TOL_SIGMAS = 6.0        # ... or within this many times the windows' own scatter, where that is larger
RING = 8192             # callbacks the ring holds between two drains of the writer (43 s at 251-frame blocks)
STORE_S = 600.0         # callbacks kept one by one for this much of a session; past it the oldest are thinned
MAX_PPM = 1e5           # a clock further off than 10% is a broken figure, not a clock


class CallbackTimes:
    """Per input callback: its monotonic time and the samples received through the end of its block. Written by the
    callback only; preallocated and lock-free: the callback writes slot count % size, then bumps count; the reader
    copies the slots between what it has read and count (it must come back before the ring wraps: minutes)."""

    def __init__(self, size: int = RING):
        self.t = np.zeros(size, np.float64)
        self.n = np.zeros(size, np.int64)
        self.size = size
        self.count = 0

    def add(self, t_call: float, received: int) -> None:
        i = self.count % self.size
        self.t[i] = t_call
        self.n[i] = received
        self.count += 1


FIELDS = ("t", "n")


class TimeStore:
    """The callback times of the whole recording, for the fit (the writer thread's side of CallbackTimes).

    Holds STORE_S of callbacks one by one; when full, everything but the latest window is replaced by the lowest
    callback of each window under the latest slope (WINDOW_S: ~96 callbacks of 251 frames become one), which is all
    the fit reads of them, so a long session keeps its whole timeline in bounded memory (2 hours: 15,000 points
    and the last STORE_S one by one)."""

    def __init__(self, rate: int, block: int, seconds: float = STORE_S):
        self.rate = int(rate)
        size = max(1024, int(math.ceil(seconds * rate / block)))
        self.cols = {"t": np.zeros(size, np.float64), "n": np.zeros(size, np.int64)}
        self.size = size
        self.count = 0
        self.read = 0               # callbacks taken from the ring so far
        self.missed = 0             # callbacks the ring overwrote before they were taken (the writer was too slow)
        self.thinned = 0            # times the store was thinned

    def take(self, ring: CallbackTimes, slope: float = 0.0) -> None:
        """Copy the ring's new callbacks in (the writer thread, after each drain); slope: the latest fit's (t =
        level + x * (1 + slope)), to thin by."""
        end = ring.count
        if end - self.read > ring.size:
            self.missed += end - self.read - ring.size
            self.read = end - ring.size
        while self.read < end:
            a = self.read % ring.size
            k = min(end - self.read, ring.size - a)
            if self.count + k > self.size:
                self._thin(slope)
                k = min(k, self.size - self.count)
            for name in FIELDS:
                self.cols[name][self.count:self.count + k] = getattr(ring, name)[a:a + k]
            self.count += k
            self.read += k

    def _thin(self, slope: float) -> None:
        t, n = self.cols["t"][:self.count], self.cols["n"][:self.count]
        x = n / self.rate
        keep_from = int(np.searchsorted(x, x[-1] - WINDOW_S))   # the latest window may still grow: kept whole
        idx = _window_minima(x[:keep_from], t[:keep_from] - x[:keep_from] * (1.0 + slope))
        if idx.size >= keep_from:                              # nothing to gain (never with ~23 calls a window)
            raise RuntimeError("the callback-time store cannot be thinned")
        m, rest = idx.size, self.count - keep_from
        for col in self.cols.values():
            col[:m] = col[idx]
            col[m:m + rest] = col[keep_from:self.count].copy()
        self.count = m + rest
        self.thinned += 1

    def arrays(self) -> dict[str, np.ndarray]:
        """t and n of the callbacks so far (copies: the writer goes on filling the store)."""
        return {name: col[:self.count].copy() for name, col in self.cols.items()}


@dataclass(frozen=True)
class Timeline:
    """Sample k of the recording was captured at t_first + k / (rate * (1 + ppm / 1e6)) (seconds, on whatever clock
    t_first is on: monotonic in the recorder, session time in the stats)."""
    t_first: float
    rate: int
    ppm: float = 0.0
    windows: int = 0                    # windows of WINDOW_S the envelope fit read
    outliers: int = 0                   # of which left out (a window alone off its segment's level)
    rms_s: float = 0.0                  # scatter of the windows used about the envelope's line
    steps: tuple = field(default_factory=tuple)   # ((time, change in s), ...): the delivery delay changing

    @property
    def samples_per_s(self) -> float:
        return self.rate * (1.0 + self.ppm / 1e6)

    @property
    def slope(self) -> float:
        """Seconds per nominal second of samples, less one (the envelope's tilt: time = x * (1 + slope))."""
        return 1.0 / (1.0 + self.ppm / 1e6) - 1.0

    def time_of(self, k):
        """The time sample k (a number or an array of them) was captured."""
        if np.ndim(k) == 0:
            return self.t_first + float(k) / self.samples_per_s
        return self.t_first + np.asarray(k, dtype=np.float64) / self.samples_per_s

    def stats(self, t0: float) -> dict:
        """The fields stats-recorder.json carries, on the session clock (t0 = the session's start, monotonic)."""
        return {"t_first_sample": round(self.t_first - t0, 6), "rate_ppm": round(self.ppm, 2),
                "timeline": {"windows": self.windows, "outliers": self.outliers,
                             "rms_ms": round(1000 * self.rms_s, 3),
                             "steps": [[round(at - t0, 3), round(1000 * s, 2)] for at, s in self.steps]}}

    @classmethod
    def from_stats(cls, stats: dict, rate: int) -> "Timeline | None":
        """The recording's timeline from stats-recorder.json (session time), None without t_first_sample; a file
        from before the fit (no rate_ppm) counts samples at the nominal rate."""
        first = stats.get("t_first_sample")
        if not isinstance(first, (int, float)) or not math.isfinite(first):
            return None
        ppm = stats.get("rate_ppm")
        ppm = float(ppm) if isinstance(ppm, (int, float)) and math.isfinite(ppm) and abs(ppm) < MAX_PPM else 0.0
        return cls(float(first), int(rate), ppm)


def _window_minima(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the lowest y in each window of WINDOW_S of x (x ascending), one per window that has points."""
    if x.size == 0:
        return np.zeros(0, np.int64)
    w = np.floor(x / WINDOW_S).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
    lows = np.minimum.reduceat(y, starts)
    sizes = np.diff(np.r_[starts, x.size])
    at_low = np.flatnonzero(y == np.repeat(lows, sizes))
    first = np.r_[True, w[at_low][1:] != w[at_low][:-1]]
    return at_low[first]


def _segments(r: np.ndarray, tol: float) -> tuple[np.ndarray, list[int]]:
    """Per window, its segment (-1: outlier), and the first window of each segment.

    A segment starts where HOLD windows in a row agree with their median within tol (the first such run starts the
    first segment: windows before it are outliers); a window within tol of its segment's level stays in it; one
    that is not starts a new segment if it and the next HOLD-1 windows agree, else it is an outlier."""
    values = r.tolist()                        # plain floats: this loop runs over every window of the session
    seg = np.full(len(values), -1, np.int64)
    starts: list[int] = []
    level = None
    for j, v in enumerate(values):
        if level is not None and abs(v - level) <= tol:
            seg[j] = len(starts) - 1
            continue
        ahead = sorted(values[j:j + HOLD])
        if len(ahead) == HOLD and ahead[-1] - ahead[0] <= tol:
            starts.append(j)
            level = ahead[HOLD // 2]
            seg[j] = len(starts) - 1
    return seg, starts


def _joint_line(x: np.ndarray, r: np.ndarray, seg: np.ndarray, nseg: int) -> tuple[float, np.ndarray]:
    """Least squares: r = slope * x + level[segment] over the windows in a segment; (slope, levels)."""
    use = seg >= 0
    xs, rs, ss = x[use], r[use], seg[use]
    counts = np.bincount(ss, minlength=nseg).astype(float)
    counts[counts == 0] = 1.0
    xm = np.bincount(ss, xs, nseg) / counts
    rm = np.bincount(ss, rs, nseg) / counts
    dx, dr = xs - xm[ss], rs - rm[ss]
    denom = float(np.dot(dx, dx))
    slope = float(np.dot(dx, dr) / denom) if denom > 0 else 0.0
    return slope, rm - slope * xm


def _envelope(t: np.ndarray, x: np.ndarray) -> dict:
    """The line under the callbacks: t = level + x * (1 + slope) with x = samples / nominal rate; the first
    segment's level, the common slope, and how the fit went (see the module docstring)."""
    y = t - x                                  # = level + x * slope (+ the delivery delay of each call)
    idx = _window_minima(x, y)
    if idx.size < 2 * HOLD:                    # the first second or two: the nominal rate, the lowest call
        return {"level": float(y.min()), "slope": 0.0, "windows": int(idx.size), "outliers": 0, "rms": 0.0,
                "steps": ()}
    lag = min(4, idx.size - 1)                 # a first slope that steps do not disturb: median over ~2 s pairs
    xw, yw = x[idx], y[idx]
    slope = float(np.median((yw[lag:] - yw[:-lag]) / (xw[lag:] - xw[:-lag])))
    for _ in range(4):
        idx = _window_minima(x, y - slope * x)  # each window's lowest call under the current slope
        xw, yw = x[idx], y[idx]
        r = yw - slope * xw
        diffs = np.diff(r)
        sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2.0)
        seg, starts = _segments(r, max(TOL_MIN_S, TOL_SIGMAS * sigma))
        if not starts:                         # no HOLD windows agree anywhere: the lowest window, as it is
            return {"level": float(r.min()), "slope": slope, "windows": int(idx.size), "outliers": int(idx.size),
                    "rms": 0.0, "steps": ()}
        d_slope, _ = _joint_line(xw, r, seg, len(starts))
        slope += d_slope
        if abs(d_slope) < 1e-9:
            break
    r = yw - slope * xw
    use = seg >= 0
    levels = np.array([float(np.mean(r[seg == s])) for s in range(len(starts))])
    steps = []
    for s in range(1, len(starts)):
        before = np.flatnonzero(use[:starts[s]])
        at = t[idx[before[-1]]] if before.size else t[idx[starts[s]]]
        steps.append((float(at), float(levels[s] - levels[s - 1])))
    return {"level": float(levels[0]), "slope": slope, "windows": int(idx.size), "outliers": int(np.sum(~use)),
            "rms": float(np.sqrt(np.mean((r[use] - levels[seg[use]]) ** 2))), "steps": tuple(steps)}


def fit(t, n, rate: int) -> Timeline | None:
    """The timeline from the callbacks: times t (monotonic s) and samples received through the end of each block n
    (None without any callback): the envelope's first level and its common slope (see the module docstring)."""
    t = np.asarray(t, np.float64)
    n = np.asarray(n, np.int64)
    if t.size == 0:
        return None
    env = _envelope(t, n / float(rate))
    return Timeline(env["level"], int(rate), _ppm(env["slope"]), env["windows"], env["outliers"], env["rms"],
                    env["steps"])


def _ppm(slope: float) -> float:
    """t = t_first + (n / rate) * (1 + slope): the device delivers rate / (1 + slope) samples per second."""
    return (1.0 / (1.0 + slope) - 1.0) * 1e6
