"""Our song format: bundled songs load, note names and timing are right, bad files name the file and the token."""
import pytest

from game import song


def test_bundled_songs_load_with_sensible_ranges():
    names = song.available_songs()
    assert {"ode_to_joy", "twinkle", "frere_jacques"} <= set(names)
    for name in names:
        s = song.load(name)
        assert 25 <= s.duration <= 60, (name, s.duration)
        assert 48 <= s.lowest < s.highest <= 84
        assert all(a.end <= b.start for a, b in zip(s.notes, s.notes[1:])), "notes overlap"


def test_note_names_and_frequencies():
    assert song.midi_from_name("C4") == 60 and song.midi_from_name("A4") == 69
    assert song.midi_from_name("F#3") == 54 and song.midi_from_name("Bb2") == 46
    assert song.note_name(60) == "C4" and song.note_name(61.4) == "C#4"
    assert song.midi_to_hz(69) == pytest.approx(440.0)
    assert song.hz_to_midi(261.6256) == pytest.approx(60, abs=1e-3)


def test_timing_kinds_lines_and_lyrics():
    s = song.parse({"bpm": 120, "lead_in_beats": 2, "lines": ["C4 *D4/2 r/1 ~E4/0.5", "G4"],
                    "lyrics": ["do re mi", "sol"]})
    beat = 0.5
    c, d, e, g = s.notes
    assert c.start == pytest.approx(2 * beat) and c.duration == pytest.approx(0.9 * beat)
    assert d.kind == "golden" and d.start == pytest.approx(3 * beat) and d.duration == pytest.approx(0.9 * 2 * beat)
    assert e.kind == "freestyle" and e.start == pytest.approx(6 * beat)   # after the one-beat rest
    assert g.line == 1 and g.lyric == "sol" and c.lyric == "do"
    assert s.note_at(c.start + 0.1) == c and s.note_at(c.end + 0.01) is None
    assert s.lines == 2


@pytest.mark.parametrize("data,message", [
    ({"lines": ["C4"]}, "missing key 'bpm'"),
    ({"bpm": 0, "lines": ["C4"]}, "bpm must be positive"),
    ({"bpm": 100, "lines": ["C4 H9"]}, "line 1: cannot read 'H9'"),
    ({"bpm": 100, "lines": ["r/4"]}, "has no notes"),
])
def test_bad_songs_say_where_and_what(data, message):
    with pytest.raises(song.SongError, match=message):
        song.parse(data, "x.toml")


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("bpm = [")
    with pytest.raises(song.SongError, match="broken.toml"):
        song.load(str(bad))
