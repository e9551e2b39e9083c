"""MIDI songs (.mid, .midi, .kar) read with mido: one track is the melody to play, the others the accompaniment.

The melody track:
- `track` given (settings.track, --track): a number is the track's index in the file (0 is the first, as MIDI
  editors list them), anything else a part of its name (case ignored; the first track whose name holds it).
- otherwise the highest one-note-at-a-time line. The parts considered are each track's notes on each channel
  (channel 10, drums, never), with at least 4 notes and a tenth of the busiest part's count (so a lone effect note
  cannot win). A part is one-note-at-a-time when at most 10% of its notes begin while an earlier note of the part
  still sounds for more than 50 ms and a quarter of that note (legato overlaps are not chords). Of those, the one
  with the highest mean pitch is the melody, as a tune usually sits above its accompaniment; when no part is one
  note at a time, the least polyphonic one (then the highest) is taken.
The chosen notes are made one note at a time: of notes starting together the highest is kept, and a note still
sounding when the next begins is cut there. The other parts' notes (and those left out) are the accompaniment,
except the drums (channel 10).

Times come from a tempo map of every set_tempo event (any track, as type 1 files may put them anywhere), so tempo
changes are honoured; SMPTE time division is read too. Type 2 files (independent sequences) are refused.
Lyrics: lyrics meta events (in .kar files, text events that do not begin with '@') on the melody track, else on any
track, each given to the melody note starting nearest to it (within a 32nd note). Their line marks ('/' or '\\' at the
start, a CR/LF at the end) end the song's lines; without them a rest of a beat or more, or 16 beats since the line
began, starts a new line.
"""
from __future__ import annotations

import bisect
import io
from dataclasses import dataclass
from pathlib import Path

from game.lyrics import marked
from game.song import Note, Song, SongError, check_times

DRUMS = 9                 # channel 10, counted from 0
DEFAULT_TEMPO = 500000    # microseconds per quarter note (120 bpm) until the first set_tempo
OVERLAP_S = 0.05


@dataclass(frozen=True)
class _Raw:
    start: int            # ticks
    end: int
    pitch: int
    channel: int
    track: int


class TempoMap:
    """Ticks -> seconds through every tempo change (microseconds per quarter note from a tick on)."""

    def __init__(self, ticks_per_beat: int, changes: list[tuple[int, int]], where: str):
        self.smpte = None
        division = ticks_per_beat & 0xFFFF        # mido reads the header's division as a signed number
        if division & 0x8000:                     # SMPTE: -frames per second in the high byte, ticks per frame
            fps, per_frame = 256 - (division >> 8), division & 0xFF
            if per_frame == 0:
                raise SongError(f"{where}: broken SMPTE time division {division:#06x}")
            self.smpte = 1.0 / (fps * per_frame)
        elif ticks_per_beat <= 0:
            raise SongError(f"{where}: the header's ticks per beat is {ticks_per_beat}: not a usable MIDI file")
        self.tpb = ticks_per_beat
        self.ticks, self.seconds_at, self.tempos = [0], [0.0], [DEFAULT_TEMPO]
        for tick, tempo in sorted(changes, key=lambda c: c[0]):
            if tempo <= 0:
                raise SongError(f"{where}: tempo change to {tempo} us per beat at tick {tick}")
            if tick == self.ticks[-1]:
                self.tempos[-1] = tempo
                continue
            self.seconds_at.append(self.seconds(tick))
            self.ticks.append(tick)
            self.tempos.append(tempo)

    def seconds(self, tick: int) -> float:
        if self.smpte is not None:
            return tick * self.smpte
        k = bisect.bisect_right(self.ticks, tick) - 1
        return self.seconds_at[k] + (tick - self.ticks[k]) * self.tempos[k] / 1e6 / self.tpb

    @property
    def beat_ticks(self) -> int:
        """Ticks in a beat (a quarter note; half a second for SMPTE files)."""
        return self.tpb if self.smpte is None else max(1, round(0.5 / self.smpte))

    @property
    def bpm(self) -> float:
        return 60e6 / self.tempos[0] if self.smpte is None else 120.0


def load(path: Path, track: str | None = None) -> Song:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SongError(f"{path}: cannot read song file: {e.strerror or e}") from None
    return parse(data, path, track)


