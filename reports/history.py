"""The players' history: every session's date, player, song, difficulty, score and key timing figures in one SQLite
file (history.sqlite in the data folder), so the scorecard can show the player's personal best and trend, and
`python main.py history` can list them.

A personal best is per player, song and difficulty, and only a session that played the whole song counts for it and
for the trend: one stopped early (--duration, q, Ctrl-C) is scored against the whole song, its later notes missed,
so it is recorded and listed with how much it played, but it neither sets a best nor drags the trend down.

A row is keyed by its session folder, so rebuilding a session's reports replaces its row instead of adding one.
Rows only point at their folders: a folder the player deleted leaves its row (shown as "(deleted)").
A song is identified by its title (the session's "song"): moving the checkout or the song file keeps its history.
"""
from __future__ import annotations

import sqlite3
import unicodedata
from contextlib import closing
from datetime import datetime
from pathlib import Path

from game.settings import data_path

FILE_NAME = "history.sqlite"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0      # two sessions ending at once: the second waits for the first's write, it does not fail
RECENT = 10                # sessions of the song returned for the scorecard's trend

# version -> the statements that bring the previous version up to it (a later change adds version 2 here)
MIGRATIONS = {
    1: ["""CREATE TABLE sessions (
            folder TEXT PRIMARY KEY,      -- the session folder, absolute
            started TEXT NOT NULL,        -- session.json "started" (ISO 8601 with offset)
            song TEXT NOT NULL,           -- the song's title: what a personal best is per
            song_path TEXT,
            artist TEXT,
            difficulty TEXT,
            total INTEGER,                -- NULL: nothing to score against (never a best)
            rating TEXT,
            player TEXT,
            octave_fold INTEGER,
            delay TEXT,                   -- as asked: "auto" or milliseconds
            delay_applied_ms REAL,
            latency_ms_p50 REAL,          -- motion-to-sound latency
            latency_ms_p99 REAL,
            fps REAL,                     -- vision frames per second
            underflows INTEGER,           -- the speaker streams' underflows (the larger of flag and clock counts)
            dropped_frames INTEGER,
            recorded TEXT NOT NULL        -- when this row was last written
        )""",
        "CREATE INDEX sessions_song ON sessions (song, difficulty, total)"],
    2: ["ALTER TABLE sessions ADD COLUMN played_s REAL",    # song seconds played (session.json duration_s)
        "ALTER TABLE sessions ADD COLUMN song_s REAL"],     # the song's length: less played is partial
}
END_SLACK_S = 0.05       # played this close to the song's length: the whole song
# a row played the whole song (older rows, which did not say, count as whole)
WHOLE = f"(played_s IS NULL OR song_s IS NULL OR played_s >= song_s - {END_SLACK_S})"
COLUMNS = ("folder", "started", "song", "song_path", "artist", "difficulty", "total", "rating", "player",
           "octave_fold", "delay", "delay_applied_ms", "latency_ms_p50", "latency_ms_p99", "fps", "underflows",
           "dropped_frames", "recorded", "played_s", "song_s")


class HistoryError(RuntimeError):
    """The history file cannot be used; the message names the file and what to do."""


def history_file(settings) -> Path:
    return (data_path(settings) / FILE_NAME).absolute()


def record_session(settings, session_dir, session: dict, score: dict | None, stats: dict | None,
                   song_s: float | None = None) -> dict:
    """Write (or replace) this session's row and return what the scorecard shows about the song:
    {"best": the player's best whole play of the song at this difficulty before this session (or None),
     "recent": the player's last RECENT whole plays of the song up to this one, and this one, oldest first,
     "is_best": bool, "partial": this session stopped before the song's end (song_s: the song's length)}."""
    path = history_file(settings)
    row = session_row(settings, session_dir, session, score, stats, song_s)
    with _open(path, create=True) as db:
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"INSERT OR REPLACE INTO sessions ({', '.join(COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(COLUMNS))})", [row[c] for c in COLUMNS])
            db.execute("COMMIT")
            # "before this one" is by the session's date, so rebuilding an old session shows what it was up against
            order = "(started < :started OR (started = :started AND folder < :folder))"
            mine = "song = :song AND fold(player) = fold(:player)"
            best = db.execute(f"SELECT * FROM sessions WHERE {mine} AND difficulty = :difficulty "
                              f"AND total IS NOT NULL AND {WHOLE} AND {order} ORDER BY total DESC, started, folder "
                              "LIMIT 1", row).fetchone()
            recent = db.execute(f"SELECT * FROM (SELECT * FROM sessions WHERE {mine} AND "
                                f"(({order} AND {WHOLE}) OR folder = :folder) ORDER BY started DESC, folder DESC "
                                f"LIMIT {RECENT}) ORDER BY started, folder", row).fetchall()
        except sqlite3.Error as e:
            raise _error(path, e) from e
    best = _as_dict(best) if best else None
    partial = not is_whole(row)
    is_best = row["total"] is not None and not partial and (best is None or row["total"] > best["total"])
    return {"best": best, "recent": [_as_dict(r) for r in recent], "is_best": is_best, "partial": partial}


