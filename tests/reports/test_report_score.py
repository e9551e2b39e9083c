"""Scoring, played notes and the mix, on session folders written the way the children write them."""
from __future__ import annotations

import wave

import numpy as np
import pytest

import sessionkit as kit
from game.song import load
from reports.mix import mix
from reports.notes import played_notes
from game.scoring import rating, score
from reports.sessiondata import SessionData
from game.logfiles import SYNTH_COLUMNS
from reports.track import played_track


def _score(d, song, tolerance=1.0):
    data = SessionData(d)
    track = played_track(data.csv("synth.csv", SYNTH_COLUMNS), song.duration + 1.0)
    return score(track, song, tolerance=tolerance, transpose=0, difficulty="medium"), track


def test_perfect_performance_scores_10000(tmp_path):
    song = load("twinkle")
    kit.write_synth(tmp_path, kit.perfect(song), song.duration + 1.0)
    result, _ = _score(tmp_path, song)
    assert result["total"] == 10000
    assert result["rating"] == "Superstar"
    assert all(n["hit_fraction"] == 1.0 for n in result["notes"])
    assert all(n["mean_error_cents"] == 0.0 for n in result["notes"])
    assert result["delay"]["estimated_ms"] == 0 and result["delay"]["applied_ms"] == 0


def test_silence_scores_0(tmp_path):
    song = load("twinkle")
    kit.write_synth(tmp_path, kit.silence, song.duration + 1.0)
    result, track = _score(tmp_path, song)
    assert result["total"] == 0 and result["rating"] == "Tone Deaf"
    assert not track.sounding.any()
    assert all(n["mean_error_cents"] is None for n in result["notes"])
    assert result["delay"]["estimated_ms"] is None and result["delay"]["applied_ms"] == 0


def test_half_right_scores_about_half(tmp_path):
    """Right for the first half of every note, three semitones sharp for the second half."""
    song = load("twinkle")

    def pitch(t):
        n = song.note_at(t)
        if not n:
            return (60.0, 0.0)
        return (n.midi + (0 if t < n.start + n.duration / 2 else 3), 0.8)

    kit.write_synth(tmp_path, pitch, song.duration + 1.0)
    result, _ = _score(tmp_path, song)
    assert 4600 <= result["total"] <= 5400, result["total"]
    assert all(0.4 <= n["hit_fraction"] <= 0.6 for n in result["notes"])
    # sounding samples: half 0 cents off, half 300: mean about 150 cents sharp
    assert all(120 <= n["mean_error_cents"] <= 180 for n in result["notes"])


def test_tolerance_follows_difficulty(tmp_path):
    """0.7 semitones flat hits on medium (+-1) and misses on hard (+-0.5)."""
    song = load("twinkle")
    kit.write_synth(tmp_path, lambda t: ((song.note_at(t).midi - 0.7, 0.8) if song.note_at(t) else (60, 0.0)),
                    song.duration + 1.0)
    assert _score(tmp_path, song, 1.0)[0]["total"] == 10000
    assert _score(tmp_path, song, 0.5)[0]["total"] == 0


def test_golden_notes_count_double(tmp_path):
    song = load("twinkle")
    golden = [n for n in song.notes if n.kind == "golden"]
    assert golden, "twinkle has golden notes"
    kit.write_synth(tmp_path, lambda t: ((n.midi, 0.8) if (n := song.note_at(t)) and n.kind == "golden"
                                         else (60.0, 0.0)), song.duration + 1.0)
    result, _ = _score(tmp_path, song)
    weight = sum(n.duration * (2 if n.kind == "golden" else 1) for n in song.notes if n.kind != "freestyle")
    expected = 9000 * sum(2 * n.duration for n in golden) / weight
    assert result["notes_points"] == pytest.approx(expected, abs=1)
    # each golden note sits in its own line; that line's hit share is the golden note's share of its weight
    assert 0 < result["line_bonus"] < 1000


