"""Band-limited resampling with numpy only: a polyphase Kaiser-windowed sinc.

Why not np.interp: linear interpolation aliases and dulls the top octave audibly (a song's cymbals and voice); why
not an FFT of the whole file: it treats the song as periodic (the end leaks into the start) and needs one huge
transform. A polyphase filter is exact at any rational ratio and cheap: for each of the L phases the outputs of that
phase read the input at a fixed stride M, so one strided view times one tap vector (a BLAS matrix-vector product)
makes them all.

Timing: output sample n sits at input time n / rate_out exactly (the filter is symmetric, no delay), so sample 0
stays time 0. Quality: 32 zero crossings each side, Kaiser beta 9 (stop band below -85 dB), pass band to 94% of the
lower Nyquist. Ratios that are not small fractions (a pitch shift's 2**(k/12)) are approximated by the nearest
fraction with a denominator of at most MAX_PHASES (44.1 kHz shifted up 2 semitones to 48 kHz: 2591/2672, 0.05 ppm off;
with 1000 it was 32/33, 12 ppm: 2 ms over three minutes).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

ZEROS = 32          # zero crossings of the sinc on each side
BETA = 9.0          # Kaiser window shape
ROLLOFF = 0.94      # pass band edge as a fraction of the lower Nyquist frequency
MAX_PHASES = 4000   # largest M for a ratio that is not a small fraction


def ratio_for(rate_in: float, rate_out: float) -> Fraction:
    """rate_out / rate_in as L/M: exact for integer rates with a small ratio, else the nearest with M <= MAX_PHASES."""
    if float(rate_in).is_integer() and float(rate_out).is_integer():
        exact = Fraction(int(rate_out), int(rate_in))
        if exact.numerator <= MAX_PHASES and exact.denominator <= MAX_PHASES:
            return exact
    return Fraction(float(rate_out) / float(rate_in)).limit_denominator(MAX_PHASES)


def _taps(L: int, M: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per phase r: the filter taps (L, K) and the input index base_r of output r; K taps per phase."""
    fc = 0.5 * min(1.0, L / M) * ROLLOFF          # cut-off in cycles per input sample
    half = ZEROS / (2.0 * fc)                     # half-width of the filter in input samples
    K = 2 * int(np.ceil(half))
    r = np.arange(L)
    base = (r * M) // L
    frac = (r * M - base * L) / L                 # output r sits frac input samples after input base_r
    t = np.arange(K)
    d = frac[:, None] + (K // 2 - 1) - t[None, :]  # distance from output position to input tap base-K/2+1+t
    x = np.clip(d / half, -1.0, 1.0)
    window = np.i0(BETA * np.sqrt(1.0 - x * x)) / np.i0(BETA)
    h = 2.0 * fc * np.sinc(2.0 * fc * d) * window
    h[np.abs(d) >= half] = 0.0
    return h.astype(np.float32), base, K


def resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """x (mono, any float) sampled at rate_in, as float32 sampled at rate_out; sample 0 stays at time 0."""
    x = np.asarray(x, dtype=np.float32)
    ratio = ratio_for(rate_in, rate_out)
    L, M = ratio.numerator, ratio.denominator
    if L == M:
        return x.copy()
    n_out = int(np.ceil(x.size * L / M)) if x.size else 0
    y = np.zeros(n_out, np.float32)
    if n_out == 0:
        return y
    h, base, K = _taps(L, M)
    pad = K
    xp = np.zeros(pad + x.size + K + M + pad, np.float32)
    xp[pad:pad + x.size] = x
    step = xp.strides[0]
    for r in range(min(L, n_out)):
        count = (n_out - r + L - 1) // L
        start = pad + int(base[r]) - K // 2 + 1
        view = np.lib.stride_tricks.as_strided(xp[start:], shape=(count, K), strides=(M * step, step),
                                               writeable=False)
        y[r::L] = view @ h[r]
    return y
