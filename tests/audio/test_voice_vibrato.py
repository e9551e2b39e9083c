"""Vibrato: its depth and rate as heard (the pitch read back from the sound), its LFO running on across blocks, and
its fading in after an onset or a move to another note, like a player's."""
from __future__ import annotations

import numpy as np
import pytest

from audio.synth import VIBRATO_DELAY_S, VIBRATO_FADE_IN_S, Voice
from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load
from voicekit import hand_and_voice_records, pitch_cents, play, put

BASE = Settings().replace(vibrato_cents=40.0, vibrato_hz=5.5)
SONG = load(BASE.song)
NOTE = 64.0                                    # E4, inside ode_to_joy's mapped range
HZ = 440.0 * 2.0 ** ((NOTE - 69.0) / 12.0)
LEAD_S = 0.1                                   # silence before the onset


@pytest.fixture
def records():
    with hand_and_voice_records("vibrato") as r:
        yield r


def played(settings, records, seconds: float, note: float = NOTE):
    """The voice's output: LEAD_S of silence, then the hand held at ``note`` for ``seconds``."""
    hand, vrec = records
    pm = PitchMap.for_song(SONG, settings)
    voice = Voice(settings, pm, hand, vrec, song=SONG)
    blocks = lambda s: int(round(s * settings.sample_rate / settings.block))   # noqa: E731
    x0 = play(voice, blocks(LEAD_S))
    put(hand, area=pm.area(note), frame=1)
    return np.concatenate((x0, play(voice, blocks(seconds)))), voice, pm


def window(cents: np.ndarray, rate: float, start: float, end: float) -> np.ndarray:
    return cents[int((LEAD_S + start) * rate):int((LEAD_S + end) * rate)]


@pytest.mark.parametrize("block", [128, 256, 1024])
def test_depth_and_rate_after_the_note_settles(records, block):
    s = BASE.replace(block=block)
    x, _, _ = played(s, records, 2.5)
    rate = s.sample_rate
    cents = window(pitch_cents(x, HZ, rate), rate, 1.0, 2.3)   # past delay and fade-in, away from the FFT's edges
    t = np.arange(cents.size) / rate
    basis = np.column_stack([np.sin(2 * np.pi * s.vibrato_hz * t), np.cos(2 * np.pi * s.vibrato_hz * t),
                             np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(basis, cents, rcond=None)
    depth = float(np.hypot(coef[0], coef[1]))
    residual = cents - basis @ coef
    assert depth == pytest.approx(s.vibrato_cents, rel=0.05), "depth in cents, as set"
    assert abs(coef[2]) < 1.0, "centred on the note"
    assert np.sqrt(np.mean(residual ** 2)) < 1.0, "a clean sine at vibrato_hz: no LFO jumps at block edges"


def test_vibrato_fades_in_after_the_onset(records):
    x, _, _ = played(BASE, records, 1.5)
    rate = BASE.sample_rate
    cents = pitch_cents(x, HZ, rate)
    assert (VIBRATO_DELAY_S, VIBRATO_FADE_IN_S) == (0.2, 0.4), "the times below follow these"
    early = window(cents, rate, 0.03, 0.17)
    halfway = window(cents, rate, 0.3, 0.4)
    full = window(cents, rate, 0.7, 1.4)
    assert np.abs(early).max() < 0.05 * BASE.vibrato_cents, "no vibrato right after the onset"
    assert np.abs(full).max() == pytest.approx(BASE.vibrato_cents, rel=0.08)
    assert 0.15 * BASE.vibrato_cents < np.abs(halfway).max() < 0.7 * BASE.vibrato_cents, "a gradual fade-in"


def test_vibrato_leaves_while_moving_to_another_note_and_comes_back(records):
    hand, _ = records
    x, voice, pm = played(BASE, records, 1.2)
    rate = BASE.sample_rate
    assert voice.vib_level == 1.0
    put(hand, area=pm.area(NOTE - 7.0), frame=2)                   # a leap down a fifth
    y = play(voice, int(1.5 * rate / BASE.block))
    hz = HZ * 2.0 ** (-7.0 / 12.0)
    cents = pitch_cents(np.concatenate((x[-rate // 2:], y)), hz, rate)[rate // 2:]
    settling = cents[int(0.25 * rate):int(0.35 * rate)]
    back = cents[int(1.1 * rate):int(1.45 * rate)]
    assert np.abs(settling).max() < 0.2 * BASE.vibrato_cents, "the vibrato leaves while the pitch moves"
    assert np.abs(back).max() == pytest.approx(BASE.vibrato_cents, rel=0.1), "and comes back on the new note"


def test_no_vibrato_when_off(records):
    x, voice, _ = played(BASE.replace(vibrato_cents=0.0), records, 1.5)
    cents = window(pitch_cents(x, HZ, BASE.sample_rate), BASE.sample_rate, 0.05, 1.4)
    assert np.abs(cents).max() < 1.0
    assert voice.vib_level == 0.0


def test_the_log_shows_the_held_note_not_the_swing(records):
    _, voice, _ = played(BASE, records, 1.5)
    assert voice.vib_level == 1.0
    assert voice.row[1] == pytest.approx(NOTE, abs=1e-6), "synth.csv midi: the note held, scored without the swing"
