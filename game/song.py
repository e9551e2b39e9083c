"""Songs: the notes a player follows, and where they come from.

A song is a list of notes (start s, duration s, MIDI pitch, kind, lyric, line). Times count from the session's t0,
which is also where a song's own audio file starts, so a song's first note comes after its lead-in.

This module keeps the model and finds a song by name or path; one small importer per file type reads it:
our TOML format (game/tomlsong.py), UltraStar `.txt` (game/ultrastar.py) and MIDI (game/midisong.py). The formats
are described in assets/songs/README.md. A file that cannot be used raises SongError, whose message names the file
(and the line, where the format has lines) and says what is wrong.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

SONG_DIR = Path(__file__).resolve().parent.parent / "assets" / "songs"
DEMO_SONG = "ode_to_joy"
KINDS = ("normal", "golden", "freestyle", "rap", "golden_rap")  # UltraStar : * F R G
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# file suffix -> the format's name; the importer is picked from it in load()
FORMATS = {".toml": "toml", ".txt": "ultrastar", ".mid": "midi", ".midi": "midi", ".kar": "midi"}
MAX_SECONDS = 6 * 3600.0     # a song longer than this is a broken file (a BPM of 0.001, a runaway MIDI delta time)
_NAME_RE = re.compile(r"^([A-Ga-g])([#b]?)(-?\d)$")


class SongError(ValueError):
    """A song file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Note:
    start: float
    duration: float
    midi: int
    kind: str = "normal"
    lyric: str = ""      # the syllable; ends with '-' when the word goes on in the next note; "" for none
    line: int = 0        # the phrase (the singing games' "line"), counted from 0

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Song:
    title: str
    artist: str
    bpm: float                                   # quarter notes per minute at the start, as the file states it
    notes: tuple[Note, ...]
    path: str = ""
    audio: str = ""                              # the song's own backing audio file (absolute path), "" for none
    accompaniment: tuple[Note, ...] = ()         # other parts (a MIDI's other tracks, a duet's other voice)

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
    """The session's song: settings.song loaded with the session's voice (duets) and track (MIDI), from the
    player's song folder when it is a name found there, at the session's tempo. Every process calls this, so all
    of them play the same notes. Transpose is not applied here: the pitch map, backing, lane and score add
    settings.transpose."""
    song = load(settings.song, voice=settings.voice, track=settings.track, songs_dir=settings.songs_dir)
    return with_tempo(song, settings.tempo)


def with_tempo(song: Song, factor: float) -> Song:
    """The song played `factor` times as fast: every time divided by it, the beat rate multiplied. A song with its
    own audio file keeps the file: the backing has to stretch it to match."""
    if factor == 1.0:
        return song
    if not factor > 0:
        raise ValueError(f"tempo factor must be positive, got {factor}")

    def scaled(notes: tuple[Note, ...]) -> tuple[Note, ...]:
        return tuple(dataclasses.replace(n, start=round(n.start / factor, 6), duration=round(n.duration / factor, 6))
                     for n in notes)
    return dataclasses.replace(song, bpm=song.bpm * factor, notes=scaled(song.notes),
                               accompaniment=scaled(song.accompaniment))


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


# ---- where songs are ------------------------------------------------------------------------------------------------

def user_songs_dir(songs_dir: str = "") -> Path:
    """The player's own song folder: settings.songs_dir, else the platform's user data folder + songs
    (~/.local/share/handtone/songs on Linux, honouring XDG_DATA_HOME)."""
    if songs_dir:
        return Path(songs_dir).expanduser()
    from game.userdirs import data_dir
    return data_dir() / "songs"


def song_files(folder: Path, recursive: bool) -> list[Path]:
    """The song files in a folder (UltraStar songs usually sit in a folder each, with their audio, so the user's
    folder is searched all the way down), sorted by path."""
    if not folder.is_dir():
        return []
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in FORMATS and p.is_file() and not p.name.startswith("."))


def available_songs() -> list[str]:
    """The bundled songs' names (file names without the suffix)."""
    return sorted({p.stem for p in song_files(SONG_DIR, recursive=False)})


def resolve(name_or_path: str, songs_dir: str = "") -> Path:
    """A song file: a path to one, a bundled song's name, or the name (file name without suffix, or the path
    inside the folder) of a song in the player's song folder."""
    p = Path(name_or_path).expanduser()
    if p.suffix and p.is_file():
        return p
    if p.is_file() and p.suffix.lower() not in FORMATS:
        raise SongError(f"{name_or_path}: not a song file handtone reads: give a .toml, UltraStar .txt or MIDI "
                        ".mid/.kar file")
    for path in song_files(SONG_DIR, recursive=False):
        if path.stem == name_or_path:
            return path
    user_dir = user_songs_dir(songs_dir)
    inside = user_dir / name_or_path
    if inside.suffix and inside.is_file():
        return inside
    mine = [path for path in song_files(user_dir, recursive=True) if path.stem == name_or_path]
    if mine:
        return mine[0]
    if p.suffix.lower() in FORMATS or "/" in name_or_path:
        raise SongError(f"{name_or_path}: no such song file")
    raise SongError(f"no song {name_or_path!r}: give a song file's path, a bundled song "
                    f"({', '.join(available_songs())}) or the name of one in {user_dir} "
                    "(python main.py songs lists them)")


def load(name_or_path: str, voice: int = 1, track: str | None = None, songs_dir: str = "") -> Song:
    """Read a song by name or path with the importer its file type needs. `voice` picks a duet's voice (UltraStar
    P1/P2), `track` a MIDI file's melody track (index or part of its name); each is ignored where it means
    nothing."""
    path = resolve(name_or_path, songs_dir).resolve()
    kind = FORMATS.get(path.suffix.lower())
    if kind == "toml":
        from game import tomlsong
        return tomlsong.load(path)
    if kind == "ultrastar":
        from game import ultrastar
        return ultrastar.load(path, voice=voice)
    if kind == "midi":
        from game import midisong
        return midisong.load(path, track=track)
    raise SongError(f"{path}: not a song file this game reads (use {', '.join(sorted(FORMATS))})")


def check_times(notes, where: str) -> None:
    """Refuse notes whose times are not finite or that run past MAX_SECONDS (what a broken tempo gives)."""
    for n in notes:
        if not (0.0 <= n.start <= MAX_SECONDS and 0.0 <= n.duration <= MAX_SECONDS):
            raise SongError(f"{where}: a note at {n.start:.6g} s lasting {n.duration:.6g} s: the song's tempo or "
                            f"times are broken (songs may last {MAX_SECONDS / 3600:.0f} hours at most)")
