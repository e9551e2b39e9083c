"""The history (reports/history.py): rows per session in a tmp data folder, personal bests per player, song and
difficulty from whole plays of the song only, a rebuilt session replacing its row, deleted folders, --song and
--player, an older history brought up to date, a corrupt file, two processes writing at once, and two real demo
sessions listed by `python main.py history`."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from argparse import Namespace
from contextlib import closing
from pathlib import Path

import pytest

import sessionkit as kit
from conftest import ROOT, run_app
from game.settings import Settings
from reports import history
from reports.build import build_reports

STATS = {"summary": {"fps": 29.5, "latency_ms_p50": 13.9, "latency_ms_p99": 20.5, "underflows_flag": 1,
                     "underflows_clock": 3, "dropped_frames": 2}}


def settings_in(data: Path, **kw) -> Settings:
    return Settings(data_dir=str(data), **kw)


def session(song="Ode to Joy", started="2026-03-01T10:00:00+00:00", difficulty="medium", **kw) -> dict:
    return {"song": song, "song_path": f"/songs/{song.lower().replace(' ', '_')}.toml", "artist": "Someone",
            "player": "Zoë", "difficulty": difficulty, "started": started, "octave_fold": False, "delay": "auto"} | kw


def score(total, difficulty="medium", rating="Amateur") -> dict:
    return {"total": total, "rating": rating, "difficulty": difficulty, "octave_fold": True,
            "delay": {"estimated_ms": 180.0, "applied_ms": 180.0, "mode": "auto"}}


SONG_S = 39.0


def record(settings, folder: Path, started: str, total, song="Ode to Joy", difficulty="medium", player="Zoë",
           played_s=SONG_S) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    sc = None if total is None else score(total, difficulty)
    return history.record_session(settings, folder, session(song, started, difficulty, player=player,
                                                            duration_s=played_s), sc, STATS, song_s=SONG_S)


def day(n: int) -> str:
    return f"2026-03-{n:02d}T10:00:00+00:00"


def run(settings, song=None, capsys=None, player=None):
    code = history.run_command(Namespace(command="history", song=song, player=player, data_dir=settings.data_dir),
                               settings)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_session_row_holds_date_song_score_and_timing(tmp_path):
    s = settings_in(tmp_path / "data" / "deeper")   # the folder is created
    folder = tmp_path / "sessions" / "one"
    result = record(s, folder, day(1), 4321)
    assert (tmp_path / "data" / "deeper" / "history.sqlite").is_file()
    assert result["best"] is None and result["is_best"] is True
    [row] = result["recent"]
    assert row["folder"] == str(folder.resolve())
    assert row["started"] == day(1) and row["song"] == "Ode to Joy" and row["song_path"] == "/songs/ode_to_joy.toml"
    assert (row["difficulty"], row["total"], row["rating"], row["player"]) == ("medium", 4321, "Amateur", "Zoë")
    assert (row["latency_ms_p50"], row["latency_ms_p99"], row["fps"]) == (13.9, 20.5, 29.5)
    assert row["underflows"] == 3 and row["dropped_frames"] == 2
    assert (row["octave_fold"], row["delay"], row["delay_applied_ms"]) == (1, "auto", 180.0)
    with sqlite3.connect(tmp_path / "data" / "deeper" / "history.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == history.SCHEMA_VERSION


def test_personal_best_per_song_and_difficulty(tmp_path):
    s = settings_in(tmp_path / "data")
    sessions = tmp_path / "sessions"
    assert record(s, sessions / "a", day(1), 5000)["is_best"]
    r = record(s, sessions / "b", day(2), 4000)
    assert r["best"]["total"] == 5000 and r["best"]["folder"].endswith("/a") and not r["is_best"]
    r = record(s, sessions / "c", day(3), 6000)
    assert r["best"]["total"] == 5000 and r["is_best"]
    r = record(s, sessions / "d", day(4), 6000)          # equalling the best is not a new one
    assert r["best"]["total"] == 6000 and r["best"]["folder"].endswith("/c") and not r["is_best"]
    # another difficulty and another song have their own bests
    r = record(s, sessions / "e", day(5), 1000, difficulty="hard")
    assert r["best"] is None and r["is_best"]
    r = record(s, sessions / "f", day(6), 900, song="Twinkle")
    assert r["best"] is None and r["is_best"] and [x["song"] for x in r["recent"]] == ["Twinkle"]
    # recent: the song's sessions at any difficulty, oldest first, ending with this one
    r = record(s, sessions / "g", day(7), 100)
    assert [x["total"] for x in r["recent"]] == [5000, 4000, 6000, 6000, 1000, 100]
    rows = history.load_rows(s)
    assert [(Path(x["folder"]).name, x["best"]) for x in rows] == [
        ("a", False), ("b", False), ("c", True), ("d", False), ("e", True), ("f", True), ("g", False)]


def test_recent_is_the_last_ten_up_to_this_session(tmp_path):
    s = settings_in(tmp_path / "data")
    for n in range(1, 15):
        r = record(s, tmp_path / f"s{n:02d}", day(n), n * 100)
    assert [x["total"] for x in r["recent"]] == [n * 100 for n in range(5, 15)]
    # an older session rebuilt: its best and trend are what came before it, not what came later
    r = record(s, tmp_path / "s03", day(3), 300)
    assert [x["total"] for x in r["recent"]] == [100, 200, 300]
    assert r["best"]["total"] == 200 and r["is_best"]


def test_a_session_without_a_score_is_recorded_but_never_a_best(tmp_path, capsys):
    s = settings_in(tmp_path / "data")
    r = record(s, tmp_path / "a", day(1), None)
    assert r["best"] is None and r["is_best"] is False and r["recent"][0]["total"] is None
    assert r["recent"][0]["rating"] is None
    r = record(s, tmp_path / "b", day(2), 10)
    assert r["best"] is None and r["is_best"]
    code, out, _ = run(s, capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    assert "*" not in lines[1] and " - " in lines[1] and "*10" in lines[2]


def test_rebuilding_a_session_replaces_its_row(tmp_path):
    s = settings_in(tmp_path / "data")
    record(s, tmp_path / "a", day(1), 3000)
    record(s, tmp_path / "b", day(2), 2000)
    r = record(s, tmp_path / "b", day(2), 8000)                  # python main.py report with a new score
    assert r["best"]["total"] == 3000 and r["is_best"]
    assert [x["total"] for x in r["recent"]] == [3000, 8000]
    r = record(s, tmp_path / "b", day(2), 7000, difficulty="easy")   # rebuilt at another difficulty
    assert r["best"] is None
    rows = history.load_rows(s)
    assert [(x["total"], x["difficulty"], x["best"]) for x in rows] == [(3000, "medium", True), (7000, "easy", True)]
    # the same folder named another way is the same session
    record(s, tmp_path / "x" / ".." / "a", day(1), 3100)
    assert [x["total"] for x in history.load_rows(s)] == [3100, 7000]


def test_table_marks_bests_and_deleted_folders(tmp_path, capsys):
    s = settings_in(tmp_path / "data")
    record(s, tmp_path / "a", day(1), 5000)
    record(s, tmp_path / "b", day(2), 7000)
    record(s, tmp_path / "c", day(3), 6000, song="Twinkle")
    (tmp_path / "b").rmdir()                                  # the player deleted the best session's folder
    code, out, err = run(s, capsys=capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["date", "player", "song", "difficulty", "played", "score", "rating", "latency", "p50",
                                "fps", "folder"]
    assert "2026-03-01 10:00" in lines[1] and "Ode to Joy" in lines[1] and str(tmp_path / "a") in lines[1]
    assert " Zoë " in lines[1] and " whole song " in lines[1]
    assert " 5000 " in lines[1] and "13.9 ms" in lines[1] and "29.5" in lines[1]
    assert "*7000" in lines[2] and lines[2].endswith("(deleted)")
    assert "Twinkle" in lines[3] and "*6000" in lines[3]
    assert "3 session(s)" in lines[4]
    assert len(history.load_rows(s)) == 3                    # the rows stay


def test_song_filter_is_part_of_the_name_any_case(tmp_path, capsys):
    s = settings_in(tmp_path / "data")
    record(s, tmp_path / "a", day(1), 5000)
    record(s, tmp_path / "b", day(2), 6000, song="Twinkle")
    record(s, tmp_path / "c", day(3), 7000, song="Frère Jacques")
    code, out, _ = run(s, song="tWiN", capsys=capsys)
    assert code == 0 and "Twinkle" in out and "Ode" not in out and "Fr" not in out
    code, out, _ = run(s, song="FRÈRE", capsys=capsys)
    assert code == 0 and "Frère Jacques" in out and "Twinkle" not in out
    code, out, _ = run(s, song="ode_to", capsys=capsys)     # the song file's name works too
    assert code == 0 and "Ode to Joy" in out and "1 session(s)" in out
    code, out, _ = run(s, song="yesterday", capsys=capsys)
    assert code == 0 and "no sessions of a song matching 'yesterday'" in out and "Twinkle" in out


def test_empty_history_says_how_to_make_one(tmp_path, capsys):
    s = settings_in(tmp_path / "data")
    code, out, err = run(s, capsys=capsys)
    assert code == 0 and err == ""
    assert out.startswith("no sessions recorded yet") and "python main.py demo" in out
    assert not (tmp_path / "data").exists()                   # reading creates nothing


def test_corrupt_file_is_one_clear_line(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.sqlite").write_bytes(b"this is not an SQLite database, it was overwritten " * 100)
    s = settings_in(data)
    with pytest.raises(history.HistoryError) as e:
        record(s, tmp_path / "a", day(1), 100)
    assert str(data / "history.sqlite") in str(e.value) and "move the file away" in str(e.value)
    code, out, err = run(s, capsys=capsys)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(data / "history.sqlite") in err and "move the file" in err


def test_corrupt_history_is_a_warning_in_the_reports(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.sqlite").write_bytes(b"\0garbage" * 512)
    d = tmp_path / "session"
    song = kit.full_session(d)
    summary = build_reports(d, kit.settings().replace(data_dir=str(data)), song, send_email=False)
    [warning] = [w for w in summary.warnings if w.startswith("history failed")]
    assert "HistoryError" in warning and str(data / "history.sqlite") in warning
    assert (d / "stats.json").is_file()                        # the other reports are still written


def test_newer_or_foreign_database_is_refused(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "history.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    s = settings_in(data)
    with pytest.raises(history.HistoryError, match="newer handtone"):
        record(s, tmp_path / "a", day(1), 100)
    code, _, err = run(s, capsys=capsys)
    assert code == 1 and "newer handtone" in err
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(other / "history.sqlite") as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(history.HistoryError, match="not a handtone history"):
        record(settings_in(other), tmp_path / "a", day(1), 100)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from game.settings import Settings
    from reports import history
    data, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    s = Settings(data_dir=data)
    while not go.exists():
        time.sleep(0.001)
    for i in range(40):
        folder = Path(data).parent / f"{{name}}-{{i:02d}}"
        folder.mkdir(exist_ok=True)
        session = {{"song": "Ode to Joy", "started": f"2026-03-01T10:{{i:02d}}:00+00:00", "difficulty": "medium"}}
        history.record_session(s, folder, session, {{"total": i, "rating": "x", "difficulty": "medium"}}, None)
""")