def test_player_delay_is_estimated_not_applied(tmp_path):
    song = load("twinkle")
    late = kit.perfect(song)
    kit.write_synth(tmp_path, lambda t: late(t - 0.15), song.duration + 1.0)
    result, _ = _score(tmp_path, song)
    delay = result["delay"]
    assert delay["estimated_ms"] == pytest.approx(150, abs=10)
    assert delay["hit_share_at_estimate"] > 0.95 > delay["hit_share_at_zero"]
    assert delay["mode"] == "fixed" and delay["applied_ms"] == 0
    assert result["total"] < 10000  # not applied


def test_played_notes_follow_the_song(tmp_path):
    song = load("twinkle")
    kit.write_synth(tmp_path, kit.perfect(song), song.duration + 1.0)
    _, track = _score(tmp_path, song)
    notes = played_notes(track)
    assert [n["midi"] for n in notes] == [n.midi for n in song.notes]
    for got, want in zip(notes, song.notes):
        assert got["start"] == pytest.approx(want.start, abs=0.02)
        assert got["end"] == pytest.approx(want.end, abs=0.02)
    assert notes[0]["name"] == "C4" and notes[0]["hz"] == pytest.approx(261.63, abs=0.01)


def test_short_blips_are_not_notes(tmp_path):
    kit.write_synth(tmp_path, lambda t: (67.0, 0.8) if 1.0 <= t < 1.05 else (60.0, 0.8 if 2 <= t < 2.5 else 0),
                    3.0)
    track = played_track(SessionData(tmp_path).csv("synth.csv", SYNTH_COLUMNS), 3.0)
    notes = played_notes(track)
    assert [(n["name"], n["start"]) for n in notes] == [("C4", pytest.approx(2.0, abs=0.011))]


def test_ratings_climb_with_the_score():
    words = [rating(s) for s in (0, 1999, 2000, 4500, 6000, 7500, 8500, 9500, 10000)]
    assert words[0] == "Tone Deaf" and words[-1] == "Superstar"
    assert len(set(words)) == 7


def test_cut_last_line_is_dropped(tmp_path):
    song = load("twinkle")
    kit.write_synth(tmp_path, kit.perfect(song), song.duration + 1.0)
    raw = (tmp_path / "synth.csv").read_bytes()
    (tmp_path / "synth.csv").write_bytes(raw[:-25])
    data = SessionData(tmp_path)
    rows = data.csv("synth.csv", SYNTH_COLUMNS)
    assert np.isfinite(rows["t_dac"]).all() and np.isfinite(rows["latency_ms"]).all()
    assert any("cut" in w for w in data.warnings)


def _read(path):
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float), w.getframerate()


