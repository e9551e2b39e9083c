"""UltraStar .txt import: real parsing of hand-written files (header, kinds, lines, versions, duets, relative mode,
tempo changes, encodings, audio file, #START/#END) and errors that name the file and line."""
from pathlib import Path

import pytest

from game import song
from game.song import SongError
from game.ultrastar import parse


def us(tmp_path: Path, text: str, name: str = "song.txt", encoding: str = "utf-8", voice: int = 1) -> song.Song:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return song.load(str(path), voice=voice)


def beat_s(bpm: float, gap_ms: float, beat: float) -> float:
    """DESIGN.md section 4, for files before format 2.0.0."""
    return gap_ms / 1000 + beat * 60 / (4 * bpm)


BASIC = ("\ufeff#TITLE:Tëst Song\r\n#ARTIST:Somebody\r\n#bpm:150,5\r\n#GAP:1250,5\r\n#LANGUAGE:English\r\n"
         ": 0 4 0 Hel\r\n: 4 4 2 lo \r\n* 8 6 4 world\r\n- 16\r\n- 17\r\n"
         "F 18 2 -3 ~\r\nR 20 2 99 yo \r\nG 24 2 5 YO\r\n: 28 0 5 gone\r\n- 30\r\n"
         ": 32 8 -12 last\r\nE\r\n: 99 99 99 after the end\r\nanything at all\r\n")


def test_header_kinds_lines_and_times(tmp_path):
    s = us(tmp_path, BASIC)
    assert (s.title, s.artist, s.bpm, s.audio, s.accompaniment) == ("Tëst Song", "Somebody", 150.5, "", ())
    starts = [0, 4, 8, 18, 20, 24, 32]
    lengths = [4, 4, 6, 2, 2, 2, 8]
    assert [n.start for n in s.notes] == pytest.approx([beat_s(150.5, 1250.5, b) for b in starts], abs=1e-6)
    assert [n.duration for n in s.notes] == pytest.approx(
        [beat_s(150.5, 0, b) for b in lengths], abs=1e-6)
    assert [n.kind for n in s.notes] == ["normal", "normal", "golden", "freestyle", "rap", "golden_rap", "normal"]
    assert [n.midi for n in s.notes][:3] == [60, 62, 64] and s.notes[-1].midi == 48   # pitch 0 = C4 = MIDI 60
    assert [n.line for n in s.notes] == [0, 0, 0, 1, 1, 1, 2]    # a repeated break makes no empty line
    assert [n.lyric for n in s.notes] == ["Hel-", "lo", "world", "", "yo", "YO", "last"]
    assert all("gone" != n.lyric for n in s.notes)               # a zero-length note is left out
    assert s.path == str((tmp_path / "song.txt").resolve())


def test_cr_only_line_ends_and_plain_ascii(tmp_path):
    s = us(tmp_path, "#TITLE:T\r#BPM:100\r: 0 2 7 a\r: 2 2 9 b\rE\r")
    assert [n.midi for n in s.notes] == [67, 69] and s.title == "T"


def test_format_2_bpm_is_the_beat_rate(tmp_path):
    v1 = us(tmp_path, "#VERSION:1.0.0\n#TITLE:A\n#BPM:200\n#GAP:500\n: 0 4 0 a\n: 8 4 0 b\nE\n", "v1.txt")
    v2 = us(tmp_path, "#VERSION:2.0.0\n#TITLE:A\n#BPM:200\n#GAP:500\n: 0 4 0 a\n: 8 4 0 b\nE\n", "v2.txt")
    assert v1.notes[1].start == pytest.approx(0.5 + 8 * 60 / (4 * 200))     # 1.1 s
    assert v2.notes[1].start == pytest.approx(0.5 + 8 * 60 / 200)           # 2.9 s
    assert v2.notes[0].duration == pytest.approx(4 * v1.notes[0].duration)
    assert v1.bpm == 200 and v2.bpm == 50                                   # quarter notes per minute


def test_a_legacy_file_without_version_uses_the_quarter_rate(tmp_path):
    s = us(tmp_path, "#TITLE:Old\n#BPM:300\n#GAP:0\n: 0 1 0 a\n: 40 1 0 b\nE\n")
    assert s.notes[1].start == pytest.approx(40 * 60 / 1200)


DUET = """#VERSION:1.0.0
#TITLE:Duet
#ARTIST:Two
#P1:Ann
#P2:Bob
#BPM:100
#GAP:1000
P1
: 0 4 0 one 
: 4 4 2 two 
- 10
: 12 4 4 three 
P2
: 20 4 7 four 
- 26
: 28 4 9 five 
P3
* 40 8 12 all
E
"""