def test_two_processes_recording_at_once(tmp_path):
    """Two sessions ending together both create the file (it does not exist yet) and write, neither fails."""
    data, go = tmp_path / "data", tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    procs = [subprocess.Popen([sys.executable, str(script), str(data), name, str(go)], stderr=subprocess.PIPE,
                              text=True) for name in ("p", "q")]
    time.sleep(1.0)   # both imported and waiting
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    rows = history.load_rows(settings_in(data))
    assert len(rows) == 80
    assert sorted(Path(r["folder"]).name for r in rows) == sorted(f"{n}-{i:02d}" for n in "pq" for i in range(40))
    assert sum(r["best"] for r in rows) == 1 and max(rows, key=lambda r: r["total"])["total"] == 39


def test_two_demo_sessions_then_history(tmp_path, no_audio_env):
    """Real sessions record themselves; `python main.py history` lists both, the better one marked."""
    data, out = tmp_path / "data", tmp_path / "sessions"
    for _ in range(2):
        proc = run_app("demo", "--no-window", "--duration", "5", "--out", out, "--data-dir", data, env=no_audio_env,
                       timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "history failed" not in proc.stdout + proc.stderr
        time.sleep(1.0)   # session folders are named by the second they start
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2
    proc = run_app("history", "--data-dir", data, env=no_audio_env, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("date") and len(lines) == 4, proc.stdout
    for line, folder in zip(lines[1:3], folders):
        assert "Ode to Joy" in line and " medium " in line and line.endswith(str(folder.resolve()))
    rows = history.load_rows(settings_in(data))
    assert [r["folder"] for r in rows] == [str(f.resolve()) for f in folders]
    # 5 s of the song: listed with what they played, never a personal best
    assert all(" 5 of 39 s " in line for line in lines[1:3]) and not any("*" in line for line in lines[1:3])
    assert all(r["played_s"] == 5.0 and r["song_s"] > 38 and not r["best"] for r in rows)
    assert all(r["fps"] is not None and r["fps"] > 0 for r in rows)


def test_a_personal_best_is_the_players_own(tmp_path, capsys):
    s = settings_in(tmp_path / "data")
    record(s, tmp_path / "a", day(1), 9000, player="Ann")
    r = record(s, tmp_path / "b", day(2), 4000, player="Ben")
    assert r["best"] is None and r["is_best"] and [x["player"] for x in r["recent"]] == ["Ben"]
    r = record(s, tmp_path / "c", day(3), 5000, player=" ben ")       # the same player, typed another way
    assert r["best"]["total"] == 4000 and r["is_best"] and [x["total"] for x in r["recent"]] == [4000, 5000]
    assert [(x["player"], x["best"]) for x in history.load_rows(s)] == [("Ann", True), ("Ben", False),
                                                                         ("ben", True)]
    code, out, _ = run(s, capsys=capsys, player="ben")
    assert code == 0 and "Ann" not in out and "*5000" in out and "2 session(s)" in out
    code, out, _ = run(s, capsys=capsys, player="Cy")
    assert code == 0 and "no sessions of a player named 'Cy'; the history has: Ann, Ben" in out


def test_a_session_stopped_early_counts_for_neither_best_nor_trend(tmp_path, capsys):
    s = settings_in(tmp_path / "data")
    r = record(s, tmp_path / "a", day(1), 900, played_s=6.0)
    assert r["partial"] and not r["is_best"] and r["best"] is None and [x["total"] for x in r["recent"]] == [900]
    r = record(s, tmp_path / "b", day(2), 5000)
    assert not r["partial"] and r["is_best"] and r["best"] is None, "the partial one was no best to beat"
    assert [x["total"] for x in r["recent"]] == [5000], "nor part of the trend"
    r = record(s, tmp_path / "c", day(3), 7000, played_s=30.0)   # higher, but only 30 s of the song
    assert r["partial"] and not r["is_best"] and r["best"]["total"] == 5000
    assert [x["total"] for x in r["recent"]] == [5000, 7000], "the session itself is still shown"
    r = record(s, tmp_path / "d", day(4), 6000, played_s=SONG_S - 0.01)
    assert not r["partial"] and r["is_best"]
    assert history.played({"played_s": 38.6, "song_s": SONG_S}) == "38.6 of 39.0 s"
    code, out, _ = run(s, capsys=capsys)
    lines = out.splitlines()
    assert " 6 of 39 s " in lines[1] and " whole song " in lines[2] and " 30 of 39 s " in lines[3]
    assert "*" not in lines[3] and "*6000" in lines[4]


def test_an_older_history_is_read_as_it_is_and_brought_up_to_date_by_the_next_session(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    with closing(sqlite3.connect(data / "history.sqlite")) as db, db:
        for statement in history.MIGRATIONS[1]:
            db.execute(statement)
        db.execute("INSERT INTO sessions (folder, started, song, difficulty, total, player, recorded) "
                   "VALUES ('/gone', ?, 'Ode to Joy', 'medium', 4000, 'Zoë', ?)", (day(1), day(1)))
        db.execute("PRAGMA user_version = 1")
    s = settings_in(data)
    code, out, err = run(s, capsys=capsys)          # listing never writes (a read-only file still lists)
    assert code == 0 and err == "" and "*4000" in out and " whole song " in out
    with closing(sqlite3.connect(data / "history.sqlite")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1, "an older handtone can still read it"
    r = record(s, tmp_path / "b", day(2), 3000)
    assert r["best"]["total"] == 4000 and not r["is_best"]
    with closing(sqlite3.connect(data / "history.sqlite")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
