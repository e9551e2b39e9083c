"""Scoring against hand-worked figures (DESIGN.md section 5): tracks are built sample by sample on the 10 ms grid,
so every expected number below follows from the rules by hand.

The rules used: 9000 note points shared by weight (duration x 2 for golden, x 0 for freestyle) times each note's
hit fraction; 1000 line bonus shared equally by the lines with scored notes, each scaled by its line's
weighted hit fraction.
"""
from __future__ import annotations

import numpy as np
import pytest

from game.scoring import score
from game.song import Note, Song
from reports.track import STEP, Track, index

EASY, MEDIUM, HARD = 2.0, 1.0, 0.5


def song_of(*notes: tuple) -> Song:
    """A song from (start, duration, midi, kind, line) tuples; times on the 10 ms grid so sample counts are exact."""
    return Song("Test", "Tester", 120.0, tuple(Note(s, d, m, k, "la", li) for s, d, m, k, li in notes))


def track_of(end: float, *played: tuple) -> Track:
    """A played track from (start, end, midi) segments; silent elsewhere."""
    n = index(end)
    pitch = np.full(n, np.nan)
    for a, b, midi in played:
        pitch[index(a):index(b)] = midi
    return Track((np.arange(n) + 0.5) * STEP, pitch)


def as_sung(song: Song, shift: float = 0.0, offset: float = 0.0, only=None) -> list[tuple]:
    """Each note (or those whose position is in ``only``) played at its pitch + offset, ``shift`` seconds late."""
    return [(n.start + shift, n.end + shift, n.midi + offset) for i, n in enumerate(song.notes)
            if only is None or i in only]


