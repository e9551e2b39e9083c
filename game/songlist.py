"""`python main.py songs`: the songs a player can pick (bundled and in their song folder), and `songs show`: one
song's notes as CSV, so a player can check an import before playing it.

`songs show` prints the notes the session would play: the same settings as `play` (--tempo, --voice, --track,
--transpose, and HANDTONE_* from the environment or .env), with the transpose added to the MIDI pitches, as the lane,
the backing and the score add it.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from game import song as song_mod
from game.song import Song, SongError, note_name

FORMAT_NAMES = {"toml": "handtone", "ultrastar": "UltraStar", "midi": "MIDI"}
CSV_COLUMNS = ("start_s", "duration_s", "midi", "kind", "line", "lyric")


@dataclass(frozen=True)
class Entry:
    name: str            # what --song takes
    path: Path
    song: Song | None    # None when the file cannot be read
    problem: str = ""    # why not (SongError's message), or why the name does not reach it


def entries(folder: Path, recursive: bool) -> list[Entry]:
    """Every song file in the folder, read (default voice and track), or with the reason it cannot be."""
    found = []
    for path in song_mod.song_files(folder, recursive):
        try:
            found.append(Entry(path.stem, path, song_mod.load(str(path))))
        except SongError as e:
            found.append(Entry(path.stem, path, None, str(e)))
    return found


def format_of(entry: Entry) -> str:
    kind = song_mod.FORMATS.get(entry.path.suffix.lower(), "?")
    label = FORMAT_NAMES.get(kind, kind)
    if kind == "ultrastar" and entry.song is not None and entry.song.accompaniment:
        label += " duet"
    return label


def _length(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _table(rows: list[Entry]) -> list[str]:
    head = ("name", "title", "artist", "notes", "range", "length", "format")
    cells = [head]
    for e in rows:
        s = e.song
        cells.append((e.name, _cut(s.title, 32), _cut(s.artist, 24), str(len(s.notes)),
                      f"{note_name(s.lowest)}..{note_name(s.highest)}", _length(s.duration), format_of(e)))
    widths = [max(len(row[k]) for row in cells) for k in range(len(head))]
    return ["  " + "  ".join(c.rjust(w) if k == 3 else c.ljust(w) for k, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def listing(songs_dir: str = "") -> str:
    """The text `python main.py songs` prints."""
    bundled = entries(song_mod.SONG_DIR, recursive=False)
    user_dir = song_mod.user_songs_dir(songs_dir)
    mine = entries(user_dir, recursive=True)
    taken = {e.name for e in bundled}
    out = [f"bundled songs ({song_mod.SONG_DIR}):"]
    out += _table([e for e in bundled if e.song is not None])
    readable = [e for e in mine if e.song is not None]
    out.append("")
    out.append(f"your songs ({user_dir}):")
    if readable:
        out += _table(readable)
    else:
        out.append("  none that can be played (see below)" if mine else
                   f"  none yet{'' if user_dir.is_dir() else ' (the folder does not exist yet)'}: put UltraStar "
                   ".txt songs (each with its audio file), MIDI files (.mid, .kar) or song .toml files there "
                   "(sub-folders too)")
    seen: set[str] = set()
    notes = []
    for e in readable:
        if e.name in taken or e.name in seen:
            notes.append(f"  {e.name}: another song has this name, so --song {e.name} plays that one; give the path: "
                         f"--song '{e.path}'")
        seen.add(e.name)
    problems = [e for e in bundled + mine if e.song is None]
    if notes:
        out += ["", "names taken twice:", *notes]
    if problems:
        out += ["", "files that cannot be played:", *(f"  {e.problem}" for e in problems)]
    out += ["", "play one: python main.py play --song NAME (or a file's path); see its notes: "
            "python main.py songs show NAME"]
    return "\n".join(out)


def write_csv(song: Song, transpose: int = 0, out=None) -> None:
    """The song's notes as CSV (start_s, duration_s, midi, kind, line, lyric), the transpose added to midi."""
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n in song.notes:
        writer.writerow((f"{n.start:.3f}", f"{n.duration:.3f}", n.midi + transpose, n.kind, n.line, n.lyric))


def run_command(args) -> int:
    """`python main.py songs [show PATH|NAME]` (game/cli.py's songs block): 0, or 2 with a one-line reason."""
    from game import settings as settings_mod
    cli = {"songs_dir": getattr(args, "songs_dir", None)}
    show = getattr(args, "songs_command", None) == "show"
    if show:
        cli |= {"song": args.song, "tempo": args.tempo, "voice": args.voice, "track": args.track,
                "transpose": args.transpose}
    try:
        settings = settings_mod.build(cli)
        if show:
            write_csv(song_mod.load_for(settings), settings.transpose)
        else:
            print(listing(settings.songs_dir))
        sys.stdout.flush()
    except (settings_mod.SettingsError, SongError) as e:
        print(f"handtone: error: {e}", file=sys.stderr, flush=True)
        return 2
    except BrokenPipeError:            # `songs show x | head`: the reader left, which is fine
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