def _read(data: bytes, where: str):
    import mido
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - mido raises many kinds (EOFError, OSError, ValueError, KeyError...)
        why = "it ends too early: cut short while copying?" if isinstance(e, EOFError) else \
            f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise SongError(f"{where}: not a MIDI file that can be read ({why})") from None


def parse(data: bytes, path: Path | str, track: str | None = None) -> Song:
    path = Path(path)
    where = str(path)
    mid = _read(data, where)
    if mid.type == 2:
        raise SongError(f"{where}: a type 2 MIDI file (independent sequences) cannot be played as one song")
    raws: list[_Raw] = []
    tempo_changes: list[tuple[int, int]] = []
    names: list[str] = []
    words: dict[int, list[tuple[int, str]]] = {}     # track -> (tick, text) lyric events
    texts: dict[int, list[tuple[int, str]]] = {}     # track -> (tick, text) text events (.kar lyrics)
    title = ""
    for ti, trk in enumerate(mid.tracks):
        tick, name = 0, ""
        sounding: dict[tuple[int, int], list[int]] = {}
        for msg in trk:
            tick += msg.time
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append(tick)
            elif kind in ("note_off", "note_on"):
                starts = sounding.get((msg.channel, msg.note))
                if starts:
                    raws.append(_Raw(starts.pop(0), tick, msg.note, msg.channel, ti))
            elif kind == "set_tempo":
                tempo_changes.append((tick, msg.tempo))
            elif kind == "track_name" and not name:
                name = _text(msg.name).strip()
            elif kind == "lyrics":
                words.setdefault(ti, []).append((tick, _text(msg.text)))
            elif kind == "text":
                text = _text(msg.text)
                if text.startswith("@T") and not title:
                    title = text[2:].strip()
                elif not text.startswith("@"):
                    texts.setdefault(ti, []).append((tick, text))
        for (channel, pitch), starts in sounding.items():      # never switched off: they end with the track
            raws.extend(_Raw(s, tick, pitch, channel, ti) for s in starts)
        names.append(name)
    tempo = TempoMap(mid.ticks_per_beat, tempo_changes, where)
    raws = [r for r in raws if r.end > r.start and r.channel != DRUMS]
    if not raws:
        raise SongError(f"{where}: no notes outside the drum channel: nothing to play")
    melody_raws = _choose(raws, names, track, tempo, where)
    melody, left_out = _one_at_a_time(melody_raws)
    chosen = set(melody_raws)
    others = [r for r in raws if r not in chosen] + left_out
    lyric_events = _lyric_events(words, texts, melody[0].track, path)
    lines, lyric_of = _lines_and_lyrics(melody, lyric_events, tempo)
    spaced = any(t[:1].isspace() or t[-1:].isspace() for t in lyric_of.values())
    lyrics = marked([lyric_of.get(k, "") for k in range(len(melody))], lines, spaced)
    notes = [Note(round(tempo.seconds(r.start), 6), round(tempo.seconds(r.end) - tempo.seconds(r.start), 6),
                  r.pitch, "normal", lyrics[k], lines[k]) for k, r in enumerate(melody)]
    backing = sorted((Note(round(tempo.seconds(r.start), 6),
                           round(tempo.seconds(r.end) - tempo.seconds(r.start), 6), r.pitch) for r in others),
                     key=lambda n: (n.start, n.midi))
    check_times(notes + backing, where)
    if not title:
        conductor = names[0] if names and not any(r.track == 0 for r in raws) else ""
        title = conductor or path.stem.replace("_", " ")
    return Song(title, "", round(tempo.bpm, 3), tuple(notes), where, "", tuple(backing))