def test_duet_voices_and_both(tmp_path):
    first = us(tmp_path, DUET, voice=1)
    second = us(tmp_path, DUET, voice=2)
    assert [n.lyric for n in first.notes] == ["one", "two", "three", "all"]
    assert [n.lyric for n in second.notes] == ["four", "five", "all"]
    assert [n.line for n in first.notes] == [0, 0, 1, 1] and [n.line for n in second.notes] == [0, 1, 1]
    assert second.notes[0].start == pytest.approx(beat_s(100, 1000, 20))
    assert second.notes[-1].kind == "golden" and second.notes[-1].midi == 72
    # the other voice is the accompaniment (for the rendered backing), P3's notes are not doubled into it
    assert [n.midi for n in first.accompaniment] == [67, 69]
    assert [n.midi for n in second.accompaniment] == [60, 62, 64]


def test_a_duet_without_the_asked_voice_says_which_it_has(tmp_path):
    text = DUET.replace("P2\n", "P4\n").replace("P3\n", "P1\n")
    with pytest.raises(SongError, match=r"song\.txt: this duet has no voice 2 \(P2\); it has P1, P4"):
        us(tmp_path, text, voice=2)


def test_a_song_that_is_no_duet_ignores_the_voice(tmp_path):
    assert [n.midi for n in us(tmp_path, BASIC, voice=2).notes][:2] == [60, 62]


RELATIVE = """#TITLE:Relative
#ARTIST:Old Tool
#BPM:120
#GAP:2000
#RELATIVE:yes
: 0 2 0 a
: 4 2 2 b
- 8 8
: 0 2 4 c
: 2 2 5 d
- 6 10
B 0 240
: 1 2 7 e
E
"""


def test_relative_file_and_tempo_change(tmp_path):
    s = us(tmp_path, RELATIVE)
    # absolute beats: a 0, b 4, c 8, d 10, then the offset is 18: tempo 240 from beat 18, e at beat 19
    seconds = [beat_s(120, 2000, b) for b in (0, 4, 8, 10)]
    seconds.append(beat_s(120, 2000, 18) + 1 * 60 / (4 * 240))
    assert [n.start for n in s.notes] == pytest.approx(seconds, abs=1e-6)
    assert s.notes[-1].duration == pytest.approx(2 * 60 / (4 * 240))
    assert [n.line for n in s.notes] == [0, 0, 1, 1, 2]


def test_relative_needs_two_numbers_and_a_legacy_file(tmp_path):
    with pytest.raises(SongError, match=r"song\.txt:8: a relative file's line break needs two numbers"):
        us(tmp_path, RELATIVE.replace("- 8 8", "- 8"))
    with pytest.raises(SongError, match=r"song\.txt:6: #RELATIVE was removed in format 1\.0\.0"):
        us(tmp_path, "#VERSION:1.0.0\n" + RELATIVE)


def test_encodings(tmp_path):
    latin = us(tmp_path, "#TITLE:Café\n#BPM:100\n: 0 2 0 Où\nE\n", "cp.txt", encoding="cp1252")
    assert latin.title == "Café" and latin.notes[0].lyric == "Où"
    named = us(tmp_path, "#ENCODING:CP1250\n#TITLE:Łódź\n#BPM:100\n: 0 2 0 są\nE\n", "pl.txt", encoding="cp1250")
    assert named.title == "Łódź" and named.notes[0].lyric == "są"
    wide = us(tmp_path, "\ufeff#TITLE:Wide\n#BPM:100\n: 0 2 0 ü\nE\n", "w.txt", encoding="utf-16")
    assert wide.title == "Wide" and wide.notes[0].lyric == "ü"


def test_audio_file_next_to_the_song(tmp_path):
    (tmp_path / "Song.OGG").write_bytes(b"OggS")
    (tmp_path / "other.wav").write_bytes(b"RIFF")
    s = us(tmp_path, "#TITLE:A\n#MP3:song.ogg\n#BPM:100\n: 0 2 0 a\nE\n")
    assert s.audio == str((tmp_path / "Song.OGG").resolve())         # letter case differs, as Windows songs do
    both = us(tmp_path, "#VERSION:1.0.0\n#TITLE:A\n#MP3:song.ogg\n#AUDIO:other.wav\n#BPM:100\n: 0 2 0 a\nE\n")
    assert both.audio == str((tmp_path / "other.wav").resolve())      # #AUDIO wins over #MP3
    with pytest.raises(SongError, match=r"song\.txt:2: the song's audio file 'missing\.mp3' is not in .*remove "
                                        r"that line"):
        us(tmp_path, "#TITLE:A\n#MP3:missing.mp3\n#BPM:100\n: 0 2 0 a\nE\n")


