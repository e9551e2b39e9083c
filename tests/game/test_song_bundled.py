"""The bundled songs: every one loads, they span different ranges and tempos, golden notes are there, every format
is shown, and the hand-written ones keep their time signature bar by bar."""
import re
import tomllib

import pytest

from game import song

BEATS_PER_BAR = {"ode_to_joy": 4, "twinkle": 4, "frere_jacques": 4, "amazing_grace": 3}


def test_at_least_five_songs_in_every_format():
    names = song.available_songs()
    assert len(names) >= 5
    kinds = {song.FORMATS[p.suffix] for p in song.song_files(song.SONG_DIR, recursive=False)}
    assert kinds == {"toml", "ultrastar", "midi"}


@pytest.mark.parametrize("name", song.available_songs())
def test_each_bundled_song_loads_and_is_playable(name):
    for voice in (1, 2):
        s = song.load(name, voice=voice)
        assert 25 <= s.duration <= 60, (name, s.duration)
        assert 48 <= s.lowest < s.highest <= 84
        assert s.notes[0].start >= 1.0, "a lead-in before the first note"
        assert all(a.end <= b.start + 1e-9 for a, b in zip(s.notes, s.notes[1:])), "notes overlap"
        assert sum(1 for n in s.notes if n.lyric) >= 0.8 * len(s.notes), "lyrics"
        assert s.lines >= 3


def test_ranges_and_tempos_differ():
    songs = {name: song.load(name) for name in song.available_songs()}
    ranges = {(s.lowest, s.highest) for s in songs.values()}
    tempos = {s.bpm for s in songs.values()}
    assert len(ranges) == len(songs) and len(tempos) == len(songs)
    assert min(s.lowest for s in songs.values()) <= 55 and max(s.highest for s in songs.values()) >= 74
    assert min(tempos) <= 80 and max(tempos) >= 130


def test_golden_notes():
    with_golden = [name for name in song.available_songs() if any(n.kind == "golden" for n in song.load(name).notes)]
    assert {"amazing_grace", "row_your_boat", "ode_to_joy"} <= set(with_golden)


@pytest.mark.parametrize("name,beats", sorted(BEATS_PER_BAR.items()))
def test_whole_bars_keep_the_time_signature(name, beats):
    data = tomllib.loads((song.SONG_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    for line in data["lines"]:
        bars = line.split("|")
        inner = bars[1:-1] if len(bars) > 2 else []      # the first and last may be a pickup or run on
        for bar in inner:
            total = sum(float(m.group(1) or 1) for m in re.finditer(r"\S+?(?:/(\d+(?:\.\d+)?))?(?=\s|$)",
                                                                     bar.strip()))
            assert total == beats, (name, line, bar)


def test_amazing_grace_is_the_hymn_tune():
    s = song.load("amazing_grace")
    names = [song.note_name(n.midi) for n in s.notes]
    assert names[:9] == ["D4", "G4", "B4", "G4", "B4", "A4", "G4", "E4", "D4"]     # A-ma-zing grace, how sweet ...
    assert " ".join(n.lyric for n in s.notes[:9]) == "A- ma- zing  grace, how sweet the sound"
    assert s.notes[-1].kind == "golden" and names[-1] == "G4"
