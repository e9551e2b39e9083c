"""The song model, our TOML format, finding songs by name (bundled and the player's folder) and load_for's tempo,
voice and track."""
import shutil

import pytest

from game import settings as settings_mod
from game import song, tomlsong


def test_note_names_and_frequencies():
    assert song.midi_from_name("C4") == 60 and song.midi_from_name("A4") == 69
    assert song.midi_from_name("F#3") == 54 and song.midi_from_name("Bb2") == 46
    assert song.note_name(60) == "C4" and song.note_name(61.4) == "C#4"
    assert song.midi_to_hz(69) == pytest.approx(440.0)
    assert song.hz_to_midi(261.6256) == pytest.approx(60, abs=1e-3)


def test_timing_kinds_lines_and_lyrics():
    s = tomlsong.parse({"bpm": 120, "lead_in_beats": 2, "lines": ["C4 *D4/2 r/1 ~E4/0.5", "G4 A4"],
                        "lyrics": ["do re mi", "sol _"]})
    beat = 0.5
    c, d, e, g, a = s.notes
    assert c.start == pytest.approx(2 * beat) and c.duration == pytest.approx(0.9 * beat)
    assert d.kind == "golden" and d.start == pytest.approx(3 * beat) and d.duration == pytest.approx(0.9 * 2 * beat)
    assert e.kind == "freestyle" and e.start == pytest.approx(6 * beat)   # after the one-beat rest
    assert g.line == 1 and g.lyric == "sol" and c.lyric == "do"
    assert a.lyric == ""                                                  # _ holds the syllable before
    assert s.note_at(c.start + 0.1) == c and s.note_at(c.end + 0.01) is None
    assert s.lines == 2


@pytest.mark.parametrize("data,message", [
    ({"lines": ["C4"]}, "missing key 'bpm'"),
    ({"bpm": 100}, "missing key 'lines'"),
    ({"bpm": 0, "lines": ["C4"]}, "bpm must be positive"),
    ({"bpm": "fast", "lines": ["C4"]}, "bpm must be a number"),
    ({"bpm": float("nan"), "lines": ["C4"]}, "bpm must be a number"),
    ({"bpm": 100, "lines": "C4 D4"}, "'lines' must be a non-empty list of strings"),
    ({"bpm": 100, "lines": ["C4"], "lyrics": "la"}, "'lyrics' must be a list of strings"),
    ({"bpm": 100, "lines": ["C4 H9"]}, "line 1: cannot read 'H9'"),
    ({"bpm": 100, "lines": ["C4 A9"]}, "outside the MIDI range"),
    ({"bpm": 100, "lines": ["r/4"]}, "has no notes"),
    ({"bpm": 100, "lines": ["C4/0"]}, "has no length"),
])
def test_bad_songs_say_where_and_what(data, message):
    with pytest.raises(song.SongError, match=message):
        tomlsong.parse(data, "x.toml")


def test_errors_name_the_file_line(tmp_path):
    bad = tmp_path / "typo.toml"
    bad.write_text('title = "T"\nbpm = 100\nlines = [\n  "C4 D4",\n  "E4 Q4 F4",\n]\n')
    with pytest.raises(song.SongError, match=r"typo\.toml: line 2 \(file line 5\): cannot read 'Q4'"):
        song.load(str(bad))
    broken = tmp_path / "broken.toml"
    broken.write_text('bpm = 100\nlines = [\n  "C4",\n  C4\n]\n')
    with pytest.raises(song.SongError, match=r"broken\.toml: not a TOML song file: .*line 4"):
        song.load(str(broken))
    latin = tmp_path / "latin.toml"
    latin.write_bytes('title = "Frère"\nbpm = 100\nlines = ["C4"]\n'.encode("latin-1"))
    with pytest.raises(song.SongError, match="latin.toml: not UTF-8"):
        song.load(str(latin))


