"""MIDI import: files built with mido here, read back: tempo changes (a tempo map), the melody track by name, by
index and by itself (the highest one-note-at-a-time line), drums left out, lyrics, errors."""
import importlib.util
from pathlib import Path

import mido
import pytest

from game import song
from game.midisong import parse
from game.song import SongError

TPB = 480
ROOT = Path(__file__).resolve().parents[2]


def track(name, notes=(), channel=0, extra=()):
    """A track from (start tick, length ticks, pitch) notes and (tick, MetaMessage) extras."""
    events = []
    for start, length, pitch in notes:
        events.append((start, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=90)))
        events.append((start + length, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    events += [(tick, 0, msg) for tick, msg in extra]
    t = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        t.append(msg.copy(time=tick - now))
        now = tick
    return t


def write(tmp_path, tracks, name="song.mid", ticks_per_beat=TPB, kind=1) -> Path:
    mid = mido.MidiFile(type=kind, ticks_per_beat=ticks_per_beat)
    mid.tracks.extend(tracks)
    path = tmp_path / name
    mid.save(str(path))
    return path


def tempo(tick, bpm):
    return tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))


MELODY = [(k * TPB, TPB - 40, p) for k, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69])]


def band(tmp_path):
    """Conductor, chords (highest but three at a time), melody, bass, drums (highest of all, channel 10)."""
    chords = [(k * 2 * TPB, 2 * TPB, p) for k in range(4) for p in (76, 79, 84)]
    bass = [(k * 2 * TPB, 2 * TPB - 20, p) for k, p in enumerate([43, 48, 50, 43])]
    drums = [(k * TPB, 60, 88) for k in range(8)]
    return write(tmp_path, [track("Tune", extra=[tempo(0, 100)]), track("Chords", chords, 2),
                            track("Lead Vocal", MELODY, 0), track("Bass", bass, 1), track("Drums", drums, 9)])


def test_tempo_changes_give_note_times_in_seconds(tmp_path):
    notes = [(0, 480, 60), (480, 480, 62), (960, 480, 64), (1440, 240, 65), (2400, 480, 67)]
    # 120 bpm, then 60 bpm from tick 960, then 240 bpm from tick 1920; the changes sit on another track
    path = write(tmp_path, [track("Conductor", extra=[tempo(0, 120), tempo(960, 60)]),
                            track("Tune", notes, extra=[tempo(1920, 240)])])
    s = song.load(str(path))
    assert [n.start for n in s.notes] == pytest.approx([0.0, 0.5, 1.0, 2.0, 3.0 + 1 * 0.25], abs=1e-6)
    assert [n.duration for n in s.notes] == pytest.approx([0.5, 0.5, 1.0, 0.5, 0.25], abs=1e-6)
    assert [n.midi for n in s.notes] == [60, 62, 64, 65, 67]
    assert s.bpm == pytest.approx(120) and s.title == "Conductor" and s.audio == ""


def test_the_melody_is_found_and_the_rest_is_accompaniment(tmp_path):
    s = song.load(str(band(tmp_path)))
    assert [n.midi for n in s.notes] == [p for _, _, p in MELODY]
    assert s.notes[1].start == pytest.approx(0.6)                            # 100 bpm
    backing = sorted(n.midi for n in s.accompaniment)
    assert backing == sorted([76, 79, 84] * 4 + [43, 48, 50, 43])            # chords and bass, no drums
    assert 88 not in {n.midi for n in s.notes + s.accompaniment}


def test_track_by_name_and_by_index(tmp_path):
    path = band(tmp_path)
    bass = song.load(str(path), track="BASS")
    assert [n.midi for n in bass.notes] == [43, 48, 50, 43]
    chords = song.load(str(path), track="1")                                 # index 1: Chords
    assert [n.midi for n in chords.notes] == [84] * 4                        # the top of each chord
    assert sorted(n.midi for n in chords.accompaniment).count(76) == 4       # the rest goes to the backing
    assert all(a.end <= b.start for a, b in zip(chords.notes, chords.notes[1:]))
    with pytest.raises(SongError, match=r"song\.mid: track 7 does not exist; the tracks: 0 'Tune' \(0 notes\), "
                                        r"1 'Chords' \(12 notes\), 2 'Lead Vocal' \(8 notes\)"):
        song.load(str(path), track="7")
    with pytest.raises(SongError, match=r"track 0 has no notes to play"):
        song.load(str(path), track="0")
    with pytest.raises(SongError, match=r"no track with notes is named like 'violin'"):
        song.load(str(path), track="violin")
    with pytest.raises(SongError, match=r"no track with notes is named like 'drums'"):
        song.load(str(path), track="drums")                                  # drums are never the melody


def test_legato_overlaps_still_count_as_one_note_at_a_time(tmp_path):
    legato = [(k * TPB, TPB + 30, p) for k, p in enumerate([72, 74, 76, 77, 79, 77, 76, 74])]   # 30 ticks over
    low_chords = [(k * TPB, TPB, p) for k in range(8) for p in (48, 52, 55)]
    s = song.load(str(write(tmp_path, [track("Pad", low_chords, 1), track("Violin", legato, 0)])))
    assert [n.midi for n in s.notes] == [p for _, _, p in legato]
    assert all(a.end <= b.start + 1e-9 for a, b in zip(s.notes, s.notes[1:]))   # cut where the next begins


