"""Fuzzing every song parser with hypothesis: random bytes and mutations of valid files. The only exception allowed
out of a parser is SongError (with the file's name in it); what does parse is a sane song."""
import math
from pathlib import Path

import mido
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from game import midisong, song, tomlsong, ultrastar
from game.song import SongError

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
WHERE = Path("/nowhere/fuzzed")   # no audio file exists next to it: #MP3 lines end in SongError

ULTRASTAR_SEEDS = [
    (song.SONG_DIR / "row_your_boat.txt").read_bytes(),
    b"#TITLE:A\r\n#BPM:120,5\r\n#GAP:500\r\n#START:1\r\n#END:9000\r\n: 0 4 0 Hel\r\n* 4 4 2 lo \r\n- 9\r\n"
    b"F 10 2 0 ~\r\nR 12 2 -5 yo\r\nG 14 2 5 x\r\nB 16 200\r\n: 16 4 7 end\r\nE\r\n",
    b"#TITLE:R\n#BPM:100\n#RELATIVE:yes\n: 0 2 0 a\n- 4 4\n: 0 2 2 b\n- 3 8\nP2\n: 1 2 4 c\nE\n",
]
ULTRASTAR_LINES = [b"#BPM:0", b"#BPM:1e9", b"#VERSION:2.0.0", b"#VERSION:1.0.0", b"#RELATIVE:yes", b"#GAP:-1",
                   b"#MP3:x.mp3", b"#START:99", b"#END:1", b"P1", b"P2", b"P3", b"P0", b"- 3 9", b"-", b"E",
                   b"B 0 0,5", b": 0 0 0 z", b": 5 999999999 0 z", b"* 1 1 67 top", b"R 0 1 -99 low", b"\xff\xfe"]
TOML_SEEDS = [(song.SONG_DIR / f"{name}.toml").read_text(encoding="utf-8") for name in ("ode_to_joy", "amazing_grace")]
MIDI_SEEDS = [(song.SONG_DIR / "jingle_bells.mid").read_bytes()]


def small_midi() -> bytes:
    import io
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=400000), mido.MetaMessage("end_of_track")])
    tune = mido.MidiTrack([mido.MetaMessage("track_name", name="Tune")])
    for k, p in enumerate((60, 64, 67, 72)):
        tune += [mido.MetaMessage("lyrics", text=f"la{k} ", time=0), mido.Message("note_on", note=p, velocity=90),
                 mido.Message("note_off", note=p, velocity=0, time=90)]
    tune.append(mido.MetaMessage("end_of_track"))
    mid.tracks += [conductor, tune]
    out = io.BytesIO()
    mid.save(file=out)
    return out.getvalue()


MIDI_SEEDS.append(small_midi())


@st.composite
def mutated(draw, seeds: list[bytes], lines: list[bytes] | None = None) -> bytes:
    """A seed with a few byte edits (replace, insert, delete) and, for text formats, whole lines put in."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "line"] if lines else ["replace", "insert",
                                                                                          "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "line":
            starts = [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A]
            at = draw(st.sampled_from(starts))
            data[at:at] = draw(st.sampled_from(lines)) + b"\n"
    return bytes(data)


def sane(s: song.Song) -> None:
    assert s.notes
    for n in s.notes + s.accompaniment:
        assert math.isfinite(n.start) and math.isfinite(n.duration)
        assert 0 <= n.start <= song.MAX_SECONDS and 0 <= n.duration
        assert 0 <= n.midi <= 127 and n.kind in song.KINDS
    assert all(a.start <= b.start for a, b in zip(s.notes, s.notes[1:]))


def only_song_errors(parse, data, *args) -> None:
    try:
        s = parse(data, *args)
    except SongError as e:
        assert "fuzzed" in str(e), str(e)
        return
    sane(s)


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([1, 2]))
def test_ultrastar_random_bytes(data, voice):
    only_song_errors(ultrastar.parse, data, WHERE.with_suffix(".txt"), voice)


@FUZZ
@given(mutated(ULTRASTAR_SEEDS, ULTRASTAR_LINES), st.sampled_from([1, 2]))
def test_ultrastar_mutations(data, voice):
    only_song_errors(ultrastar.parse, data, WHERE.with_suffix(".txt"), voice)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([None, "0", "1", "tune"]))
def test_midi_random_bytes(data, track):
    only_song_errors(midisong.parse, b"MThd" + data if data[:1] == b"\x00" else data, WHERE.with_suffix(".mid"),
                     track)


@FUZZ
@given(mutated(MIDI_SEEDS), st.sampled_from([None, "1", "2", "melody", "bass"]))
def test_midi_mutations(data, track):
    only_song_errors(midisong.parse, data, WHERE.with_suffix(".mid"), track)


@FUZZ
@given(st.text(max_size=300))
def test_toml_random_text(text):
    only_song_errors(tomlsong.parse_text, text, str(WHERE.with_suffix(".toml")))


@FUZZ
@given(mutated([t.encode() for t in TOML_SEEDS], [b'bpm = 1e308', b'bpm = "x"', b'lines = []', b'lyrics = 3',
                                                    b'lead_in_beats = -1', b'lines = ["C4/99999999"]',
                                                    b'lines = ["A9"]', b'title = 1']))
def test_toml_mutations(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return          # load() turns this into a SongError before the parser (tested in test_song.py)
    only_song_errors(tomlsong.parse_text, text, str(WHERE.with_suffix(".toml")))
