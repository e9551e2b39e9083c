"""The rendered backing's instruments: soft wavetable voices with click-free envelopes, one note at a time.

Why wavetables: a song of a few thousand notes (a MIDI file's accompaniment) renders in a second or two, since
each sample costs one table look-up whatever the number of partials. Each instrument has a bright and a mellow
table and fades from the first to the second after the attack, as a struck or plucked string dulls; only partials
below 0.45 x the sample rate are in a note's table (no aliasing at any pitch).

No clicks: every note starts with a raised-cosine attack (>= 6 ms), settles exponentially, and ends with a
raised-cosine release (>= 40 ms) from wherever its envelope was; nothing jumps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TABLE_N = 4096


@dataclass(frozen=True)
class Instrument:
    name: str
    bright: tuple[float, ...]     # partial amplitudes at the attack
    mellow: tuple[float, ...]     # ... after it (the timbre fades from bright to mellow with time constant dull_s)
    dull_s: float
    attack_s: float
    decay_s: float                # the level falls from 1 towards sustain with this time constant
    sustain: float
    release_s: float


#: the guide melody: a soft, flute-like tone, quieter than the player's synth
GUIDE = Instrument("guide", (1.0, 0.0, 1 / 9, 0.0, 1 / 25), (1.0, 0.0, 0.04), 0.25, 0.015, 0.35, 0.6, 0.05)
#: the bass: round, with enough 2nd and 3rd partial to be heard on small speakers
BASS = Instrument("bass", (1.0, 0.5, 0.25, 0.1, 0.05), (1.0, 0.35, 0.1), 0.3, 0.012, 0.5, 0.55, 0.08)
#: chords: an electric-piano-like pad (bright strike, mellow ring that fades slowly)
PIANO = Instrument("piano", (1.0, 0.55, 0.3, 0.18, 0.1, 0.06, 0.04, 0.02), (1.0, 0.22, 0.05), 0.22, 0.008, 1.4,
                   0.3, 0.12)


@lru_cache(maxsize=256)
def _table(partials: tuple[float, ...], top: int) -> np.ndarray:
    """One period of the sum of the first ``top`` partials, peak 1, with a wrap-around guard sample."""
    phase = 2 * np.pi * np.arange(TABLE_N) / TABLE_N
    wave = np.zeros(TABLE_N)
    for k, a in enumerate(partials[:max(1, top)], start=1):
        if a:
            wave += a * np.sin(k * phase)
    wave /= max(float(np.max(np.abs(wave))), 1e-12)
    return np.append(wave, wave[0]).astype(np.float32)


def envelope(inst: Instrument, held: int, rate: float) -> np.ndarray:
    """Amplitude for a note held ``held`` samples: attack, settle, then release (length held + release)."""
    rel = max(1, int(round(inst.release_s * rate)))
    n = held + rel
    t = np.arange(n, dtype=np.float64) / rate
    att = max(1, int(round(inst.attack_s * rate)))
    env = inst.sustain + (1.0 - inst.sustain) * np.exp(-t / inst.decay_s)
    a = min(att, n)
    env[:a] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / att)
    level = env[held - 1] if held > 0 else 0.0
    env[held:] = level * (0.5 + 0.5 * np.cos(np.pi * np.arange(rel) / rel))
    return env


def render_note(inst: Instrument, midi: float, held_s: float, rate: float) -> np.ndarray:
    """One note as float64 samples (held_s plus the release), peak about 1."""
    f = 440.0 * 2.0 ** ((midi - 69.0) / 12.0)
    top = max(1, int(0.45 * rate / f))
    held = max(1, int(round(held_s * rate)))
    env = envelope(inst, held, rate)
    n = env.size
    pos = (np.arange(n, dtype=np.float64) * (f * TABLE_N / rate)) % TABLE_N
    i = pos.astype(np.int64)
    frac = pos - i
    bright, mellow = _table(inst.bright, top), _table(inst.mellow, top)
    wb = bright[i] + frac * (bright[i + 1] - bright[i])
    wm = mellow[i] + frac * (mellow[i + 1] - mellow[i])
    mix = np.exp(-np.arange(n) / (inst.dull_s * rate))
    return env * (wm + mix * (wb - wm))


def add_note(track: np.ndarray, inst: Instrument, start_s: float, held_s: float, midi: float, gain: float,
             rate: float) -> None:
    """Mix one note into track (float64, sample 0 = time 0); parts beyond the track's end are dropped."""
    a = int(round(start_s * rate))
    if a >= track.size or held_s <= 0 or not math.isfinite(midi):
        return
    note = render_note(inst, midi, held_s, rate)
    skip = max(0, -a)
    a = max(0, a)
    b = min(track.size, a + note.size - skip)
    if b > a:
        track[a:b] += gain * note[skip:skip + b - a]