def is_whole(row: dict) -> bool:
    """The session played the whole song (as WHOLE says in SQL)."""
    played, length = row.get("played_s"), row.get("song_s")
    return played is None or length is None or played >= length - END_SLACK_S


def session_row(settings, session_dir, session: dict, score: dict | None, stats: dict | None,
                song_s: float | None = None) -> dict:
    """The row for one session, from session.json, score.json and stats.json (any of which may be missing), and the
    song's length when known."""
    session = session if isinstance(session, dict) else {}
    score = score if isinstance(score, dict) else None
    summary = (stats or {}).get("summary") if isinstance(stats, dict) else None
    summary = summary if isinstance(summary, dict) else {}
    folder = Path(session_dir).expanduser().resolve()
    song_path = session.get("song_path")
    song = session.get("song") or (score or {}).get("song") or (Path(str(song_path)).stem if song_path else "")
    delay = (score or {}).get("delay")
    fold = (score or {}).get("octave_fold", session.get("octave_fold"))
    underflows = [summary.get(k) for k in ("underflows_flag", "underflows_clock")
                  if isinstance(summary.get(k), (int, float))]
    total = (score or {}).get("total")
    return {
        "folder": str(folder),
        "started": str(session.get("started") or _folder_time(folder)),
        "song": str(song or "(no song)"),
        "song_path": None if song_path is None else str(song_path),
        "artist": session.get("artist") or (score or {}).get("artist"),
        "difficulty": str((score or {}).get("difficulty") or session.get("difficulty") or settings.difficulty),
        "total": int(round(total)) if isinstance(total, (int, float)) else None,
        "rating": (score or {}).get("rating") if total is not None else None,
        "player": unicodedata.normalize("NFC", str((score or {}).get("player") or session.get("player")
                                                   or settings.player).strip()),
        "octave_fold": None if fold is None else int(bool(fold)),
        "delay": str(session.get("delay") if session.get("delay") is not None else settings.delay),
        "delay_applied_ms": _number(delay.get("applied_ms")) if isinstance(delay, dict) else None,
        "latency_ms_p50": _number(summary.get("latency_ms_p50")),
        "latency_ms_p99": _number(summary.get("latency_ms_p99")),
        "fps": _number(summary.get("fps")),
        "underflows": int(max(underflows)) if underflows else None,
        "dropped_frames": _number(summary.get("dropped_frames"), int),
        "recorded": datetime.now().astimezone().isoformat(timespec="seconds"),
        "played_s": _number(session.get("duration_s")),
        "song_s": _number(song_s),
    }


def load_rows(settings) -> list[dict]:
    """Every recorded session, oldest first, each with "best" (the song's best at its difficulty) and "deleted"
    (its folder is gone). No history file yet: an empty list (nothing is created)."""
    path = history_file(settings)
    if not path.exists():
        return []
    with _open(path, create=False) as db:
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sessions'").fetchone():
                return []
            rows = [_as_dict(r) for r in db.execute("SELECT * FROM sessions ORDER BY started, folder")]
        except sqlite3.Error as e:
            raise _error(path, e) from e
    best: dict[tuple, dict] = {}
    for r in rows:   # the first whole play to reach the highest total holds the player's best
        key = (fold(r["player"]), r["song"], r["difficulty"])
        if r["total"] is not None and is_whole(r) and (key not in best or r["total"] > best[key]["total"]):
            best[key] = r
    for r in rows:
        r["best"] = best.get((fold(r["player"]), r["song"], r["difficulty"])) is r
        r["deleted"] = not Path(r["folder"]).is_dir()
    return rows


def played(row: dict) -> str:
    """The history's 'played' cell: 'whole song', or how much of it a session stopped early played."""
    if is_whole(row):
        return "whole song"
    played_s, song_s = row["played_s"], row["song_s"]
    digits = 0 if round(played_s) != round(song_s) else 1      # 38.9 of 39.1 s, not '39 of 39 s'
    return f"{played_s:.{digits}f} of {song_s:.{digits}f} s"


def matches(row: dict, name: str) -> bool:
    """--song NAME: part of the song's title or of its file's path, any case."""
    needle = name.casefold()
    return any(needle in str(row.get(k) or "").casefold() for k in ("song", "song_path"))


def fold(name) -> str:
    """A player's name as bests and --player compare it: any case, any spacing around it, any Unicode form."""
    return unicodedata.normalize("NFC", str(name or "").strip()).casefold()


def is_player(row: dict, name: str) -> bool:
    """--player NAME: the player's name, as fold compares it."""
    return fold(row.get("player")) == fold(name)


