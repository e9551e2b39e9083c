"""Tolerant reading of what the children left in a session folder.

A child may have been killed mid-write or never started, so every reader here returns something usable (an empty
array, an empty dict, None) and records a warning instead of raising: reports are made from whatever is there.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from typing import NamedTuple

import numpy as np

from audio.sampleclock import Timeline
from audio.wavstream import WavStream
from game.pause import spans_from


class PlacedRecording(NamedTuple):
    """recording.wav on the session clock: sample k sounds at start + k / samples_per_s."""
    samples: WavStream        # the file, read a span at a time
    rate: int                 # the file's nominal rate
    start: float              # session time of sample 0, the microphone delay taken off
    delay_ms: float           # that delay
    samples_per_s: float      # the microphone's real rate on the session clock (rate * (1 + rate_ppm / 1e6))


class SessionData:
    """One session folder, read once; `warnings` collects every problem found, for the report and the player."""

    def __init__(self, session_dir: Path):
        self.dir = Path(session_dir)
        self.warnings: list[str] = []
        self._json: dict[str, dict] = {}
        self._csv: dict[str, dict[str, np.ndarray]] = {}

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def json(self, name: str, why: str = "") -> dict:
        """A JSON file as a dict; {} (and a warning) when missing or unreadable."""
        if name not in self._json:
            path = self.dir / name
            data: dict = {}
            if not path.exists():
                self.warn(f"{name} missing{': ' + why if why else ''}")
            else:
                try:
                    loaded = json.loads(path.read_text(encoding="utf-8"))
                    if isinstance(loaded, dict):
                        data = loaded
                    else:
                        self.warn(f"{name}: not a JSON object, ignored")
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                    self.warn(f"{name} unreadable ({type(e).__name__}), ignored")
            self._json[name] = data
        return self._json[name]

    def pauses(self) -> list[tuple[float, float]]:
        """The session's pauses, (start, end) in session seconds (session.json; none when it does not say)."""
        return spans_from(self.json("session.json"))

    def csv(self, name: str, columns: tuple[str, ...], why: str = "") -> dict[str, np.ndarray]:
        """Numeric columns of a session CSV as float arrays (NaN for empty cells); empty arrays when missing.

        A last line without its newline was cut by a kill mid-write and is dropped; so are short rows.
        """
        if name not in self._csv:
            self._csv[name] = self._read_csv(name, columns, why)
        return self._csv[name]

    def _read_csv(self, name: str, columns: tuple[str, ...], why: str) -> dict[str, np.ndarray]:
        empty = {c: np.zeros(0) for c in columns}
        path = self.dir / name
        if not path.exists():
            self.warn(f"{name} missing{': ' + why if why else ''}")
            return empty
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            self.warn(f"{name} unreadable ({type(e).__name__})")
            return empty
        lines = text.splitlines()
        if not lines:
            self.warn(f"{name} is empty")
            return empty
        if not text.endswith("\n") and len(lines) > 1:
            lines = lines[:-1]
            self.warn(f"{name}: last line was cut (process stopped mid-write), dropped")
        reader = csv.reader(lines)
        header = next(reader, [])
        index = {h.strip(): i for i, h in enumerate(header)}
        absent = [c for c in columns if c not in index]
        if absent:
            self.warn(f"{name}: no column {', '.join(absent)}")
        out = {c: [] for c in columns}
        short = 0
        for row in reader:
            if len(row) < len(header):
                short += 1
                continue
            for c in columns:
                out[c].append(_num(row[index[c]]) if c in index else math.nan)
        if short:
            self.warn(f"{name}: {short} incomplete row(s) dropped")
        return {c: np.asarray(v, dtype=float) for c, v in out.items()}

    def wav_stream(self, name: str, why: str = "") -> WavStream | None:
        """A WAV opened to be read a span at a time (a long track is never held whole), or None (and a warning)
        when missing or unreadable; a damaged header's note is a warning too."""
        path = self.dir / name
        if not path.exists():
            self.warn(f"{name} missing{': ' + why if why else ''}")
            return None
        try:
            stream = WavStream(path)
        except (OSError, ValueError) as e:
            self.warn(f"{name} unreadable: {e}")
            return None
        if stream.note:
            self.warn(f"{name}: {stream.note}")
        return stream

    def recording_stream(self) -> PlacedRecording | None:
        """recording.wav on the session clock, or None when there is none (the recorder told the player why); its
        samples stay in the file (a WavStream: the mix reads it a span at a time).

        The recorder's timeline (audio/sampleclock.py: t_first_sample, rate_ppm) says when sample k was captured;
        a sound played at session time t is heard on that timeline mic_delay_ms later (calibrate-audio, or
        --mic-delay; stats-recorder.json says which), so the recording is moved earlier by that much: what was
        played at t lands at t. Every reader places the recording by this, sample by sample."""
        if not (self.dir / "recording.wav").exists():
            return None
        got = self.wav_stream("recording.wav")
        if got is None:
            return None
        stats = self.json("stats-recorder.json", "the recorder left no timing: recording.wav cannot be placed")
        line = Timeline.from_stats(stats, got.rate)
        if line is None:
            self.warn("recording.wav not placed in time: stats-recorder.json has no t_first_sample")
            return None
        delay = stats.get("mic_delay_ms")
        delay = float(delay) if isinstance(delay, (int, float)) and math.isfinite(delay) else 0.0
        return PlacedRecording(got, got.rate, line.t_first - delay / 1000.0, delay, line.samples_per_s)


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
