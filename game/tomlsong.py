"""Our own song format: a TOML file per song, easy to write by hand (format: assets/songs/README.md)."""
from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

from game.song import Note, Song, SongError, check_times, midi_from_name

_TOKEN_RE = re.compile(r"^([*~]?)([A-Ga-g][#b]?-?\d|r)(?:/(\d{1,4}(?:\.\d{1,6})?))?$")
MELISMA = "_"   # a lyric token for a note that holds the previous syllable


def load(path: Path) -> Song:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise SongError(f"{path}: cannot read song file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SongError(f"{path}: not UTF-8 text (byte {e.start}): save the song file as UTF-8") from None
    return parse_text(text, str(path))


def parse_text(text: str, where: str = "<song>") -> Song:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SongError(f"{where}: not a TOML song file: {e}") from None
    return parse(data, where, text)


def _number(data: dict, key: str, where: str, default=None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SongError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _file_line(text: str, token: str, after: str = "lines") -> str:
    """' (file line N)' for the first line of the file holding `token` after the `lines` key, for error messages
    (tomllib gives values, not where they were)."""
    if not text:
        return ""
    rows = text.splitlines()
    start = next((i for i, row in enumerate(rows) if row.lstrip().startswith(after)), 0)
    for i in range(start, len(rows)):
        if token in rows[i]:
            return f" (file line {i + 1})"
    return ""


def parse(data: dict, where: str = "<song>", text: str = "") -> Song:
    """Build a Song from the TOML table of a song file (`text`, the file itself, lets errors name the file line)."""
    if "bpm" not in data:
        raise SongError(f"{where}: missing key 'bpm'")
    if "lines" not in data:
        raise SongError(f"{where}: missing key 'lines'")
    bpm = _number(data, "bpm", where)
    if not 0 < bpm <= 1000:
        raise SongError(f"{where}: bpm must be positive (at most 1000), got {bpm:g}")
    lines = data["lines"]
    if not isinstance(lines, list) or not lines or not all(isinstance(line, str) for line in lines):
        raise SongError(f"{where}: 'lines' must be a non-empty list of strings")
    lyrics = data.get("lyrics", [])
    if not isinstance(lyrics, list) or not all(isinstance(words, str) for words in lyrics):
        raise SongError(f"{where}: 'lyrics' must be a list of strings, one per line")
    lead_in = _number(data, "lead_in_beats", where, 4)
    if not 0 <= lead_in <= 64:
        raise SongError(f"{where}: lead_in_beats must be 0..64, got {lead_in:g}")
    beat = 60.0 / bpm
    t = lead_in * beat
    notes: list[Note] = []
    for li, line in enumerate(lines):
        words = lyrics[li].split() if li < len(lyrics) else []
        wi = 0
        for token in line.split():
            if token == "|":
                continue
            m = _TOKEN_RE.match(token)
            if not m:
                raise SongError(f"{where}: line {li + 1}{_file_line(text, token)}: cannot read {token!r} "
                                "(expected like E4, E4/0.5, *G4/2, r/1)")
            mark, pitch, beats = m.groups()
            length = float(beats) * beat if beats else beat
            if length <= 0:
                raise SongError(f"{where}: line {li + 1}{_file_line(text, token)}: {token!r} has no length")
            if pitch != "r":
                midi = midi_from_name(pitch)
                if not 0 <= midi <= 127:
                    raise SongError(f"{where}: line {li + 1}{_file_line(text, token)}: {pitch} is outside the "
                                    "MIDI range C-1..G9")
                kind = {"": "normal", "*": "golden", "~": "freestyle"}[mark]
                lyric = words[wi] if wi < len(words) else ""
                wi += 1
                # notes are sung slightly shorter than their beat so repeated notes are distinct
                notes.append(Note(round(t, 6), round(length * 0.9, 6), midi, kind,
                                  "" if lyric == MELISMA else lyric, li))
            t += length
    if not notes:
        raise SongError(f"{where}: the song has no notes")
    check_times(notes, where)
    title, artist = data.get("title", Path(where).stem), data.get("artist", "")
    return Song(str(title), str(artist), bpm, tuple(notes), where)