HEADER = ("date", "player", "song", "difficulty", "played", "score", "rating", "latency p50", "fps", "folder")


def table(rows: list[dict]) -> list[str]:
    """The history as aligned text lines (header first); * marks a personal best."""
    cells = [HEADER] + [(_date(r["started"]), r["player"] or "-", r["song"], r["difficulty"] or "-", played(r),
                         ("*" if r["best"] else "") + ("-" if r["total"] is None else str(r["total"])),
                         r["rating"] or "-", "-" if r["latency_ms_p50"] is None else f"{r['latency_ms_p50']:.1f} ms",
                         "-" if r["fps"] is None else f"{r['fps']:.1f}",
                         "(deleted)" if r["deleted"] else r["folder"]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    right = {5, 7, 8}   # numbers line up on the right
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
            for line in cells]


def run_command(args, settings) -> int:
    """`python main.py history [--song NAME]`: the table, newest last; exit 1 when the history cannot be read."""
    import sys
    try:
        rows = load_rows(settings)
    except HistoryError as e:
        print(f"handtone: {e}", file=sys.stderr)
        return 1
    if not rows:
        print(f"no sessions recorded yet (in {history_file(settings)}): play one with `python main.py demo` "
              "or `python main.py play`, and it appears here")
        return 0
    player = getattr(args, "player", None)
    if player:
        mine = [r for r in rows if is_player(r, player)]
        if not mine:
            first: dict[str, str] = {}      # each player once, as they first wrote their name
            for r in rows:
                if r["player"]:
                    first.setdefault(fold(r["player"]), str(r["player"]))
            names = sorted(first.values())
            print(f"no sessions of a player named {player!r}; the history has: {', '.join(names)}")
            return 0
        rows = mine
    name = getattr(args, "song", None)
    shown = [r for r in rows if matches(r, name)] if name else rows
    if not shown:
        songs = sorted({r["song"] for r in rows})
        print(f"no sessions of a song matching {name!r}; the history has: {', '.join(songs)}")
        return 0
    for line in table(shown):
        print(line)
    print(f"* the player's personal best for the song at that difficulty (whole plays of the song only); "
          f"{len(shown)} session(s) in {history_file(settings)}")
    return 0


class _open:
    """A connection to the history file (created, with its folder and tables, when `create`), closed on exit."""

    def __init__(self, path: Path, create: bool):
        self.path, self.create = path, create

    def __enter__(self) -> sqlite3.Connection:
        path = self.path
        try:
            if self.create:
                path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode (isolation_level=None): transactions are explicit, writers take the lock up front
            uri = path.as_uri() + ("" if self.create else "?mode=rw")   # rw: never creates; can undo a crashed writer
            self.db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise _error(path, e) from e
        try:
            self.db.row_factory = sqlite3.Row
            self.db.create_function("fold", 1, fold, deterministic=True)
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _migrate(self.db, path, write=self.create)
        except sqlite3.Error as e:
            self.db.close()
            raise _error(path, e) from e
        except HistoryError:
            self.db.close()
            raise
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.close()


def _migrate(db: sqlite3.Connection, path: Path, write: bool) -> None:
    """Bring the file's schema (PRAGMA user_version) up to SCHEMA_VERSION; refuse a newer one."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise HistoryError(f"the history {path} was written by a newer handtone (schema {version}, this one knows "
                           f"{SCHEMA_VERSION}): update handtone, or use another --data-dir")
    if version == SCHEMA_VERSION:
        return
    if not write:
        if version == 0 and db.execute("SELECT 1 FROM sqlite_master").fetchone():
            raise HistoryError(f"{path} is not a handtone history (it holds other tables): move it away or use "
                               "another --data-dir")
        # empty (no sessions yet), or an older handtone's history read as it is (rows without the later columns
        # count as whole plays): listing never writes, so a read-only file or an older checkout still works
        return
    db.execute("BEGIN IMMEDIATE")   # two first sessions at once: one creates the tables, the other sees them
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and db.execute("SELECT 1 FROM sqlite_master").fetchone():
            raise HistoryError(f"{path} is not a handtone history (it holds other tables): move it away or use "
                               "another --data-dir")
        for v in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[v]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _error(path: Path, e: Exception) -> HistoryError:
    return HistoryError(f"the history {path} cannot be used ({e}): move the file away (the next session starts a "
                        "new history) or use another --data-dir")


def _as_dict(row: sqlite3.Row) -> dict:
    return {k: row[k] for k in row.keys()}


def _number(value, kind=float):
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _folder_time(folder: Path) -> str:
    try:
        return datetime.fromtimestamp(folder.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    except OSError:
        return datetime.now().astimezone().isoformat(timespec="seconds")


def _date(started: str) -> str:
    try:
        return datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(started)
