"""Songs: the notes a player follows, loaded from our own TOML song files (format: assets/songs/README.md).

A song is a list of notes (start s, duration s, MIDI pitch, kind, lyric, line). Times count from the session's t0,
so a song's first note starts after its lead-in.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

SONG_DIR = Path(__file__).resolve().parent.parent / "assets" / "songs"
DEMO_SONG = "ode_to_joy"
KINDS = ("normal", "golden", "freestyle", "rap", "golden_rap")  # UltraStar : * F R G
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_NAME_RE = re.compile(r"^([A-Ga-g])([#b]?)(-?\d)$")
_TOKEN_RE = re.compile(r"^([*~]?)([A-Ga-g][#b]?-?\d|r)(?:/(\d+(?:\.\d+)?))?$")


class SongError(ValueError):
    """A song file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Note:
    start: float
    duration: float
    midi: int
    kind: str = "normal"
    lyric: str = ""
    line: int = 0

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Song:
    title: str
    artist: str
    bpm: float
    notes: tuple[Note, ...]
    path: str = ""
    audio: str = ""                              # the song's own backing audio file (absolute path), "" for none
    accompaniment: tuple[Note, ...] = ()         # other parts (a MIDI's other tracks) for the rendered backing

    @property
    def duration(self) -> float:
        """Seconds from t0 to the end of the last note."""
        return max((n.end for n in self.notes), default=0.0)

    @property
    def lowest(self) -> int:
        return min(n.midi for n in self.notes)

    @property
    def highest(self) -> int:
        return max(n.midi for n in self.notes)

    @property
    def lines(self) -> int:
        return max((n.line for n in self.notes), default=-1) + 1

    def note_at(self, t: float) -> Note | None:
        """The note sounding at session time t, if any."""
        for n in self.notes:
            if n.start <= t < n.end:
                return n
        return None

    def next_note(self, t: float) -> Note | None:
        return next((n for n in self.notes if n.start >= t), None)


def load_for(settings) -> Song:
    """The session's song: settings.song loaded with the session's choices (voice, track) and tempo applied.
    Transpose is not applied here: the pitch map, backing, lane and score add settings.transpose."""
    return load(settings.song)


def midi_from_name(name: str) -> int:
    """'C4' -> 60, 'A4' -> 69, 'F#3' -> 54, 'Bb2' -> 46."""
    m = _NAME_RE.match(name)
    if not m:
        raise ValueError(f"not a note name: {name!r} (expected like C4, F#3, Bb2)")
    letter, accidental, octave = m.groups()
    pc = NOTE_NAMES.index(letter.upper()) + {"": 0, "#": 1, "b": -1}[accidental]
    return 12 * (int(octave) + 1) + pc


def note_name(midi: float) -> str:
    """60 -> 'C4'; fractional pitches round to the nearest semitone."""
    m = int(round(midi))
    return f"{NOTE_NAMES[m % 12]}{m // 12 - 1}"


def midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def hz_to_midi(hz: float) -> float:
    import math
    return 69.0 + 12.0 * math.log2(hz / 440.0)


def available_songs() -> list[str]:
    return sorted(p.stem for p in SONG_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A bundled song's name, or a path to a song file."""
    p = Path(name_or_path).expanduser()
    if p.suffix and p.exists():
        return p
    bundled = SONG_DIR / f"{name_or_path}.toml"
    if bundled.exists():
        return bundled
    raise SongError(f"no song {name_or_path!r}: give a file path or one of: {', '.join(available_songs())}")


def load(name_or_path: str) -> Song:
    path = resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SongError(f"{path}: cannot read song file: {e}") from None
    return parse(data, str(path))


def parse(data: dict, where: str = "<song>") -> Song:
    """Build a Song from the TOML table of a song file."""
    try:
        bpm = float(data["bpm"])
        lines = data["lines"]
    except KeyError as e:
        raise SongError(f"{where}: missing key {e.args[0]!r}") from None
    if bpm <= 0:
        raise SongError(f"{where}: bpm must be positive, got {bpm}")
    if not isinstance(lines, list) or not lines:
        raise SongError(f"{where}: 'lines' must be a non-empty list of strings")
    lyrics = data.get("lyrics", [])
    beat = 60.0 / bpm
    t = float(data.get("lead_in_beats", 4)) * beat
    notes: list[Note] = []
    for li, line in enumerate(lines):
        words = lyrics[li].split() if li < len(lyrics) else []
        wi = 0
        for token in str(line).split():
            if token == "|":
                continue
            m = _TOKEN_RE.match(token)
            if not m:
                raise SongError(f"{where}: line {li + 1}: cannot read {token!r} (expected like E4, E4/0.5, *G4/2, r/1)")
            mark, pitch, beats = m.groups()
            length = float(beats) * beat if beats else beat
            if pitch != "r":
                kind = {"": "normal", "*": "golden", "~": "freestyle"}[mark]
                lyric = words[wi] if wi < len(words) else ""
                wi += 1
                # notes are sung slightly shorter than their beat so repeated notes are distinct
                notes.append(Note(round(t, 6), round(length * 0.9, 6), midi_from_name(pitch), kind, lyric, li))
            t += length
    if not notes:
        raise SongError(f"{where}: the song has no notes")
    return Song(str(data.get("title", Path(where).stem)), str(data.get("artist", "")), bpm, tuple(notes), where)
