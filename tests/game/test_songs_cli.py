"""`python main.py songs` and `songs show`, run as a player would, with a song folder of their own."""
import csv
import io
import os
import shutil

import pytest

from conftest import run_app
from game import song

ROW = (song.SONG_DIR / "row_your_boat.txt").read_text(encoding="utf-8")


def env_for(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDTONE_")}
    env["HANDTONE_ENV_FILE"] = str(tmp_path / "no.env")       # the checkout's .env stays out of it
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env.update(extra)
    return env


@pytest.fixture
def folder(tmp_path):
    """A song folder: an UltraStar song in its own folder with its audio, a MIDI file, and a broken song."""
    mine = tmp_path / "mine"
    (mine / "Someone - Old Tune").mkdir(parents=True)
    (mine / "Someone - Old Tune" / "tune.ogg").write_bytes(b"OggS")
    (mine / "Someone - Old Tune" / "Old Tune.txt").write_text(
        "#TITLE:Old Tune\n#ARTIST:Someone\n#MP3:tune.ogg\n#BPM:100\n#GAP:1500\n: 0 8 0 la \n: 8 8 7 lo \n- 20\n"
        ": 24 8 12 li\nE\n", encoding="utf-8")
    shutil.copy(song.SONG_DIR / "jingle_bells.mid", mine / "bells.mid")
    (mine / "broken.txt").write_text("#TITLE:Broken\n#BPM:100\n: 0 4 0 a\n: 4 four 2 b\n", encoding="utf-8")
    return mine


def test_songs_lists_bundled_and_the_players_songs(tmp_path, folder):
    proc = run_app("songs", env=env_for(tmp_path, HANDTONE_SONGS_DIR=str(folder)))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"bundled songs ({song.SONG_DIR})" in out and f"your songs ({folder})" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    for name in song.available_songs():
        assert name in rows
    assert "Amazing Grace" in rows["amazing_grace"] and "D4..D5" in rows["amazing_grace"]
    assert "UltraStar duet" in rows["row_your_boat"] and "MIDI" in rows["jingle_bells"]
    old = next(line for line in out.splitlines() if "Old Tune" in line)
    assert old.split()[:4] == ["Old", "Tune", "Old", "Tune"] and "Someone" in old
    assert "C4..C5" in old and "UltraStar" in old
    assert " 3 " in old and "0:06" in old                        # 3 notes; ends at 1.5 + 32 * 0.15 s = 6.3 s
    assert "bells" in rows and "G4..D5" in rows["bells"]
    assert "files that cannot be played:" in out
    assert f"{folder / 'broken.txt'}:4: cannot read ': 4 four 2 b'" in out


def test_songs_says_where_it_looks_when_there_are_none(tmp_path):
    proc = run_app("songs", env=env_for(tmp_path))
    assert proc.returncode == 0, proc.stderr
    where = tmp_path / "data" / "handtone" / "songs"
    assert f"your songs ({where}):" in proc.stdout
    assert "none yet (the folder does not exist yet): put UltraStar .txt songs" in proc.stdout
    proc = run_app("songs", "--songs-dir", tmp_path, env=env_for(tmp_path))
    assert f"your songs ({tmp_path}):" in proc.stdout and "none yet: put" in proc.stdout


def read_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["start_s", "duration_s", "midi", "kind", "line", "lyric"]
    return rows[1:]


def test_show_prints_what_would_be_played(tmp_path):
    env = env_for(tmp_path)
    plain = read_csv(run_app("songs", "show", "row_your_boat", env=env, check=True).stdout)
    expected = song.load("row_your_boat")
    assert len(plain) == len(expected.notes)
    assert plain[0] == ["2.000", "0.682", "60", "normal", "0", "Row"]
    assert [r[3] for r in plain].count("golden") == sum(n.kind == "golden" for n in expected.notes)
    played = read_csv(run_app("songs", "show", "row_your_boat", "--voice", "2", "--tempo", "1.25", "--transpose",
                              "-3", env=env, check=True).stdout)
    second = song.load("row_your_boat", voice=2)
    assert [float(r[0]) for r in played] == pytest.approx([n.start / 1.25 for n in second.notes], abs=1e-3)
    assert [int(r[2]) for r in played] == [n.midi - 3 for n in second.notes]
    # the environment counts as for play
    env_tempo = read_csv(run_app("songs", "show", "twinkle", env=env_for(tmp_path, HANDTONE_TEMPO="2")).stdout)
    assert float(env_tempo[0][0]) == pytest.approx(song.load("twinkle").notes[0].start / 2, abs=1e-3)


def test_show_finds_the_players_songs_and_midi_tracks(tmp_path, folder):
    env = env_for(tmp_path, HANDTONE_SONGS_DIR=str(folder))
    rows = read_csv(run_app("songs", "show", "Old Tune", env=env, check=True).stdout)
    assert rows == [["1.500", "1.200", "60", "normal", "0", "la"], ["2.700", "1.200", "67", "normal", "0", "lo"],
                    ["5.100", "1.200", "72", "normal", "1", "li"]]
    bass = read_csv(run_app("songs", "show", "bells", "--track", "2", env=env, check=True).stdout)
    assert len(bass) == 32 and max(int(r[2]) for r in bass) < 55


@pytest.mark.parametrize("args,message", [
    (("songs", "show", "no_such_song"), "handtone: error: no song 'no_such_song': give a song file's path"),
    (("songs", "show", "broken"), "broken.txt:4: cannot read ': 4 four 2 b'"),
    (("songs", "show", "bells", "--track", "flute"), "bells.mid: no track with notes is named like 'flute'"),
    (("songs", "show", "twinkle", "--tempo", "9"), "tempo must be a factor between 0.25 and 4"),
])
def test_show_errors_are_one_line(tmp_path, folder, args, message):
    proc = run_app(*args, env=env_for(tmp_path, HANDTONE_SONGS_DIR=str(folder)))
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_play_takes_a_players_song_by_name_and_says_when_it_is_missing(tmp_path, folder):
    proc = run_app("play", "--song", "nothing_here", "--camera", "demo", "--no-window",
                   env=env_for(tmp_path, HANDTONE_SONGS_DIR=str(folder)))
    assert proc.returncode == 2 and f"the name of one in {folder}" in proc.stderr
