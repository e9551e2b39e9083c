"""Saved speaker-to-microphone delays (from `python main.py calibrate-audio`), one per (input, output) device pair.

Why per pair: the round trip is the output's buffering plus the input's, so it changes with either device.
Devices are keyed by their PortAudio names (indices shift when a device is plugged in). The block size and
--latency a delay was measured with are kept too: the input's buffering, and so the recorder's timeline, depends
on them, so a session that runs with others says so in where its delay came from.

File: settings.audio_delay_file, else audio-delay.json in the user config folder (game/userdirs.py: ~/.config/handtone
on Linux). An unreadable file counts as empty; saving replaces it atomically.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from game.atomicfile import write_atomic

VERSION = 1


def store_path(settings) -> Path:
    if settings.audio_delay_file:
        return Path(settings.audio_delay_file).expanduser()
    from game.userdirs import config_dir
    return config_dir() / "audio-delay.json"


def _key(input_name: str, output_name: str) -> str:
    return f"{input_name} -> {output_name}"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    pairs = data.get("pairs") if isinstance(data, dict) else None
    return pairs if isinstance(pairs, dict) else {}


def save(settings, input_name: str, output_name: str, delay_ms: float, **details) -> Path:
    """Record delay_ms for the pair (replacing an older one) with today's date, block and latency; the path."""
    path = store_path(settings)
    pairs = _read(path)
    pairs[_key(input_name, output_name)] = {
        "input": input_name, "output": output_name, "delay_ms": round(float(delay_ms), 3),
        "date": datetime.now().isoformat(timespec="seconds"), "block": int(settings.block),
        "latency": str(settings.latency), "sample_rate": int(settings.sample_rate)} | details
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, (json.dumps({"version": VERSION, "pairs": pairs}, indent=1, ensure_ascii=False)
                               + "\n").encode("utf-8"))


def lookup(settings, input_name: str, output_name: str) -> dict | None:
    """The saved entry for the pair, or None."""
    entry = _read(store_path(settings)).get(_key(input_name, output_name))
    if not isinstance(entry, dict) or not isinstance(entry.get("delay_ms"), (int, float)):
        return None
    return entry


def session_delay(settings, input_name: str | None, output_name: str | None) -> dict:
    """The delay a session aligns its recording by: {"mic_delay_ms", "mic_delay_source", "mic_delay_note"}.

    Source "flag": settings.mic_delay_ms (--mic-delay, HANDTONE_MIC_DELAY_MS) wins; else "calibration": the one saved
    for these two devices (the note gives its date, and says when it was measured with another block or latency);
    else "none": 0."""
    if settings.mic_delay_ms is not None:
        return {"mic_delay_ms": float(settings.mic_delay_ms), "mic_delay_source": "flag", "mic_delay_note": None}
    entry = lookup(settings, input_name, output_name) if input_name and output_name else None
    if entry is None:
        return {"mic_delay_ms": 0.0, "mic_delay_source": "none",
                "mic_delay_note": f"no calibrate-audio result for {input_name!r} -> {output_name!r}"}
    note = f"calibrate-audio of {entry.get('date', '?')} for {input_name!r} -> {output_name!r}"
    differs = [f"{name} {entry[name]}" for name in ("block", "latency")
               if name in entry and str(entry[name]) != str(getattr(settings, name))]
    if differs:
        note += f", measured with {', '.join(differs)} (this session differs: calibrate with its options)"
    return {"mic_delay_ms": float(entry["delay_ms"]), "mic_delay_source": "calibration", "mic_delay_note": note}


def delay_for_recorder(pa, settings, input_name: str | None) -> dict:
    """session_delay for the recorder, which knows its own input device but not the synth's output: the output is
    resolved here from settings.output_device the way the synth resolves it (devices.choose_device)."""
    if settings.mic_delay_ms is not None or not input_name:
        return session_delay(settings, input_name, None)
    from audio.devices import choose_device
    try:
        index = choose_device(pa, settings.output_device, "output", int(settings.sample_rate))
        output_name = None if index is None else str(pa.get_device_info_by_index(index)["name"])
    except (IOError, OSError):
        output_name = None
    return session_delay(settings, input_name, output_name)