def _text(value: str) -> str:
    """mido decodes meta text as Latin-1; files written today mostly hold UTF-8, so use that when it fits."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _describe(raws: list[_Raw], names: list[str]) -> str:
    counts = {}
    for r in raws:
        counts[r.track] = counts.get(r.track, 0) + 1
    return ", ".join(f"{i} {names[i]!r} ({counts.get(i, 0)} notes)" for i in range(len(names)))


def _choose(raws: list[_Raw], names: list[str], track: str | None, tempo: TempoMap, where: str) -> list[_Raw]:
    """The melody's raw notes: the named or numbered track, else the highest one-note-at-a-time part."""
    if track is not None and str(track).strip():
        wanted = str(track).strip()
        if wanted.isdigit():
            index = int(wanted)
            picked = [r for r in raws if r.track == index]
            if not picked:
                what = "has no notes to play" if index < len(names) else "does not exist"
                raise SongError(f"{where}: track {index} {what}; the tracks: {_describe(raws, names)}")
            return picked
        matching = [i for i, name in enumerate(names) if wanted.lower() in name.lower()
                    and any(r.track == i for r in raws)]
        if not matching:
            raise SongError(f"{where}: no track with notes is named like {wanted!r}; the tracks: "
                            f"{_describe(raws, names)}")
        return [r for r in raws if r.track == matching[0]]
    parts: dict[tuple[int, int], list[_Raw]] = {}
    for r in raws:
        parts.setdefault((r.track, r.channel), []).append(r)
    busiest = max(len(p) for p in parts.values())
    candidates = [p for p in parts.values() if len(p) >= min(busiest, max(4, busiest // 10))]

    def overlap_share(part: list[_Raw]) -> float:
        timed = sorted((tempo.seconds(r.start), tempo.seconds(r.end)) for r in part)
        overlapping, latest_end, latest_len = 0, -1.0, 0.0
        for start, end in timed:
            if latest_end - start > max(OVERLAP_S, 0.25 * latest_len):
                overlapping += 1
            if end > latest_end:
                latest_end, latest_len = end, end - start
        return overlapping / len(timed)

    def mean_pitch(part: list[_Raw]) -> float:
        return sum(r.pitch for r in part) / len(part)

    shares = [(overlap_share(p), p) for p in candidates]
    single = [p for share, p in shares if share <= 0.10]
    if single:
        return max(single, key=mean_pitch)
    return min(shares, key=lambda sp: (sp[0], -mean_pitch(sp[1])))[1]


def _one_at_a_time(raws: list[_Raw]) -> tuple[list[_Raw], list[_Raw]]:
    """(the line, the notes left out): of notes starting together the highest stays; a note still sounding when
    the next begins is cut there."""
    ordered = sorted(raws, key=lambda r: (r.start, -r.pitch))
    line, left_out = [], []
    for r in ordered:
        if line and line[-1].start == r.start:
            left_out.append(r)
            continue
        if line and line[-1].end > r.start:
            p = line[-1]
            line[-1] = _Raw(p.start, r.start, p.pitch, p.channel, p.track)
        line.append(r)
    return line, left_out


def _lyric_events(words, texts, melody_track: int, path: Path) -> list[tuple[int, str]]:
    """The lyric events to use: lyrics on the melody's track, else on any track; .kar text events otherwise."""
    for source in (words, texts if path.suffix.lower() == ".kar" else {}):
        if source:
            events = source.get(melody_track) or [e for trk in sorted(source) for e in source[trk]]
            return sorted(events, key=lambda e: e[0])
    return []


def _lines_and_lyrics(melody: list[_Raw], events: list[tuple[int, str]], tempo: TempoMap):
    """Each melody note's line, and its lyric text (note index -> raw syllable)."""
    beat = tempo.beat_ticks
    starts = [r.start for r in melody]
    lyric_of: dict[int, str] = {}
    breaks_before: set[int] = set()
    for tick, text in events:
        k = bisect.bisect_left(starts, tick - beat // 8)
        if k >= len(melody) or abs(starts[k] - tick) > beat // 8:
            continue
        line_mark = text[:1] in ("/", "\\")
        ends_line = text[-1:] in ("\r", "\n")
        text = text.lstrip("/\\").rstrip("\r\n")
        if line_mark and k > 0:
            breaks_before.add(k)
        if ends_line and k + 1 < len(melody):
            breaks_before.add(k + 1)
        lyric_of[k] = lyric_of.get(k, "") + text
    lines, line, line_start = [], 0, starts[0] if starts else 0
    for k, r in enumerate(melody):
        if k > 0:
            if breaks_before:
                new = k in breaks_before
            else:
                new = r.start - melody[k - 1].end >= beat or r.start - line_start >= 16 * beat
            if new:
                line += 1
                line_start = r.start
        lines.append(line)
    return lines, lyric_of
