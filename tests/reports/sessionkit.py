"""Builds realistic session folders the way the children write them (same files, columns, clocks), for a played
pitch given as a function of session time. Used by the report tests; nothing here is a report module.
"""
from __future__ import annotations

import csv
import json
import os
import wave
from pathlib import Path

import numpy as np

from game.settings import Settings, SmtpSettings
from game.song import Song, load, midi_to_hz

RATE = 48000
BLOCK = 256


def perfect(song: Song, transpose: int = 0):
    """Plays each note of the song exactly, silent between notes."""
    def pitch(t: float):
        n = song.note_at(t)
        return (n.midi + transpose, 0.8) if n else (60.0, 0.0)
    return pitch


def silence(_t: float):
    return (60.0, 0.0)


def write_synth(d: Path, pitch, seconds: float, wav_rate: int = RATE, latency_ms: float = 14.0,
                block: int = BLOCK, mode: str = "device") -> None:
    """synth.csv (one row per audio block of `block` frames, DAC time), synth.wav (the tone), stats-synth.json."""
    t_blocks = np.arange(int(seconds * RATE / block)) * block / RATE
    rows = []
    for t in t_blocks:
        midi, amp = pitch(float(t))
        # the newest frame captured latency_ms before this block: its first block is the motion-to-sound
        # latency, later blocks reflecting the same frame are older by up to a frame (as the synth logs them)
        frame = int((t - latency_ms / 1000) * 30)
        rows.append((f"{t:.6g}", f"{midi:.6g}", f"{midi_to_hz(midi):.6g}", f"{amp:.6g}", frame,
                     f"{frame / 30:.6g}", f"{(t - frame / 30) * 1000:.6g}"))
    with open(d / "synth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("t_dac", "midi", "hz", "amplitude", "frame_index", "t_capture", "latency_ms"))
        w.writerows(rows)
    ts = np.arange(int(seconds * wav_rate)) / wav_rate
    pa = np.array([pitch(float(t)) for t in t_blocks])
    idx = np.minimum((ts * RATE / block).astype(int), len(pa) - 1)
    hz = 440.0 * 2 ** ((pa[idx, 0] - 69) / 12)
    wave_ = np.sin(2 * np.pi * np.cumsum(hz) / wav_rate) * pa[idx, 1] * 0.6
    write_wav(d / "synth.wav", wave_, wav_rate)
    stats(d, "synth", mode=mode, device="pulse" if mode == "device" else None, blocks=len(rows), block=block,
          underflows_flag=0, underflows_clock=1, wav_t_start=0.0, sample_rate=RATE,
          latency_ms={"p50": latency_ms, "p95": latency_ms + 2, "p99": latency_ms + 3} if mode == "device" else
          {"p50": None, "p95": None, "p99": None, "n": 0})


def write_wav(path: Path, x: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(np.round(x * 32767), -32767, 32767).astype("<i2").tobytes())


def stats(d: Path, name: str, **fields) -> None:
    data = {"process": name, "pid": 4242, "startup_s": 0.4, "cpu_s": 1.25, "max_rss_mb": 61.0} | fields
    (d / f"stats-{name}.json").write_text(json.dumps(data, indent=2))


def write_vision(d: Path, seconds: float, fps: float = 30.0) -> None:
    with open(d / "frames.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("frame_index", "t_capture", "capture_ms", "detect_ms", "total_ms", "present", "area", "cx", "cy"))
        for i in range(int(seconds * fps)):
            w.writerow((i, f"{i / fps:.6g}", "0.9", f"{1.3 + (i % 5) * 0.1:.3g}", f"{2.2 + (i % 5) * 0.1:.3g}", 1,
                        "0.05", "0.5", "0.5"))
    stats(d, "vision", source="demo", detector="classic", frames=int(seconds * fps), fps=fps,
          capture_ms_p50=0.9, capture_ms_p95=1.0, detect_ms_p50=1.5, detect_ms_p95=1.7, total_ms_p50=2.4,
          total_ms_p95=2.6, dropped_frames=0)


def write_music(d: Path, song: Song, seconds: float, rate: int = 22050) -> None:
    ts = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(ts)
    for n in song.notes:
        m = (ts >= n.start) & (ts < n.end)
        x[m] = 0.3 * np.sin(2 * np.pi * midi_to_hz(n.midi - 12) * ts[m])
    write_wav(d / "backing.wav", x, rate)
    with open(d / "music.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("t_dac", "song_t", "level"))
        for t in np.arange(0, seconds, 0.1):
            w.writerow((f"{t:.6g}", f"{t:.6g}", "0.2"))
    stats(d, "music", mode="device", wav_t_start=0.0, underflows=0)


def write_recorder(d: Path, seconds: float) -> None:
    write_wav(d / "recording.wav", np.zeros(int(seconds * 16000)), 16000)
    (d / "levels.csv").write_text("t,level\n0,0.0\n")
    stats(d, "recorder", t_first_sample=0.01, seconds=seconds, overflows=0, device="pulse")


def write_session(d: Path, song: Song, player: str, seconds: float, stop_reason: str = "song end") -> None:
    children = {n: {"startup_s": 0.4, "exitcode": 0, "pid": 4242} for n in ("vision", "synth", "music", "recorder")}
    (d / "session.json").write_text(json.dumps({
        "song": song.title, "song_path": song.path, "player": player, "difficulty": "medium", "tolerance": 1.0,
        "started": "2026-03-14T15:09:26", "stop_reason": stop_reason, "duration_s": seconds, "children": children,
        "count_in_s": 1.0}, ensure_ascii=False))


def full_session(d: Path, pitch=None, song_name: str = "twinkle", player: str = "Zoë Ångström") -> Song:
    """A complete session folder for the song, played by `pitch` (default: perfectly)."""
    song = load(song_name)
    seconds = song.duration + 1.0
    d.mkdir(parents=True, exist_ok=True)
    write_session(d, song, player, seconds)
    write_synth(d, pitch or perfect(song), seconds)
    write_vision(d, seconds)
    write_music(d, song, seconds)
    write_recorder(d, seconds)
    return song


def settings(player: str = "Zoë Ångström", difficulty: str = "medium", **smtp) -> Settings:
    """Settings for a report test; the history and outbox go to the run's private HANDTONE_DATA_DIR
    (tests/conftest.py), never to the real user data folder (a Settings made here does not read the environment)."""
    return Settings(player=player, difficulty=difficulty, data_dir=os.environ.get("HANDTONE_DATA_DIR", ""),
                    smtp=SmtpSettings(**smtp))
