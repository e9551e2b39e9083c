"""The played pitch track: what the synth sounded, resampled onto a 10 ms grid from its per-block log (synth.csv).

Sample k stands for the interval [k, k+1) x 10 ms and is read at its centre, so a note's samples are those whose
centre falls inside it. Each sample holds the pitch of the last audio block that started at or before its centre (sample-and-hold, as the
synth plays a block until the next one); where that block was silent, or no block was logged for a while (a stall
or a killed synth), the sample is silent (NaN). "A while" is longer than one audio block (see max_gap): a block
holds its pitch for block / rate seconds, up to 85 ms at the largest block the settings allow.

The track runs on song time: synth.csv is on the session clock, and ``on_song_clock`` first leaves out the blocks
played while the song was paused and moves the rest back by the time paused before them (game/pause.py), so a paused
session is scored, drawn and transcribed as if it had never stopped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from game.pause import in_pause, song_times

STEP = 0.01              # seconds between samples
SOUNDING = 0.05          # amplitude above which the tone counts as sounding
MAX_GAP = 0.05           # at least this long a block holds the sample; older: nothing was logged, count it silent


@dataclass
class Track:
    t: np.ndarray        # sample times, song seconds ((k + 0.5) * STEP, the centre of each 10 ms)
    pitch: np.ndarray    # played MIDI pitch (float), NaN when silent

    @property
    def sounding(self) -> np.ndarray:
        return ~np.isnan(self.pitch)

    def index(self, t: float) -> int:
        return index(t)


def index(t: float) -> int:
    """The first sample whose centre is at or after session time t."""
    return int(np.ceil(t / STEP - 0.5 - 1e-9))


def max_gap(stats: dict | None, t_dac: np.ndarray | None = None) -> float:
    """How long a block holds its sample: 1.5 blocks (from stats-synth.json's block and sample_rate, else the
    median step between logged blocks), never less than MAX_GAP."""
    stats = stats or {}
    block, rate = stats.get("block"), stats.get("sample_rate")
    period = None
    if isinstance(block, (int, float)) and isinstance(rate, (int, float)) and block > 0 and rate > 0:
        period = float(block) / float(rate)
    elif t_dac is not None:
        t = np.sort(t_dac[~np.isnan(t_dac)])
        steps = np.diff(t)
        steps = steps[steps > 0]
        if len(steps):
            period = float(np.median(steps))
    return max(MAX_GAP, 1.5 * period) if period else MAX_GAP


def on_song_clock(rows: dict[str, np.ndarray], pauses, column: str = "t_dac") -> dict[str, np.ndarray]:
    """A log's rows without those inside a pause, their ``column`` (session s) mapped to song time."""
    if not pauses or column not in rows:
        return rows
    keep = ~in_pause(rows[column], pauses)
    out = {c: v[keep] for c, v in rows.items()}
    out[column] = song_times(out[column], pauses)
    return out


def played_track(synth: dict[str, np.ndarray], t_end: float, threshold: float = SOUNDING,
                 gap: float | None = None) -> Track:
    """The track from 0 to t_end (s) from synth.csv columns (game/logfiles.py SYNTH_COLUMNS); gap: see max_gap (None: from the
    median step between the logged blocks)."""
    n = max(0, index(t_end))
    t = (np.arange(n) + 0.5) * STEP
    pitch = np.full(n, np.nan)
    t_dac = synth.get("t_dac", np.zeros(0))
    midi = synth.get("midi", np.zeros(0))
    amp = synth.get("amplitude", np.zeros(0))
    ok = ~(np.isnan(t_dac) | np.isnan(midi) | np.isnan(amp)) if len(t_dac) else np.zeros(0, bool)
    t_dac, midi, amp = t_dac[ok], midi[ok], amp[ok]
    if gap is None:
        gap = max_gap(None, t_dac)
    if n == 0 or len(t_dac) == 0:
        return Track(t, pitch)
    order = np.argsort(t_dac, kind="stable")
    t_dac, midi, amp = t_dac[order], midi[order], amp[order]
    i = np.searchsorted(t_dac, t + 1e-9, side="right") - 1
    valid = i >= 0
    j = np.where(valid, i, 0)
    fresh = valid & (t - t_dac[j] <= gap)
    on = fresh & (amp[j] > threshold)
    pitch[on] = midi[j][on]
    return Track(t, pitch)