# two lines of four notes, 0.5 s each with 0.1 s gaps, pitches a whole tone apart
EIGHT = song_of(*[(1.0 + 0.6 * i, 0.5, 60 + 2 * i, "normal", i // 4) for i in range(8)])
END = 7.0


def test_perfect_performance_scores_10000():
    result = score(track_of(END, *as_sung(EIGHT)), EIGHT, tolerance=HARD, difficulty="hard")
    assert result["total"] == 10000 and result["rating"] == "Superstar"
    assert result["notes_points"] == 9000 and result["line_bonus"] == 1000
    assert result["longest_streak"] == 8
    assert [(li["line"], li["hit_fraction"], li["points"], li["rating"]) for li in result["lines"]] == [
        (0, 1.0, 5000.0, "Superstar"), (1, 1.0, 5000.0, "Superstar")]
    for note in result["notes"]:
        assert note["samples"] == 50 and note["hit_fraction"] == 1.0
        assert note["first_hit_ms"] == 0 and note["played_midi"] == note["midi"]
        assert note["mean_error_cents"] == 0.0 and note["mean_abs_error_cents"] == 0.0
    assert result["delay"] == {"estimated_ms": 0, "applied_ms": 0, "mode": "fixed",
                               "hit_share_at_estimate": 1.0, "hit_share_at_zero": 1.0}
    assert result["difficulty"] == "hard" and result["tolerance"] == HARD and result["octave_fold"] is False


def test_silence_scores_0():
    result = score(track_of(END), EIGHT, tolerance=EASY)
    assert result["total"] == 0 and result["rating"] == "Tone Deaf" and result["longest_streak"] == 0
    assert result["sounding_share"] == 0.0
    assert all(li["hit_fraction"] == 0 and li["points"] == 0 and li["rating"] == "Tone Deaf"
               for li in result["lines"])
    for note in result["notes"]:
        assert note["hit_fraction"] == 0 and note["first_hit_ms"] is None and note["played_midi"] is None
        assert note["mean_error_cents"] is None
    assert result["delay"]["estimated_ms"] is None and result["delay"]["applied_ms"] == 0


@pytest.mark.parametrize("octaves", [1, -1, 2])
def test_constant_octave_error_scores_10000_folded_and_0_unfolded_on_hard(octaves):
    track = track_of(END, *as_sung(EIGHT, offset=12 * octaves + 0.3))   # 30 cents sharp, whole octaves off
    folded = score(track, EIGHT, tolerance=HARD, octave_fold=True)
    plain = score(track, EIGHT, tolerance=HARD, octave_fold=False)
    assert folded["total"] == 10000 and folded["octave_fold"] is True
    assert plain["total"] == 0
    assert all(n["played_midi"] == pytest.approx(n["midi"] + 0.3) for n in folded["notes"])
    assert all(n["mean_error_cents"] == pytest.approx(30.0) for n in folded["notes"])
    assert all(n["played_midi"] == pytest.approx(n["midi"] + 12 * octaves + 0.3) for n in plain["notes"])
    # the delay search folds too: the octave-off performance is found in time
    assert folded["delay"]["estimated_ms"] == 0 and folded["delay"]["hit_share_at_zero"] == 1.0


def test_every_other_note_scores_half():
    """Notes 0, 2, 4, 6 right, the others silent: 9000 x 4/8 = 4500; each line half hit: 1000 x 0.5 = 500."""
    result = score(track_of(END, *as_sung(EIGHT, only={0, 2, 4, 6})), EIGHT, tolerance=MEDIUM)
    assert result["notes_points"] == 4500.0 and result["line_bonus"] == 500.0 and result["total"] == 5000
    assert result["rating"] == "Wannabe" and result["longest_streak"] == 1
    assert [li["hit_fraction"] for li in result["lines"]] == [0.5, 0.5]
    assert [li["points"] for li in result["lines"]] == [2500.0, 2500.0]
    assert [li["rating"] for li in result["lines"]] == ["Wannabe", "Wannabe"]
    assert [n["hit_fraction"] for n in result["notes"]] == [1.0, 0.0] * 4


def test_half_the_notes_weighted_by_duration():
    """Line 0: 0.5, 0.25, 0.5, 0.25 s; line 1: four 0.5 s; notes 0 and 2 of each line played.
    Weights 1.5 + 2.0 = 3.5 s, hit 1.0 + 1.0 s: notes 9000 x 2/3.5 = 5142.857;
    lines 1.0/1.5 = 2/3 and 1.0/2.0 = 1/2: bonus 1000 x (2/3 + 1/2) / 2 = 583.333; total 5726.19 -> 5726."""
    durations = [0.5, 0.25, 0.5, 0.25, 0.5, 0.5, 0.5, 0.5]
    song = song_of(*[(1.0 + 0.6 * i, d, 60 + 2 * i, "normal", i // 4) for i, d in enumerate(durations)])
    result = score(track_of(END, *as_sung(song, only={0, 2, 4, 6})), song, tolerance=MEDIUM)
    assert result["notes_points"] == pytest.approx(5142.9, abs=0.05)
    assert result["line_bonus"] == pytest.approx(583.3, abs=0.05)
    assert result["total"] == 5726
    assert [li["hit_fraction"] for li in result["lines"]] == [0.6667, 0.5]
    # line 0: 9000 x 1/3.5 + 1000 x (2/3) / 2 = 2571.43 + 333.33; line 1: 2571.43 + 250
    assert [li["points"] for li in result["lines"]] == [pytest.approx(2904.8, abs=0.05),
                                                        pytest.approx(2821.4, abs=0.05)]
    assert [li["rating"] for li in result["lines"]] == ["Hopeful", "Wannabe"]   # 6667 and 5000


def test_golden_counts_double_and_freestyle_nothing():
    """Line 0: normal 0.5 s (missed), golden 0.5 s (hit); line 1: freestyle 1.0 s (played), normal 0.5 s, golden
    0.5 s (both missed); line 2: only a freestyle note. Weights 0.5 + 1.0 + 0 + 0.5 + 1.0 = 3.0, hit 1.0:
    notes 9000 / 3 = 3000. Lines with scored notes: 0 (2/3 hit) and 1 (0): bonus 1000 x (2/3 + 0) / 2 = 333.33."""
    song = song_of((1.0, 0.5, 60, "normal", 0), (1.6, 0.5, 62, "golden", 0),
                   (2.5, 1.0, 64, "freestyle", 1), (3.6, 0.5, 65, "normal", 1), (4.2, 0.5, 67, "golden", 1),
                   (5.0, 1.0, 69, "freestyle", 2))
    played = [(1.6, 2.1, 62), (2.5, 3.5, 64), (5.0, 6.0, 69)]
    result = score(track_of(END, *played), song, tolerance=MEDIUM)
    assert result["notes_points"] == 3000.0 and result["line_bonus"] == pytest.approx(333.3, abs=0.05)
    assert result["total"] == 3333 and result["rating"] == "Amateur"
    assert [(li["line"], li["hit_fraction"], li["rating"]) for li in result["lines"]] == [
        (0, 0.6667, "Hopeful"), (1, 0.0, "Tone Deaf")]
    assert result["lines"][0]["points"] == pytest.approx(3333.3, abs=0.05)
    # singing the freestyle notes or not changes nothing; they neither make nor break a streak
    without = score(track_of(END, (1.6, 2.1, 62)), song, tolerance=MEDIUM)
    assert without["total"] == 3333 and without["longest_streak"] == result["longest_streak"] == 1
    # the golden note alone missed instead of the normal one: 9000 x 0.5/3 = 1500, bonus 1000 x (1/3) / 2
    swapped = score(track_of(END, (1.0, 1.5, 60)), song, tolerance=MEDIUM)
    assert swapped["notes_points"] == 1500.0 and swapped["total"] == 1667


def test_longest_streak_counts_notes_at_least_half_hit():
    """Hit, miss, half (50 of 100 samples: counts), hit, hit, hit, 49% (does not count), hit: longest run 4."""
    song = song_of(*[(1.0 + 1.2 * i, 1.0, 60 + i, "normal", i // 4) for i in range(8)])
    part = {2: 0.5, 6: 0.49}
    played = [(n.start, n.start + n.duration * part.get(i, 1.0), n.midi) for i, n in enumerate(song.notes) if i != 1]
    result = score(track_of(11.0, *played), song, tolerance=MEDIUM)
    assert [n["hit_fraction"] for n in result["notes"]] == [1, 0, 0.5, 1, 1, 1, 0.49, 1]
    assert result["longest_streak"] == 4


def test_first_hit_and_errors_per_note():
    """Note 0 reached 130 ms in, at +0.3 semitone; note 1: 0.25 s at -0.2 then 0.25 s at +0.4 (hits on Medium
    from its start); note 2 first 0.2 s a fifth off (misses), then right; note 3 never hit (a fifth off)."""
    song = song_of((1.0, 0.5, 60, "normal", 0), (1.6, 0.5, 62, "normal", 0), (2.2, 0.5, 64, "normal", 0),
                   (2.8, 0.5, 65, "normal", 0))
    played = [(1.13, 1.5, 60.3), (1.6, 1.85, 61.8), (1.85, 2.1, 62.4), (2.2, 2.4, 71), (2.4, 2.7, 64),
              (2.8, 3.3, 72)]
    notes = score(track_of(4.0, *played), song, tolerance=MEDIUM)["notes"]
    assert [n["first_hit_ms"] for n in notes] == [130, 0, 200, None]
    assert [n["hit_fraction"] for n in notes] == [0.74, 1.0, 0.6, 0.0]
    assert notes[0]["mean_error_cents"] == pytest.approx(30.0) and notes[0]["played_midi"] == pytest.approx(60.3)
    assert notes[1]["mean_error_cents"] == pytest.approx(10.0) and notes[1]["mean_abs_error_cents"] == pytest.approx(30.0)
    # 20 samples 700 cents sharp, 30 on the note: mean 280, median the note itself
    assert notes[2]["mean_error_cents"] == pytest.approx(280.0) and notes[2]["played_midi"] == 64.0
    assert notes[3]["played_midi"] == 72.0 and notes[3]["mean_error_cents"] == pytest.approx(700.0)


@pytest.mark.parametrize("late_ms", [200, -150, 370])
def test_delay_is_found_and_applied(late_ms):
    """Played exactly right but late_ms late: the estimate finds it (+-20 ms); auto or the number applies it."""
    track = track_of(END + 1.0, *as_sung(EIGHT, shift=late_ms / 1000.0))
    plain = score(track, EIGHT, tolerance=MEDIUM)
    assert plain["delay"]["estimated_ms"] == pytest.approx(late_ms, abs=20)
    assert plain["delay"]["applied_ms"] == 0 and plain["delay"]["mode"] == "fixed"
    # unshifted, each 0.5 s note overlaps its played note by 0.5 s less the delay (the neighbours are 2 semitones off)
    assert plain["delay"]["hit_share_at_estimate"] == 1.0
    assert plain["delay"]["hit_share_at_zero"] == pytest.approx(1 - abs(late_ms) / 500, abs=1e-4)
    assert plain["total"] == round(10000 * (1 - abs(late_ms) / 500))
    auto = score(track, EIGHT, tolerance=MEDIUM, delay="auto")
    assert auto["total"] == 10000 and auto["delay"]["mode"] == "auto"
    assert auto["delay"]["applied_ms"] == auto["delay"]["estimated_ms"] == plain["delay"]["estimated_ms"]
    fixed = score(track, EIGHT, tolerance=MEDIUM, delay=str(late_ms))
    assert fixed["total"] == 10000 and fixed["delay"]["applied_ms"] == late_ms and fixed["delay"]["mode"] == "fixed"
    assert all(n["first_hit_ms"] == 0 for n in fixed["notes"])
    if late_ms > 0:   # unapplied, each note's first hit comes that late
        assert all(n["first_hit_ms"] == late_ms for n in plain["notes"])


def test_a_wrong_fixed_delay_costs_points():
    """Applying 100 ms to a player who was on time shifts every note 10 samples of 50 off: 80% of each note."""
    result = score(track_of(END, *as_sung(EIGHT)), EIGHT, tolerance=MEDIUM, delay="100")
    assert [n["hit_fraction"] for n in result["notes"]] == [0.8] * 8
    assert result["total"] == 8000 and result["delay"]["estimated_ms"] == 0


def test_transpose_moves_the_targets():
    result = score(track_of(END, *as_sung(EIGHT, offset=3)), EIGHT, tolerance=HARD, transpose=3)
    assert result["total"] == 10000 and result["transpose"] == 3
    assert result["notes"][0]["midi"] == 63 and result["notes"][0]["name"] == "D#4"
