"""UltraStar `.txt` songs (the format of UltraStar Deluxe, Vocaluxe, Performous, UltraStar Play).

What is read, checked against the format's specification (github.com/UltraStar-Deluxe/format: the unversioned,
v1 and v2 documents) and UltraStar Deluxe's loader (src/base/USong.pas):
- Header `#KEY:VALUE` lines (keys in any case; the last of a repeated key wins): #TITLE #ARTIST #BPM #GAP (ms)
  #MP3 / #AUDIO #VERSION #RELATIVE #START #END #ENCODING; numbers may use a decimal comma ("#BPM:120,5"). Others
  are ignored.
- Body: notes `T start length pitch text` with T ':' normal, '*' golden, 'F' freestyle, 'R' rap, 'G' golden rap
  (any other single character: freestyle, as the specification allows); pitch in semitones from C4 (0 = MIDI 60);
  `- beat` ends a line (phrase); `B beat bpm` changes the tempo; `P1`/`P2` switch duet voices (`P3`, the old
  convention, is sung by both); `E` ends the song, the rest is ignored.
- Time of a beat: GAP/1000 + beat * 60 / (4 * BPM) for files before format 2.0.0: their #BPM is a quarter of the
  beat rate (the v1 document: "the value is implicitly quadrupled"; USDX multiplies it by MultBPM = 4). From 2.0.0
  on #BPM is the beat rate itself: GAP/1000 + beat * 60 / BPM. Files newer than 2.x are refused.
- #RELATIVE:yes (legacy files only; USDX refuses it from 1.0.0 on, and so do we): each voice keeps an offset that
  starts at 0 (USDX; the unversioned document says GAP, which is in ms, not beats); note and line-break beats count
  from it, and a line break `- beat offset` adds `offset` to it afterwards.
- #START/#END: the audio still plays from its start at t0 (the session clock), so notes sung before #START become
  freestyle (shown, not scored) and notes after #END are left out. #START is in seconds before 2.0.0, ms from 2.0.0;
  #END is in ms.
- Encoding: UTF-8 (a BOM is skipped; UTF-16 with a BOM is read too); a file that is not UTF-8 is read with its
  #ENCODING (CP1252 or CP1250) or else as CP1252 (Latin-1 for its five unused bytes), as older songs were saved.
- Line endings CR, LF or CRLF.

The audio file (#AUDIO, or #MP3) is looked for next to the .txt (a file differing only in letter case is taken,
as songs made on Windows often name it so). When it is missing the song is refused with a SongError naming the file:
its notes are timed to that recording (#GAP is where the singing starts in it), and a player who gave a song with
its audio expects to hear it, not a rendered backing with silence where the intro was; removing the #MP3/#AUDIO line
plays the notes with a rendered backing.

Zero-length notes are left out (nothing to sing; USDX turns them into freestyle). A note that runs into the next one
of its voice is cut where the next begins.
"""
from __future__ import annotations

import codecs
import math
import re
from dataclasses import dataclass
from pathlib import Path

from game.lyrics import marked
from game.song import Note, Song, SongError, check_times

_LINE_END = re.compile(r"\r\n|\r|\n")
_INT = r"(-?\d{1,9})"
_NOTE = re.compile(r"^(\S)\s+" + _INT + r"\s+" + _INT + r"\s+" + _INT + r"(?:\s(.*))?$", re.S)
_BREAK = re.compile(r"^-\s*(?:" + _INT + r"(?:\s+" + _INT + r")?)?\s*$")
_VOICE = re.compile(r"^P\s*(\d)\s*$")
_TEMPO = re.compile(r"^B\s+(\S+)\s+(\S+)\s*$")
_NUMBER = re.compile(r"^[+-]?(?:\d{1,12}(?:[.,]\d{0,12})?|[.,]\d{1,12})$")
_VERSION = re.compile(r"^(\d{1,3})(?:\.(\d{1,3}))?(?:\.(\d{1,3}))?$")
KINDS = {":": "normal", "*": "golden", "F": "freestyle", "R": "rap", "G": "golden_rap"}
UNPITCHED = ("freestyle", "rap", "golden_rap")
ENCODINGS = {"cp1252": "cp1252", "cp1250": "cp1250", "utf8": "utf-8", "utf-8": "utf-8", "latin1": "latin-1",
             "iso-8859-1": "latin-1", "windows-1252": "cp1252", "windows-1250": "cp1250"}