def test_start_and_end(tmp_path):
    body = ": 0 4 0 a \n: 8 4 2 b \n: 16 4 4 c \n: 24 4 5 d\nE\n"
    # BPM 60: a beat is 0.25 s; notes at 1.0, 3.0, 5.0, 7.0 s after a 1 s gap
    s = us(tmp_path, "#TITLE:A\n#BPM:60\n#GAP:1000\n#START:2,5\n#END:6000\n" + body)
    assert [(n.lyric, n.kind) for n in s.notes] == [("a", "freestyle"), ("b", "normal"), ("c", "normal")]
    assert s.notes[-1].end == pytest.approx(6.0)
    v2 = us(tmp_path, "#VERSION:2.0.0\n#TITLE:A\n#BPM:240\n#GAP:1000\n#START:2500\n" + body, "v2.txt")
    assert [n.kind for n in v2.notes] == ["freestyle", "normal", "normal", "normal"]   # #START in ms from 2.0.0


def test_overlapping_notes_are_cut_at_the_next(tmp_path):
    s = us(tmp_path, "#TITLE:A\n#BPM:60\n: 0 10 0 a\n: 4 4 2 b\nE\n")
    assert s.notes[0].end == pytest.approx(s.notes[1].start)


@pytest.mark.parametrize("text,message", [
    ("#TITLE:A\n: 0 2 0 a\nE\n", r"song\.txt: no #BPM line"),
    ("#TITLE:A\n#BPM:fast\n: 0 2 0 a\n", r"song\.txt:2: #BPM: 'fast' is not a number"),
    ("#TITLE:A\n#BPM:0\n: 0 2 0 a\n", r"song\.txt:2: #BPM must be positive"),
    ("#TITLE:A\n#GAP:-20\n#BPM:100\n: 0 2 0 a\n", r"song\.txt:2: #GAP -20 is negative"),
    ("#TITLE:A\n#BPM:100\n: 0 2 0 a\n: 4 x 0 b\n", r"song\.txt:4: cannot read ': 4 x 0 b' \(expected a note"),
    ("#TITLE:A\n#BPM:100\n: 0 2 0 a\nhello there\n", r"song\.txt:4: cannot read 'hello there'"),
    ("#TITLE:A\n#BPM:100\n: 0 2 80 a\n", r"song\.txt:3: pitch 80 is outside the MIDI range"),
    ("#TITLE:A\n#BPM:100\n: 0 -2 0 a\n", r"song\.txt:3: a note's length cannot be negative"),
    ("#TITLE:A\n#BPM:100\n: 0 2 0 a\n- x\n", r"song\.txt:4: cannot read line break '- x'"),
    ("#TITLE:A\n#BPM:100\nP0\n: 0 2 0 a\n", r"song\.txt:3: P0 is not a voice"),
    ("#VERSION:3.0.0\n#BPM:100\n: 0 2 0 a\n", r"song\.txt:1: format version 3\.0\.0 is newer"),
    ("#VERSION:one\n#BPM:100\n: 0 2 0 a\n", r"song\.txt:1: #VERSION 'one' is not a version"),
    ("#TITLE:A\n#BPM:100\nB 0 0\n: 0 2 0 a\n", r"song\.txt:3: tempo change 'B 0 0' needs"),
    ("#TITLE:A\n#BPM:100\n- 4\nE\n", r"song\.txt: the song has no notes"),
    ("#TITLE:A\n#BPM:0,000001\n: 0 2 0 a\n: 99999 2 0 b\n", r"song\.txt: a note at .* the song's tempo or times"),
    ("#TITLE:A\n#BPM:100\n: 0 2 0 a\n: 1234567890 2 0 b\n", r"song\.txt:4: cannot read"),
])
def test_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(SongError, match=message):
        us(tmp_path, text)


def test_unknown_note_types_are_freestyle_and_comment_lines_in_the_body_are_skipped(tmp_path):
    s = us(tmp_path, "#TITLE:A\n#BPM:100\n: 0 2 0 a\n#A REMARK\n@ 4 2 3  b\nE\n")
    assert [(n.lyric, n.kind) for n in s.notes] == [("a", "normal"), ("b", "freestyle")]


def test_parse_takes_bytes_and_a_path_for_messages():
    with pytest.raises(SongError, match=r"^where/x\.txt: no #BPM line"):
        parse(b"\x00\xff garbage", Path("where/x.txt"))


def test_bundled_example_is_a_round(tmp_path):
    one, two = song.load("row_your_boat", voice=1), song.load("row_your_boat", voice=2)
    assert [n.midi for n in one.notes] == [n.midi for n in two.notes]          # the same tune ...
    assert two.notes[0].start - one.notes[0].start == pytest.approx(24 * 60 / (4 * 110))   # ... two bars later
    assert one.notes[0].start == pytest.approx(2.0) and one.lines == 4
    assert any(n.kind == "golden" for n in one.notes)
    # voice 1's backing holds voice 2's notes, at their times (no lyrics, one line)
    assert [(n.start, n.duration, n.midi) for n in one.accompaniment] == \
        [(n.start, n.duration, n.midi) for n in two.notes]
