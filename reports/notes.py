"""notes.csv: the notes the player actually played, for reading back a performance (or importing it elsewhere).

A played note is a run of the 10 ms track where the tone sounds and its pitch rounds to the same semitone, kept
when it lasts at least MIN_NOTE (shorter runs are glides between notes, not notes). Times are song seconds, like
the song's own notes (the same as session seconds unless the session was paused: reports/track.py).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from game.song import midi_to_hz, note_name
from reports.track import STEP, Track

MIN_NOTE = 0.08
COLUMNS = ("start", "end", "name", "midi", "hz")


def played_notes(track: Track, min_note: float = MIN_NOTE) -> list[dict]:
    """Each played note: start, end (s), name, midi (rounded), hz (of the mean pitch played during it)."""
    rounded = np.where(track.sounding, np.round(np.nan_to_num(track.pitch)), np.nan)
    if len(rounded) == 0:
        return []
    # runs of one rounded pitch (silence is one run too), found with numpy: a long session has hundreds of
    # thousands of samples
    key = np.where(track.sounding, rounded, -1.0)
    change = np.flatnonzero(key[1:] != key[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(rounded)]))
    sums = np.add.reduceat(np.nan_to_num(track.pitch), starts)
    out = []
    for i, j, total in zip(starts.tolist(), ends.tolist(), sums.tolist()):   # one step per run
        if np.isnan(rounded[i]) or (j - i) * STEP < min_note - 1e-9:
            continue
        midi = int(rounded[i])
        start = float(track.t[i]) - STEP / 2  # the sample's interval starts half a step before its centre
        out.append({"start": round(start, 3), "end": round(start + (j - i) * STEP, 3),
                    "name": note_name(midi), "midi": midi, "hz": round(midi_to_hz(total / (j - i)), 2)})
    return out


def write_notes(path: Path, notes: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(notes)
    return Path(path)
