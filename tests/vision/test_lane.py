"""The note lane's arithmetic: pitch -> y, time -> x, note -> bar, visible notes, hit runs, pitch trail."""
from __future__ import annotations

import numpy as np
import pytest

from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load
from vision.lane import PAD_FRACTION, HitTrack, LaneGeometry, NoteTimes, PitchTrail, is_hit


def lane(**kw) -> LaneGeometry:
    args = dict(x0=0, y0=10, width=640, height=160, low_midi=53.0, high_midi=69.0)
    args.update(kw)
    return LaneGeometry(**args)


def test_pitch_axis_spans_the_synths_range_with_transpose():
    song = load("ode_to_joy")   # G3..G4
    settings = Settings(transpose=3, pitch_margin=2.0)
    g = LaneGeometry.for_song(song, settings, 0, 0, 640, 160)
    pm = PitchMap.for_song(song, settings)
    assert (g.low_midi, g.high_midi) == (pm.low_midi, pm.high_midi) == (55 + 3 - 2, 67 + 3 + 2)


def test_pitch_to_y():
    g = lane()
    pad = 160 * PAD_FRACTION
    assert g.y_of(69.0) == pytest.approx(10 + pad)            # highest pitch at the top, inside the padding
    assert g.y_of(53.0) == pytest.approx(10 + 160 - pad)      # lowest at the bottom
    assert g.y_of(61.0) == pytest.approx(10 + 80)             # the middle pitch in the middle
    assert g.px_per_semitone > 0 and g.y_of(62.0) - g.y_of(63.0) == pytest.approx(g.px_per_semitone)  # higher: up
    assert g.y_of(90.0) == g.y_of(69.0) and g.y_of(20.0) == g.y_of(53.0)        # out of range: at the edge
    np.testing.assert_allclose(g.ys_of(np.array([53.0, 61.0, 69.0, 99.0])),
                               [g.y_of(53.0), g.y_of(61.0), g.y_of(69.0), g.y_of(69.0)])


def test_time_to_x():
    g = lane()
    assert g.now_x == round(640 * 0.22)
    assert g.x_of(12.0, 12.0) == g.now_x                      # now is on the now line
    assert g.x_of(12.0 + g.ahead_s, 12.0) == pytest.approx(640)   # the right edge is ahead_s ahead
    assert g.x_of(12.0 - g.behind_s, 12.0) == pytest.approx(0)    # the left edge is behind_s ago
    assert g.x_of(13.0, 12.0) - g.x_of(12.5, 12.0) == pytest.approx(g.px_per_s / 2)


def test_note_to_bar_rectangle():
    g = lane()
    x0, y0, x1, y1 = g.bar(start=5.0, end=5.5, midi=60, now=4.0)
    assert x0 == round(g.x_of(5.0, 4.0)) and x1 == round(g.x_of(5.5, 4.0)) - 1
    assert x1 - x0 + 1 == pytest.approx(0.5 * g.px_per_s, abs=1)
    assert y1 - y0 + 1 == g.bar_px
    assert (y0 + y1 + 1) / 2 == pytest.approx(g.y_of(60), abs=0.5)    # centred on the pitch
    later = g.bar(start=5.0, end=5.5, midi=60, now=4.5)                 # half a second later: moved left
    assert later[0] == pytest.approx(x0 - 0.5 * g.px_per_s, abs=1) and later[1:4:2] == (y0, y1)


def test_visible_notes_and_note_at_agree_with_the_song():
    song = load("frere_jacques")
    notes = NoteTimes(song)
    for t in np.arange(-1.0, song.duration + 1.0, 0.037):
        i = notes.index_at(t)
        assert (notes.notes[i] if i is not None else None) == song.note_at(t)
        shown = set(notes.visible(t - 1.0, t + 3.0))
        expected = {k for k, n in enumerate(notes.notes) if n.end > t - 1.0 and n.start < t + 3.0}
        assert shown == expected
    assert NoteTimes(song, transpose=-2).midi[0] == song.notes[0].midi - 2


def test_hit_runs_grow_and_clip_to_the_note():
    song = load("twinkle")
    notes = NoteTimes(song)
    track = HitTrack(notes)
    n = notes.notes[0]
    dt = 1 / 30
    t = n.start - dt / 2
    while t < n.end + 0.1:        # hit through the first 40 % of the note, a miss, then hit to its end
        frac = (t - n.start) / n.duration
        track.update(t - dt, t, 0 if n.start <= t < n.end else None, not 0.4 <= frac < 0.6)
        t += dt
    runs = track.runs[0]
    assert len(runs) == 2
    assert runs[0][0] == pytest.approx(n.start) and runs[0][1] == pytest.approx(n.start + 0.4 * n.duration, abs=dt)
    assert runs[1][0] == pytest.approx(n.start + 0.6 * n.duration, abs=dt) and runs[1][1] <= n.end
    assert track.hit_seconds(0) == pytest.approx(0.8 * n.duration, abs=2 * dt)


def test_is_hit_rule():
    assert is_hit(60, 60.9, 0.5, 1.0) and not is_hit(60, 61.1, 0.5, 1.0)
    assert not is_hit(60, 60.0, 0.01, 1.0)      # silent
    assert not is_hit(None, 60.0, 0.5, 1.0)     # no target


def test_pitch_trail_keeps_the_latest_in_order():
    trail = PitchTrail(size=8)
    for i in range(20):
        trail.add(i * 0.1, 60 + i, i % 3 != 0)
    ts, ms, audible = trail.between(1.45, 1.75)
    np.testing.assert_allclose(ts, [1.5, 1.6, 1.7])
    np.testing.assert_allclose(ms, [75, 76, 77])
    assert list(audible) == [False, True, True]
    ts, _, _ = trail.between(0.0, 99.0)
    assert len(ts) == 8 and np.all(np.diff(ts) > 0)
