"""No clicks: the synth's output never steps from one sample to the next by more than its own waveform can.

A click is a discontinuity: the waveform jumps instead of moving. A tone with amplitude A and partials k*f (weights
h_k) moves by at most A * sum(k * h_k) * 2*pi*f/rate between two samples, and a click-free envelope adds at most its
own slope (attack/release, plus the smoothing of the second-hand volume). The check computes that bound per block
from what the voice reports (pitch and amplitude at both ends of the block, plus the vibrato depth) and from the
settings' envelope times, so a jump of the phase, of the amplitude or of the waveform breaks it.

The voice is driven as the audio callback drives it, with a scripted hand in a real HandState record: starts and
stops (also mid-glide and mid-release), leaps across the whole range, a jittery tracker, vibrato, second-hand
volume jumps and flicker, and pitch snapping off / to the song's scale / chromatic at several strengths.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from audio.synth import HARMONICS, NORM, VOLUME_SMOOTH_MS, Voice
from game.handstate import HAND, HAND_FIELDS
from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load

BASE = Settings()
SONG = load(BASE.song)
MARGIN = 1.02          # float32 output and rounding; the bound itself is exact for the waveform
SLOPE = sum(k * h for k, h in enumerate(HARMONICS, 1)) * NORM   # max |dw/dphase| of the normalised waveform


class ScriptedHand:
    """Writes hand states into the real HandState record, one camera frame at a time."""

    def __init__(self, record):
        self.record, self.frame = record, 0
        self.values = np.zeros(len(HAND_FIELDS))

    def put(self, present=True, area=0.04, present2=False, y2=0.0):
        v = self.values
        self.frame += 1
        v[HAND["frame_index"]], v[HAND["t_capture"]] = self.frame, self.frame / 30.0
        v[HAND["present"]], v[HAND["area"]] = float(present), area
        v[HAND["present2"]], v[HAND["y2"]] = float(present2), y2
        self.record.write(v)


def script(pm: PitchMap, seed: int = 1):
    """(blocks to play, hand state) steps: every kind of change the voice must survive without a click."""
    rng = np.random.default_rng(seed)
    low, high = pm.area(pm.low_midi), pm.area(pm.high_midi)
    steps = [(10, dict(present=False))]
    for area in (low, high, low, 0.05):                         # start, play, stop: at both ends of the range
        steps += [(40, dict(area=area)), (30, dict(present=False))]
    steps += [(30, dict(area=low))]
    for _ in range(6):                                          # leaps across the whole range
        steps += [(8, dict(area=high)), (8, dict(area=low))]
    steps += [(2, dict(area=high)), (20, dict(present=False))]  # stop mid-glide
    steps += [(3, dict(area=low)), (3, dict(present=False)), (20, dict(area=high))]   # restart mid-release
    for _ in range(40):                                         # a jittery tracker, one frame per 1-2 blocks
        steps.append((int(rng.integers(1, 3)), dict(area=float(np.exp(rng.uniform(np.log(low), np.log(high)))))))
    for y2 in (0.0, 1.0, 0.0, 0.9, 0.1, 0.5):                   # second-hand volume jumps
        steps.append((15, dict(area=0.05, present2=True, y2=y2)))
    for k in range(12):                                         # the second hand flickers in and out of view
        steps.append((2, dict(area=0.05, present2=k % 2 == 0, y2=0.8)))
    steps.append((20, dict(present=False, present2=True, y2=0.0)))
    steps.append((20, dict(area=0.03, present2=True, y2=1.0)))  # a start at zero volume, then loud
    steps.append((20, dict(area=0.03, present2=True, y2=0.0)))
    n = 120                                                     # a slow sweep up and down: crosses every snap point
    for i in range(2 * n):
        s = i / n if i < n else 2.0 - i / n
        steps.append((1, dict(area=low * (high / low) ** s)))
    steps.append((30, dict(present=False)))
    return steps


def play(settings, hand_voice, steps):
    """Output samples and, per sample, the largest step the waveform and envelope allow there."""
    hand_rec, voice_rec = hand_voice
    pm = PitchMap.for_song(SONG, settings)
    voice = Voice(settings, pm, hand_rec, voice_rec, song=SONG)
    hand = ScriptedHand(hand_rec)
    rate, n = float(settings.sample_rate), settings.block
    vib = settings.vibrato_cents / 100.0
    envelope = settings.synth_volume * (1.0 / (min(settings.attack_ms, settings.release_ms) / 1000.0 * rate)
                                        + 1.0 / (VOLUME_SMOOTH_MS / 1000.0 * rate))
    outs, bounds = [], []
    midi0, amp0, t = voice.midi, voice.amp, 0.0
    for blocks, state in steps:
        hand.put(**state)
        for _ in range(blocks):
            outs.append(voice.render(t).astype(np.float64))
            t += n / rate
            midi1, amp1 = voice.row[1], voice.row[3]                 # what the synth.csv row says: pitch, level
            hz = 440.0 * 2.0 ** ((max(midi0, midi1) + vib - 69.0) / 12.0)
            step = max(amp0, amp1) * SLOPE * 2.0 * math.pi * hz / rate + envelope
            bounds.append(np.full(n, step * MARGIN))
            midi0, amp0 = midi1, amp1
    return np.concatenate(outs), np.concatenate(bounds)


def assert_no_click(x: np.ndarray, bound: np.ndarray, what: str) -> None:
    steps = np.abs(np.diff(np.concatenate(([0.0], x))))          # from silence before the first block
    over = steps > bound
    i = int(np.argmax(steps / bound))
    assert not over.any(), f"{what}: {over.sum()} clicks, worst {steps[i]:.4f} > allowed {bound[i]:.4f} at sample {i}"


CASES = {
    "plain": {},
    "vibrato": dict(vibrato_cents=100.0, vibrato_hz=12.0),
    "vibrato_slow_no_glide": dict(vibrato_cents=60.0, vibrato_hz=4.0, glide_ms=0.0),
    "scale_half": dict(snap="scale", snap_strength=0.5),
    "scale_full": dict(snap="scale", snap_strength=1.0, vibrato_cents=40.0),
    "chromatic_full_no_glide": dict(snap="chromatic", snap_strength=1.0, glide_ms=0.0),
    "chromatic_strong": dict(snap="chromatic", snap_strength=0.9, transpose=5),
    "block_128": dict(block=128, vibrato_cents=50.0, snap="scale", snap_strength=0.7),
    "block_1024": dict(block=1024, vibrato_cents=50.0),
    "short_envelope": dict(attack_ms=3.0, release_ms=5.0, block=64),
}


@pytest.mark.parametrize("case", CASES)
def test_no_clicks(hand_voice, case):
    settings = BASE.replace(**CASES[case])
    x, bound = play(settings, hand_voice, script(PitchMap.for_song(SONG, settings)))
    assert np.abs(x).max() > 0.5 * settings.synth_volume, "the script must play loud"
    assert_no_click(x, bound, case)


def test_the_check_catches_clicks(hand_voice):
    """The same check on the played tone with one discontinuity put in: a phase jump, a cut, a volume jump."""
    x, bound = play(BASE, hand_voice, script(PitchMap.for_song(SONG, BASE)))
    loud = np.flatnonzero(np.abs(x) > 0.4 * BASE.synth_volume)
    i = int(loud[loud.size // 2])
    cut = x.copy()
    cut[i:] = 0.0                                                   # the tone stops dead
    with pytest.raises(AssertionError, match="clicks"):
        assert_no_click(cut, bound, "cut")
    louder = x.copy()
    louder[i:] *= 2.0                                               # the level jumps
    with pytest.raises(AssertionError, match="clicks"):
        assert_no_click(louder, bound, "louder")
    flipped = x.copy()
    flipped[i:] *= -1.0                                             # the phase jumps by half a turn
    with pytest.raises(AssertionError, match="clicks"):
        assert_no_click(flipped, bound, "phase")
    assert bound.max() < 0.1 * BASE.synth_volume, "the bound must be far below the tone's level"