@dataclass
class _Sung:
    """A note as the file gives it, before beats become seconds."""
    beat: int
    length: int
    pitch: int
    kind: str
    text: str
    line: int          # the phrase within its voice
    shared: bool       # sung by both duet voices (P3)


def load(path: Path, voice: int = 1) -> Song:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SongError(f"{path}: cannot read song file: {e.strerror or e}") from None
    return parse(data, path, voice)


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM skipped), UTF-16 with a BOM, else its #ENCODING, else CP1252/Latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").removeprefix("\ufeff")
        except UnicodeDecodeError:
            pass
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    m = re.search(rb"^#\s*ENCODING\s*:\s*([A-Za-z0-9_-]+)", data, re.M | re.I)
    named = ENCODINGS.get(m.group(1).decode("ascii").lower()) if m else None
    for codec in (named, "cp1252"):
        if codec:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                pass
    return data.decode("latin-1")


def _number(value: str, where: str) -> float:
    if not _NUMBER.match(value):
        raise SongError(f"{where}: {value!r} is not a number")
    return float(value.replace(",", "."))


def parse(data: bytes, path: Path | str, voice: int = 1) -> Song:
    """A Song from the bytes of an UltraStar file at `path` (its folder holds the audio file); `voice` picks a
    duet's voice, the other voices become the accompaniment."""
    path = Path(path)
    rows = _LINE_END.split(decode(data))
    tags: dict[str, tuple[str, int]] = {}
    body = len(rows)
    for i, raw in enumerate(rows):
        text = raw.strip()
        if not text:
            continue
        if not text.startswith("#"):
            body = i
            break
        key, colon, value = text[1:].partition(":")
        if colon and value.strip():    # a header line without a value or colon is ignored, as USDX does
            tags[key.strip().upper()] = (value.strip(), i + 1)

    def tag(key: str) -> tuple[str, str] | None:
        """(value, 'file:line') of a header, None when absent."""
        if key not in tags:
            return None
        value, row = tags[key]
        return value, f"{path}:{row}"

    version = (0, 3, 0)                      # no #VERSION: the unversioned (legacy) format
    if (v := tag("VERSION")) is not None:
        m = _VERSION.match(v[0])
        if not m:
            raise SongError(f"{v[1]}: #VERSION {v[0]!r} is not a version like 1.0.0")
        version = tuple(int(g or 0) for g in m.groups())
        if version[0] > 2:
            raise SongError(f"{v[1]}: format version {v[0]} is newer than this game reads (up to 2.x)")
    if (b := tag("BPM")) is None:
        raise SongError(f"{path}: no #BPM line: not an UltraStar song (or its header is broken)")
    bpm = _number(b[0], f"{b[1]}: #BPM")
    if not 0 < bpm <= 100000:
        raise SongError(f"{b[1]}: #BPM must be positive, got {b[0]}")
    gap = 0.0
    if (g := tag("GAP")) is not None:
        gap = _number(g[0], f"{g[1]}: #GAP") / 1000.0
        if gap < 0:
            raise SongError(f"{g[1]}: #GAP {g[0]} is negative: the singing cannot start before the audio")
    relative = False
    if (r := tag("RELATIVE")) is not None and r[0].lower() == "yes":
        if version >= (1, 0, 0):
            raise SongError(f"{r[1]}: #RELATIVE was removed in format 1.0.0 but this file says #VERSION "
                            f"{'.'.join(map(str, version))}: drop one of the two")
        relative = True
    # beat length in seconds: the header's BPM is a quarter of the beat rate before format 2.0.0
    per_beat = 4.0 if version < (2, 0, 0) else 1.0

    sung: dict[int, list[_Sung]] = {}          # voice -> its notes
    lines_of: dict[int, int] = {}              # voice -> its current phrase
    open_line: dict[int, bool] = {}            # voice -> a note since its last line break
    offsets: dict[int, int] = {}               # relative mode: voice -> beat offset
    tempo_changes: list[tuple[int, float]] = []
    voices = (1,)
    duet = False
    for i in range(body, len(rows)):
        text = rows[i].strip()
        where = f"{path}:{i + 1}"
        if not text or text.startswith("#"):
            continue
        if text == "E":
            break
        if m := _VOICE.match(text):
            number = int(m.group(1))
            if number == 0:
                raise SongError(f"{where}: P0 is not a voice (duet voices are P1, P2; P3 is both)")
            voices = (1, 2) if number == 3 else (number,)
            duet = True
            continue
        if text.startswith("-"):
            m = _BREAK.match(text)
            if not m:
                raise SongError(f"{where}: cannot read line break {text!r} (expected like '- 16'"
                                f"{' or, in a relative file, - 16 20' if relative else ''})")
            if relative and m.group(2) is None:
                raise SongError(f"{where}: a relative file's line break needs two numbers, like '- 16 20'")
            for v in voices:
                if open_line.get(v):
                    lines_of[v] = lines_of.get(v, 0) + 1
                    open_line[v] = False
                if relative:
                    offsets[v] = offsets.get(v, 0) + int(m.group(2))
            continue
        if m := _TEMPO.match(text):
            beat = _number(m.group(1), f"{where}: tempo change beat")
            rate = _number(m.group(2), f"{where}: tempo change BPM")
            if not 0 < rate <= 100000 or beat < 0:
                raise SongError(f"{where}: tempo change {text!r} needs a beat >= 0 and a positive BPM")
            tempo_changes.append((beat + (offsets.get(1, 0) if relative else 0), rate))
            continue
        m = _NOTE.match(rows[i].lstrip())      # trailing spaces kept: they end a word
        if not m:
            raise SongError(f"{where}: cannot read {_short(text)} (expected a note like ': 12 4 5 la', "
                            "a line break like '- 16', P1/P2 or E)")
        kind = KINDS.get(m.group(1), "freestyle")   # an unknown note type is freestyle (the specification allows)
        start, length, pitch = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if length < 0:
            raise SongError(f"{where}: a note's length cannot be negative ({length})")
        if not relative and start < 0:
            raise SongError(f"{where}: a note's start beat cannot be negative ({start})")
        if kind not in UNPITCHED and not 0 <= 60 + pitch <= 127:
            raise SongError(f"{where}: pitch {pitch} is outside the MIDI range (-60..67 from C4)")
        for v in voices:
            beat = start + (offsets.get(v, 0) if relative else 0)
            if beat < 0:
                raise SongError(f"{where}: the note starts before the song's beat 0")
            open_line[v] = True
            if length > 0:
                sung.setdefault(v, []).append(_Sung(beat, length, pitch, kind, m.group(5) or "", lines_of.get(v, 0),
                                                    len(voices) > 1))
    if not sung:
        raise SongError(f"{path}: the song has no notes")
    duet = duet and len(sung) > 1
    chosen = voice if duet else min(sung)
    if chosen not in sung:
        raise SongError(f"{path}: this duet has no voice {voice} (P{voice}); it has "
                        f"{', '.join(f'P{v}' for v in sorted(sung))}: use --voice {min(sung)}")
    clock = _BeatClock(gap, bpm * per_beat, [(beat, rate * per_beat) for beat, rate in tempo_changes])
    start_s, end_s = _window(tag("START"), tag("END"), version)
    notes = _notes(sung[chosen], clock, start_s, end_s, lyrics=True)
    if not notes:
        raise SongError(f"{path}: no notes before #END")
    # the other voices' notes (not those both sing) for the rendered backing
    others = [n for v in sorted(sung) if v != chosen
              for n in _notes([s for s in sung[v] if not s.shared], clock, start_s, end_s, lyrics=False)
              if n.kind not in UNPITCHED]
    check_times(notes + others, str(path))
    title = tag("TITLE")[0] if tag("TITLE") else path.stem
    artist = tag("ARTIST")[0] if tag("ARTIST") else ""
    # quarter notes per minute: an UltraStar beat is usually a sixteenth, so #BPM before 2.0.0 is about the tempo
    bpm_quarters = bpm if per_beat == 4.0 else bpm / 4.0
    return Song(title, artist, bpm_quarters, tuple(notes), str(path), _audio(tag, path),
                tuple(sorted(others, key=lambda n: (n.start, n.midi))))


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _window(start, end, version) -> tuple[float, float]:
    """#START and #END as seconds of the audio (0 and infinity when absent)."""
    start_s, end_s = 0.0, math.inf
    if start is not None:
        start_s = _number(start[0], f"{start[1]}: #START") / (1000.0 if version >= (2, 0, 0) else 1.0)
    if end is not None:
        end_s = _number(end[0], f"{end[1]}: #END") / 1000.0
        if end_s <= 0:
            end_s = math.inf                   # #END:0 means no end, as in USDX
    return start_s, end_s


