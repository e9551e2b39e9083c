"""The synth's block computation, driven exactly as the callback drives it, with a hand state in shared memory."""
from __future__ import annotations

import math
import os
import tracemalloc

import numpy as np
import pytest

from audio.synth import HARMONICS, NORM, Voice
from game.handstate import HAND, HAND_FIELDS, create_hand, create_voice
from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load

SETTINGS = Settings()
PM = PitchMap.for_song(load(SETTINGS.song), SETTINGS)
BLOCK_S = SETTINGS.block / SETTINGS.sample_rate


@pytest.fixture
def shm():
    tag = f"test-voice-{os.getpid()}"
    hand = create_hand(f"{tag}-hand")
    voice = create_voice(f"{tag}-voice")
    yield hand, voice
    hand.close()
    voice.close()


def put(hand, present=True, area=0.04, frame=0, present2=False, y2=0.0):
    v = np.zeros(len(HAND_FIELDS))
    v[HAND["present"]], v[HAND["area"]], v[HAND["frame_index"]] = float(present), area, frame
    v[HAND["t_capture"]] = frame * 0.033
    v[HAND["present2"]], v[HAND["y2"]] = float(present2), y2
    hand.write(v)


def play(voice: Voice, blocks: int, t=[0.0]):
    out = []
    for _ in range(blocks):
        out.append(voice.render(t[0]).copy())
        t[0] += BLOCK_S
    return np.concatenate(out)


def max_step(midi: float, amp: float) -> float:
    """The largest sample-to-sample change the waveform itself makes at this pitch and amplitude."""
    w = 2 * math.pi * 440 * 2 ** ((midi - 69) / 12) / SETTINGS.sample_rate
    return amp * NORM * w * sum(k * h for k, h in enumerate(HARMONICS, 1))


def test_glide_reaches_target_pitch(shm):
    hand, vrec = shm
    v = Voice(SETTINGS, PM, hand, vrec)
    put(hand, area=0.02)
    play(v, 20)
    assert v.midi == pytest.approx(PM.midi(0.02), abs=1e-9)  # an onset starts on its pitch
    put(hand, area=0.10, frame=1)
    play(v, 1)
    first = v.midi
    assert PM.midi(0.02) < first < PM.midi(0.10) - 1.0, "glide: not an instant jump"
    play(v, int(7 * SETTINGS.glide_ms / 1000 / BLOCK_S) + 1)
    assert v.midi == pytest.approx(PM.midi(0.10), abs=0.05)
    rec = vrec.read()
    assert rec["midi"] == pytest.approx(v.midi) and rec["frame_index"] == 1
    assert rec["amplitude"] == pytest.approx(SETTINGS.synth_volume)


def test_dominant_frequency_is_the_mapped_pitch(shm):
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    put(hand, area=0.05)
    x = play(v, 200)[-8192:]
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    hz = np.argmax(spec) * SETTINGS.sample_rate / x.size
    want = 440 * 2 ** ((PM.midi(0.05) - 69) / 12)
    assert abs(12 * math.log2(hz / want)) < 0.25


def test_silent_without_hand(shm):
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    assert not np.any(play(v, 30)), "never-written hand state must be silence"
    put(hand, present=False, area=0.05)
    assert not np.any(play(v, 30))
    put(hand, present=True, area=0.05)
    assert np.abs(play(v, 30)).max() > 0.3
    put(hand, present=False, area=0.05)
    release_blocks = int(SETTINGS.release_ms / 1000 / BLOCK_S) + 2
    play(v, release_blocks)
    assert not np.any(play(v, 10)), "release must end in exact silence"
    assert v.row[3] == 0.0


def test_second_hand_sets_volume(shm):
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    put(hand, area=0.05, present2=True, y2=0.75)
    play(v, 40)
    assert v.amp == pytest.approx(SETTINGS.synth_volume * 0.25)


def test_click_free_at_start_stop_and_note_changes(shm):
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    parts = [play(v, 10)]
    put(hand, area=0.012)                       # start, low
    parts.append(play(v, 60))
    put(hand, area=0.15)                        # a leap near the top of the range
    parts.append(play(v, 60))
    put(hand, area=0.03)
    parts.append(play(v, 3))
    put(hand, present=False, area=0.03)         # stop in the middle of a glide
    parts.append(play(v, 30))
    put(hand, area=0.08)                        # restart
    parts.append(play(v, 30))
    x = np.concatenate(parts)
    allowed = max_step(PM.high_midi, SETTINGS.synth_volume) * 1.05
    assert allowed < 0.15 * SETTINGS.synth_volume, "the bound must be able to catch a click"
    steps = np.abs(np.diff(x.astype(np.float64)))
    assert steps.max() <= allowed, f"jump of {steps.max():.4f} > {allowed:.4f} at sample {steps.argmax()}"
    assert np.abs(x).max() > 0.5 * SETTINGS.synth_volume


def test_callback_code_does_not_allocate(shm):
    hand, vrec = shm
    v = Voice(SETTINGS, PM, hand, vrec)
    put(hand, area=0.05)
    tracemalloc.start()
    try:
        for i in range(20):
            v.render(i * BLOCK_S)
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(3000):
            put(hand, present=(i // 100) % 2 == 0, area=0.02 + (i % 50) * 0.002, frame=i)
            v.render(i * BLOCK_S)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    block_bytes = SETTINGS.block * 4
    assert cur - base < 1024, f"memory grew by {cur - base} bytes over 3000 blocks"
    assert peak - base < block_bytes, f"a temporary of {peak - base} bytes: the callback allocates arrays"