def test_with_tempo_scales_times_and_bpm_only():
    s = song.load("twinkle")
    fast = song.with_tempo(s, 1.25)
    assert fast.bpm == pytest.approx(s.bpm * 1.25)
    for a, b in zip(s.notes, fast.notes):
        assert b.start == pytest.approx(a.start / 1.25, abs=1e-6)
        assert b.duration == pytest.approx(a.duration / 1.25, abs=1e-6)
        assert (b.midi, b.kind, b.lyric, b.line) == (a.midi, a.kind, a.lyric, a.line)
    assert fast.duration == pytest.approx(s.duration / 1.25, abs=1e-5)
    assert song.with_tempo(s, 1.0) is s


def test_load_for_applies_tempo_voice_and_track_not_transpose():
    settings = settings_mod.build({"song": "row_your_boat", "tempo": 0.8, "voice": 2, "transpose": 5}, environ={})
    s = song.load_for(settings)
    as_written = song.load("row_your_boat", voice=2)
    assert [n.midi for n in s.notes] == [n.midi for n in as_written.notes]           # no transpose at load
    assert s.notes[0].start == pytest.approx(as_written.notes[0].start / 0.8, abs=1e-5)
    assert s.notes[0].start != song.load("row_your_boat", voice=1).notes[0].start / 0.8   # voice 2 enters later
    bass = song.load_for(settings_mod.build({"song": "jingle_bells", "track": "bass"}, environ={}))
    assert bass.highest < 55 and len(bass.notes) == 32


def test_songs_by_name_from_the_players_folder(tmp_path):
    folder = tmp_path / "mine" / "Someone - Tune"
    folder.mkdir(parents=True)
    shutil.copy(song.SONG_DIR / "twinkle.toml", folder / "my_tune.toml")
    s = song.load("my_tune", songs_dir=str(tmp_path / "mine"))
    assert s.title == "Twinkle, Twinkle, Little Star" and s.path == str((folder / "my_tune.toml").resolve())
    assert song.load("Someone - Tune/my_tune.toml", songs_dir=str(tmp_path / "mine")).path == s.path
    with pytest.raises(song.SongError, match=r"no song 'nothing'.*" + str(tmp_path / "mine")):
        song.load("nothing", songs_dir=str(tmp_path / "mine"))
    with pytest.raises(song.SongError, match="nowhere/x.txt: no such song file"):
        song.load("nowhere/x.txt")


def test_bundled_names_win_over_the_players_and_paths_always_work(tmp_path):
    (tmp_path / "twinkle.toml").write_text('title = "Mine"\nbpm = 90\nlines = ["C4 D4"]\n')
    assert song.load("twinkle", songs_dir=str(tmp_path)).title == "Twinkle, Twinkle, Little Star"
    assert song.load(str(tmp_path / "twinkle.toml")).title == "Mine"


def test_default_song_folder_is_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert song.user_songs_dir("") == tmp_path / "handtone" / "songs"
    assert song.user_songs_dir("~/x") == song.user_songs_dir("~/x").expanduser()


def test_unknown_suffix_is_refused(tmp_path):
    f = tmp_path / "song.abc"
    f.write_text("X:1")
    with pytest.raises(song.SongError, match="not a song file this game reads"):
        song.load(str(f))


def test_reports_score_against_the_sessions_own_voice_track_and_tempo(tmp_path):
    """reports/build.py reads session.json's song_path with its tempo, voice and track."""
    from reports.build import _song_from
    from reports.sessiondata import SessionData
    data = SessionData(tmp_path)
    row = str(song.SONG_DIR / "row_your_boat.txt")
    s = _song_from({"song_path": row, "tempo": 1.25, "voice": 2, "track": None}, data)
    assert [n.start for n in s.notes] == pytest.approx([n.start / 1.25 for n in song.load(row, voice=2).notes],
                                                       abs=1e-5)
    bells = _song_from({"song_path": str(song.SONG_DIR / "jingle_bells.mid"), "track": "Bass"}, data)
    assert bells.highest < 55
    assert data.warnings == []
    assert _song_from({"song_path": row, "voice": "two"}, data) is None and "could not be loaded" in data.warnings[0]