class _BeatClock:
    """Beats -> seconds with the file's tempo changes (B lines): piecewise constant beat rates."""

    def __init__(self, gap: float, rate: float, changes: list[tuple[float, float]]):
        self.points = [(0.0, gap, rate)]        # (beat, seconds at that beat, beats per minute from there)
        for beat, new_rate in sorted(changes):
            b0, t0, r0 = self.points[-1]
            if beat <= b0:
                self.points[-1] = (b0, t0, new_rate)
            else:
                self.points.append((beat, t0 + (beat - b0) * 60.0 / r0, new_rate))

    def seconds(self, beat: float) -> float:
        b0, t0, rate = next(p for p in reversed(self.points) if p[0] <= beat or p is self.points[0])
        return t0 + (beat - b0) * 60.0 / rate


def _notes(sung: list[_Sung], clock: _BeatClock, start_s: float, end_s: float, lyrics: bool) -> list[Note]:
    sung = sorted(sung, key=lambda s: s.beat)
    texts = marked([s.text for s in sung], [s.line for s in sung]) if lyrics else [""] * len(sung)
    notes = []
    for k, s in enumerate(sung):
        t0, t1 = clock.seconds(s.beat), clock.seconds(s.beat + s.length)
        if k + 1 < len(sung):
            t1 = min(t1, clock.seconds(sung[k + 1].beat))   # runs into the next note: cut there
        if t0 >= end_s or t1 <= t0:
            continue
        kind = "freestyle" if t0 < start_s else s.kind
        midi = 60 + s.pitch if 0 <= 60 + s.pitch <= 127 else 60   # rap/freestyle pitches mean nothing
        notes.append(Note(round(t0, 6), round(min(t1, end_s) - t0, 6), midi, kind, texts[k], s.line))
    # lines numbered from 0 without gaps (phrases left out by #END or empty ones)
    renumber = {line: k for k, line in enumerate(sorted({n.line for n in notes}))}
    return [Note(n.start, n.duration, n.midi, n.kind, n.lyric, renumber[n.line]) for n in notes]


def _audio(tag, path: Path) -> str:
    """The song's audio file as an absolute path ("" when the file names none); SongError when it is missing."""
    named = tag("AUDIO") or tag("MP3")       # #AUDIO wins over #MP3 (v1: "even if the file cannot be found")
    if named is None:
        return ""
    value, where = named
    candidate = path.parent / value
    if candidate.is_file():
        return str(candidate.resolve())
    folder = candidate.parent
    if folder.is_dir():
        same = [p for p in folder.iterdir() if p.name.lower() == candidate.name.lower() and p.is_file()]
        if same:
            return str(same[0].resolve())
    raise SongError(f"{where}: the song's audio file {value!r} is not in {path.parent}: put it there, or remove "
                    "that line to play the notes with a rendered backing")