def test_without_a_one_note_line_the_least_polyphonic_is_taken(tmp_path):
    thick = [(k * TPB, TPB, p) for k in range(4) for p in (72, 76, 79, 84)]   # 3 of 4 notes overlap
    thin = [(k * TPB, TPB, p) for k in range(4) for p in (48, 55)]            # 1 of 2
    s = song.load(str(write(tmp_path, [track("Thick", thick), track("Thin", thin, 1)], name="a.mid")))
    assert [n.midi for n in s.notes] == [55] * 4
    high = [(k * TPB, TPB, p) for k in range(4) for p in (72, 79)]            # as polyphonic as thin: the higher
    s = song.load(str(write(tmp_path, [track("Thin", thin, 1), track("High", high)], name="b.mid")))
    assert [n.midi for n in s.notes] == [79] * 4


def test_lyrics_and_lines(tmp_path):
    words = ["Hel-", "lo\r", "there", "my", "/friend", "ah", "", "me"]
    lyric_events = [(k * TPB, mido.MetaMessage("lyrics", text=w)) for k, w in enumerate(words) if w]
    s = song.load(str(write(tmp_path, [track("Song", MELODY, extra=lyric_events)])))
    assert [n.lyric for n in s.notes] == ["Hel-", "lo", "there", "my", "friend", "ah", "", "me"]
    assert [n.line for n in s.notes] == [0, 0, 1, 1, 2, 2, 2, 2]


def test_lines_from_rests_without_lyrics(tmp_path):
    notes = [(0, 400, 60), (480, 400, 62), (2 * TPB + 480, 400, 64), (3 * TPB + 480, 400, 65)]   # a beat's rest
    s = song.load(str(write(tmp_path, [track("T", notes)])))
    assert [n.line for n in s.notes] == [0, 0, 1, 1]


def test_kar_text_events_and_title(tmp_path):
    texts = [(0, mido.MetaMessage("text", text="@KMIDI KARAOKE FILE")), (0, mido.MetaMessage("text", text="@TOld One"))]
    syllables = [(k * TPB, mido.MetaMessage("text", text=t)) for k, t in
                 enumerate(["/Twin", "kle ", "twin", "kle ", "\\lit", "tle ", "star", "!"])]
    path = write(tmp_path, [track("Words", extra=texts + syllables), track("Melody", MELODY)], name="old.kar")
    s = song.load(str(path))
    assert s.title == "Old One"
    assert [n.lyric for n in s.notes] == ["Twin-", "kle", "twin-", "kle", "lit-", "tle", "star-", "!"]
    assert [n.line for n in s.notes] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_smpte_time_division(tmp_path):
    division = -25 * 256 + 40      # -25 in the high byte: 25 frames a second; 40 ticks a frame: 1000 ticks a second
    s = song.load(str(write(tmp_path, [track("T", [(0, 500, 60), (1500, 250, 62)])], ticks_per_beat=division)))
    assert [(n.start, n.duration) for n in s.notes] == [(0.0, 0.5), (1.5, 0.25)]


def test_unfinished_notes_end_with_their_track(tmp_path):
    t = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80, time=0),
                        mido.Message("note_on", note=62, velocity=80, time=960)])
    t.append(mido.MetaMessage("end_of_track", time=480))
    s = song.load(str(write(tmp_path, [t])))
    assert [n.midi for n in s.notes] == [60, 62]
    assert [(n.start, n.duration) for n in s.notes] == [(0.0, 1.0), (1.0, 0.5)]


def test_errors_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02")
    with pytest.raises(SongError, match=r"garbage\.mid: not a MIDI file that can be read \(it ends too early"):
        song.load(str(garbage))
    drums_only = write(tmp_path, [track("Kit", [(0, 100, 36)], channel=9)], name="drums.mid")
    with pytest.raises(SongError, match=r"drums\.mid: no notes outside the drum channel"):
        song.load(str(drums_only))
    two = write(tmp_path, [track("A", MELODY), track("B", MELODY)], name="two.mid", kind=2)
    with pytest.raises(SongError, match=r"two\.mid: a type 2 MIDI file"):
        song.load(str(two))
    with pytest.raises(SongError, match=r"^x\.mid: not a MIDI file"):
        parse(b"", "x.mid")


def test_bundled_midi_song_and_its_generator(tmp_path):
    s = song.load("jingle_bells")
    assert s.title == "Jingle Bells" and len(s.notes) == 51 and s.lines == 4
    assert (song.note_name(s.lowest), song.note_name(s.highest)) == ("G4", "D5")
    beat_132 = mido.bpm2tempo(132) / 1e6                                    # whole microseconds in the file
    assert s.notes[0].start == pytest.approx(4 * beat_132, abs=1e-6)         # after a bar of hi-hat
    # the last two bars slow to 120 and 100 bpm: the last note starts after 15 bars at 132 and one at 120
    assert s.notes[-1].start == pytest.approx(15 * 4 * beat_132 + 4 * 60 / 120, abs=1e-6)
    assert s.notes[-1].duration == pytest.approx(4 * 0.9 * 60 / 100, abs=1e-5)
    assert " ".join(n.lyric for n in s.notes[:11]) == "Jin- gle bells, jin- gle bells, jin- gle all the way!"
    assert {n.midi for n in s.accompaniment} >= {43, 55, 59, 62} and 42 not in {n.midi for n in s.accompaniment}
    spec = importlib.util.spec_from_file_location("make_midi_song", ROOT / "scripts" / "make_midi_song.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    maker.main(tmp_path / "again.mid")
    assert (tmp_path / "again.mid").read_bytes() == (song.SONG_DIR / "jingle_bells.mid").read_bytes()
