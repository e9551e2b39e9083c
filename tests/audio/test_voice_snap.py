"""Pitch snapping: which pitches are allowed (the song's scale transposed, in every octave, or every semitone), how
strongly the hand is pulled to them, that the pull never makes the pitch jump (below strength 1), and that the voice
plays and logs the snapped pitch."""
from __future__ import annotations

import math

import numpy as np
import pytest

from audio.pitchsnap import PitchSnap
from audio.synth import Voice
from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import Note, Song, load
from voicekit import hand_and_voice_records, play, put

BASE = Settings(block=256)   # the settling counts below are in 256-frame blocks
ODE = load("ode_to_joy")                      # C D E F G only
SWEEP = np.linspace(40.0, 90.0, 200001)       # hand pitches 0.00025 semitones apart


def snapped(snap: PitchSnap, pitches=SWEEP) -> np.ndarray:
    return np.array([snap.pull(float(m)) for m in pitches])


def test_off_and_zero_strength_leave_the_pitch_alone():
    for snap in (PitchSnap("off", 1.0), PitchSnap("chromatic", 0.0), PitchSnap("scale", 0.0, [0, 2, 4])):
        assert not snap.active
        assert np.array_equal(snapped(snap, SWEEP[::97]), SWEEP[::97])


def test_full_strength_plays_exactly_the_nearest_allowed_pitch():
    chromatic = snapped(PitchSnap("chromatic", 1.0), SWEEP[::7])
    assert np.array_equal(chromatic, np.floor(SWEEP[::7] + 0.5))
    scale = PitchSnap.for_song(ODE, BASE.replace(snap="scale", snap_strength=1.0))
    assert scale.pull(60.9) == 60.0 and scale.pull(61.1) == 62.0      # C#4 is not in the song: C4 or D4
    assert scale.pull(64.4) == 64.0 and scale.pull(64.6) == 65.0      # E F: a semitone apart
    assert scale.pull(65.9) == 65.0 and scale.pull(66.1) == 67.0      # F G: a tone


def test_the_song_scale_in_every_octave_and_transposed():
    snap = PitchSnap.for_song(ODE, BASE.replace(snap="scale", snap_strength=1.0))
    assert snap.pitch_classes == (0, 2, 4, 5, 7)
    played = {snap.pull(float(m)) for m in range(0, 128)}
    assert {m % 12 for m in played} == {0, 2, 4, 5, 7}
    assert {24.0, 36.0, 96.0, 108.0} <= played, "octaves far from the song's own range too"
    up = PitchSnap.for_song(ODE, BASE.replace(snap="scale", snap_strength=1.0, transpose=2))
    assert up.pitch_classes == (2, 4, 6, 7, 9)
    assert up.pull(66.2) == 66.0, "F#: the song's E transposed up a tone"


def test_the_scale_is_the_sung_notes():
    notes = (Note(0.0, 1.0, 60), Note(1.0, 1.0, 64, kind="golden"), Note(2.0, 1.0, 61, kind="freestyle"),
             Note(3.0, 1.0, 66, kind="rap"))
    song = Song("t", "a", 120.0, notes)
    assert PitchSnap.for_song(song, BASE.replace(snap="scale")).pitch_classes == (0, 4)
    rap_only = Song("t", "a", 120.0, notes[3:])
    assert PitchSnap.for_song(rap_only, BASE.replace(snap="scale")).pitch_classes == (6,)


@pytest.mark.parametrize("strength", [0.25, 0.5, 0.75, 0.95])
@pytest.mark.parametrize("mode", ["chromatic", "scale"])
def test_the_pull_is_continuous_monotonic_and_pulls(mode, strength):
    snap = PitchSnap.for_song(ODE, BASE.replace(snap=mode, snap_strength=strength))
    out = snapped(snap)
    steps = np.diff(out)
    p = 1.0 / (1.0 - strength)
    assert steps.min() >= 0.0, "a higher hand never plays lower"
    assert steps.max() <= p * (SWEEP[1] - SWEEP[0]) * 1.001, "no jump anywhere, midpoints included: slope <= p"
    allowed = np.array([m for m in range(20, 110) if m % 12 in snap.pitch_classes], float)
    idx = np.searchsorted(allowed, SWEEP, side="right")
    lo, hi = allowed[idx - 1], allowed[idx]
    dist_in = np.minimum(SWEEP - lo, hi - SWEEP)
    dist_out = np.minimum(np.abs(out - lo), np.abs(hi - out))
    assert np.all(dist_out <= dist_in + 1e-12), "always nearer to (or as near as) the nearest allowed pitch"
    half = (hi - lo) / 2
    expected = half * (dist_in / half) ** p                             # the documented power curve
    assert np.allclose(dist_out, expected, atol=1e-9)


def test_strength_half_halves_a_quarter_tone_twice():
    snap = PitchSnap("chromatic", 0.5)
    assert snap.pull(60.25) == pytest.approx(60.125)
    assert snap.pull(60.75) == pytest.approx(60.875)
    assert snap.pull(60.5) == pytest.approx(60.5), "the midpoint stays the midpoint: both sides meet there"


def test_pull_is_safe_at_the_edges():
    snap = PitchSnap("chromatic", 0.6)
    for m in (-5.0, 0.0, 126.9, 127.0, 400.0, math.nan, math.inf):
        assert 0.0 <= snap.pull(m) <= 127.0


@pytest.mark.parametrize("settings", [BASE.replace(snap="scale", snap_strength=1.0),
                                      BASE.replace(snap="chromatic", snap_strength=0.5),
                                      BASE.replace(snap="scale", snap_strength=0.8, transpose=-3)])
def test_the_voice_plays_and_logs_the_snapped_pitch(settings):
    pm = PitchMap.for_song(ODE, settings)
    snap = PitchSnap.for_song(ODE, settings)
    with hand_and_voice_records("snap") as (hand, vrec):
        voice = Voice(settings, pm, hand, vrec, song=ODE)
        for hand_midi in (61.3, 65.8, 58.6):
            put(hand, area=pm.area(hand_midi + settings.transpose), frame=1)
            x = play(voice, 150)[-16384:]
            want = snap.pull(hand_midi + settings.transpose)
            assert want != pytest.approx(hand_midi + settings.transpose, abs=0.05), "the case must pull"
            assert voice.row[1] == pytest.approx(want, abs=1e-6), "synth.csv midi is the snapped pitch"
            assert vrec.read()["midi"] == pytest.approx(want, abs=1e-6), "and so is what the window shows"
            spec = np.abs(np.fft.rfft(x * np.hanning(x.size), 8 * x.size))
            hz = np.argmax(spec) * settings.sample_rate / (8 * x.size)
            assert 1200 * math.log2(hz / (440 * 2 ** ((want - 69) / 12))) == pytest.approx(0.0, abs=5.0)


def test_scale_snapping_needs_the_song():
    with pytest.raises(ValueError, match="song"):
        Voice(BASE.replace(snap="scale"), PitchMap.for_song(ODE, BASE))