def test_mix_aligns_by_start_time_and_does_not_clip(tmp_path):
    """A click in each WAV at session time 1.0 s, the backing's WAV starting 0.5 s later: one click in the mix."""
    tone = np.zeros(48000 * 3)
    tone[48000] = 1.0                       # synth.wav starts at t=0: click at 1.0 s
    back = np.zeros(22050 * 2)
    back[22050 // 2] = 1.0                  # backing.wav starts at t=0.5: click at 1.0 s
    kit.write_wav(tmp_path / "synth.wav", tone, 48000)
    kit.write_wav(tmp_path / "backing.wav", back, 22050)
    kit.stats(tmp_path, "synth", wav_t_start=0.0)
    kit.stats(tmp_path, "music", wav_t_start=0.5)
    data = SessionData(tmp_path)
    out = mix(data, tmp_path / "performance.wav")
    x, rate = _read(out)
    assert rate == 48000 and len(x) == 48000 * 3
    peak = int(np.argmax(np.abs(x)))
    assert abs(peak - 48000) <= 3
    assert np.abs(x).max() <= 32767 * 0.9 and np.abs(x).max() > 32767 * 0.85
    assert data.warnings == []


def test_mix_with_one_or_no_source(tmp_path):
    kit.write_wav(tmp_path / "backing.wav", 0.1 * np.ones(1000), 8000)
    kit.stats(tmp_path, "music", wav_t_start=0.0)
    data = SessionData(tmp_path)
    x, rate = _read(mix(data, tmp_path / "performance.wav"))
    assert rate == 8000 and len(x) == 1000
    assert any("synth.wav missing" in w for w in data.warnings)
    (tmp_path / "backing.wav").unlink()
    (tmp_path / "performance.wav").unlink()
    data = SessionData(tmp_path)
    assert mix(data, tmp_path / "performance.wav") is None
    assert not (tmp_path / "performance.wav").exists()
    assert any("performance.wav not written" in w for w in data.warnings)


def _whole(data, name):
    """A WAV of the session read whole through the reports' reader: (mono samples, rate)."""
    stream = data.wav_stream(name)
    return stream.mono(0, stream.frames), stream.rate


def test_unfinished_wav_header_is_read(tmp_path):
    """A writer killed before fixing its header leaves data size 0: the samples present are still read."""
    kit.write_wav(tmp_path / "synth.wav", 0.5 * np.ones(4800), 48000)
    raw = bytearray((tmp_path / "synth.wav").read_bytes())
    raw[40:44] = b"\0\0\0\0"
    (tmp_path / "synth.wav").write_bytes(bytes(raw) + b"\x01")  # plus half a sample
    data = SessionData(tmp_path)
    x, rate = _whole(data, "synth.wav")
    assert rate == 48000 and len(x) == 4800 and x[0] == pytest.approx(0.5, abs=1e-3)
    assert any("header" in w for w in data.warnings)


def test_samples_beyond_the_header_sizes_are_read(tmp_path):
    """audio/wavfile.py rewrites its sizes periodically: a kill leaves samples after the declared data size."""
    kit.write_wav(tmp_path / "synth.wav", 0.5 * np.ones(4800), 48000)
    raw = bytearray((tmp_path / "synth.wav").read_bytes())
    raw[40:44] = (2 * 1000).to_bytes(4, "little")  # the header covers only the first 1000 samples
    (tmp_path / "synth.wav").write_bytes(bytes(raw))
    data = SessionData(tmp_path)
    x, _ = _whole(data, "synth.wav")
    assert len(x) == 4800
    assert any("header" in w for w in data.warnings)
    # a real chunk after the data (a LIST tag) is not taken for samples
    kit.write_wav(tmp_path / "tagged.wav", 0.5 * np.ones(4800), 48000)
    with open(tmp_path / "tagged.wav", "ab") as f:
        f.write(b"LIST" + (4).to_bytes(4, "little") + b"INFO")
    data = SessionData(tmp_path)
    x, _ = _whole(data, "tagged.wav")
    assert len(x) == 4800 and data.warnings == []


def test_rap_notes_hit_at_any_pitch_and_golden_rap_counts_double(tmp_path):
    """UltraStar's R and G notes are spoken: any played pitch during them hits; G weighs like a golden note."""
    from game.song import Note, Song
    notes = (Note(1.0, 1.0, 60, "normal", "a", 0), Note(2.5, 1.0, 62, "rap", "b", 0),
             Note(4.0, 1.0, 64, "golden_rap", "c", 1))
    song = Song("Rap", "", 120.0, notes)
    # a pitch far from every target, sounding only during the two rap notes
    kit.write_synth(tmp_path, lambda t: (80.0, 0.8) if 2.5 <= t < 3.5 or 4.0 <= t < 5.0 else (80.0, 0.0), 6.0)
    result, _ = _score(tmp_path, song)
    hit = {n["kind"]: n["hit_fraction"] for n in result["notes"]}
    assert hit["normal"] == 0 and hit["rap"] > 0.9 and hit["golden_rap"] > 0.9
    assert result["notes_points"] == pytest.approx(9000 * 3 / 4 * (hit["rap"] + 2 * hit["golden_rap"]) / 3, abs=1)
