"""The hand-size -> pitch mapping shared by synth, window and demo clip."""
import pytest

from game.pitchmap import PitchMap
from game.settings import Settings
from game import song


def test_for_song_spans_the_range_with_margin_and_inverts():
    s = song.load("ode_to_joy")
    pm = PitchMap.for_song(s, Settings())
    assert pm.low_midi == s.lowest - 2 and pm.high_midi == s.highest + 2
    for midi in range(s.lowest, s.highest + 1):
        assert pm.midi(pm.area(midi)) == pytest.approx(midi, abs=1e-9)


def test_bigger_hand_is_higher_and_equal_ratios_give_equal_intervals():
    pm = PitchMap.for_range(60, 72, 0, 0.01, 0.16)
    assert pm.midi(0.02) < pm.midi(0.04) < pm.midi(0.08)
    assert pm.midi(0.04) - pm.midi(0.02) == pytest.approx(pm.midi(0.08) - pm.midi(0.04))
    assert pm.midi(0.001) == 60 and pm.midi(0.9) == 72   # clamped


def test_transpose_moves_the_range():
    s = song.load("twinkle")
    pm = PitchMap.for_song(s, Settings(transpose=-12))
    assert pm.low_midi == s.lowest - 12 - 2


def test_bad_areas_are_refused():
    with pytest.raises(ValueError):
        PitchMap.for_range(60, 72, 2, 0.2, 0.1)
