"""The synth's block computation, driven exactly as the callback drives it, with a hand state in shared memory:
pitch and glide, timbre, envelope times, the second hand's volume, robustness, and no allocation in render().
Clicks: test_clickfree.py; vibrato and snapping: test_voice_vibrato.py, test_voice_snap.py."""
from __future__ import annotations

import math
import sys
import tracemalloc

import numpy as np
import pytest

from audio.synth import HARMONICS, VOLUME_SMOOTH_MS, Voice
from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load
from voicekit import hand_and_voice_records, play, put

SETTINGS = Settings(block=256)   # counts of blocks below (settling, windows) are in 256-frame blocks
SONG = load(SETTINGS.song)
PM = PitchMap.for_song(SONG, SETTINGS)
BLOCK_S = SETTINGS.block / SETTINGS.sample_rate


@pytest.fixture
def shm():
    with hand_and_voice_records("voice") as records:
        yield records


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


def test_partials_are_the_documented_mix(shm):
    """A soft near-sine: the 2nd and 3rd partials at HARMONICS' levels, nothing else of note."""
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    put(hand, area=PM.area(60.0))
    x = play(v, 200)[-32768:]
    t = np.arange(x.size) / SETTINGS.sample_rate
    hz = 440 * 2 ** ((60 - 69) / 12)
    basis = np.column_stack([f(2 * np.pi * k * hz * t) for k in (1, 2, 3, 4, 5) for f in (np.sin, np.cos)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    level = np.hypot(coef[0::2], coef[1::2])                  # amplitude of partials 1..5
    assert np.sqrt(np.mean((x - basis @ coef) ** 2)) < 1e-4, "nothing but these partials"
    assert level[1] / level[0] == pytest.approx(HARMONICS[1], rel=0.03)
    assert level[2] / level[0] == pytest.approx(HARMONICS[2], rel=0.03)
    assert max(level[3:]) < 1e-3 * level[0]


def block_peaks(x: np.ndarray) -> np.ndarray:
    return np.abs(x).reshape(-1, SETTINGS.block).max(axis=1)


def test_attack_and_release_take_their_time(shm):
    """The envelope as heard: the level rises over attack_ms and falls over release_ms, never at once."""
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    vol, n, rate = SETTINGS.synth_volume, SETTINGS.block, SETTINGS.sample_rate
    play(v, 5)
    put(hand, area=0.05)
    attack = block_peaks(play(v, 10))
    allowed = vol * np.minimum(1.0, np.arange(1, 11) * n / (SETTINGS.attack_ms / 1000 * rate))
    assert np.all(attack <= allowed * 1.0001), f"attack faster than {SETTINGS.attack_ms} ms: {attack} > {allowed}"
    assert attack[-1] > 0.8 * vol
    put(hand, present=False, area=0.05)
    release = block_peaks(play(v, 15))
    fall = 1.0 - np.arange(1, 16) * n / (SETTINGS.release_ms / 1000 * rate)
    allowed = vol * np.clip(fall + n / (SETTINGS.release_ms / 1000 * rate), 0.0, 1.0)   # a block starts higher
    assert np.all(release <= allowed * 1.0001), f"release faster than {SETTINGS.release_ms} ms"
    sounding = fall > 0.1
    assert np.all(release[sounding] > 0.5 * vol * fall[sounding]), "the release takes its time"


def test_second_hand_volume_is_smoothed(shm):
    """A jump of the second hand glides the level (one-pole, VOLUME_SMOOTH_MS) rather than stepping to it."""
    hand, _ = shm
    v = Voice(SETTINGS, PM, hand)
    vol = SETTINGS.synth_volume
    put(hand, area=0.05, present2=True, y2=0.0)
    play(v, 30)
    put(hand, area=0.05, present2=True, y2=1.0, frame=1)       # to silence in one camera frame
    amps = []
    for _ in range(60):
        play(v, 1)
        amps.append(v.amp)
    amps = np.array(amps)
    follow = 1.0 - math.exp(-BLOCK_S / (VOLUME_SMOOTH_MS / 1000))
    assert amps[0] == pytest.approx(vol * (1 - follow)), "one block moves the level by the one-pole's share"
    assert np.all(np.diff(amps) < 0), "falls smoothly"
    tau_blocks = int(VOLUME_SMOOTH_MS / 1000 / BLOCK_S)
    assert amps[3 * tau_blocks] < 0.1 * vol and amps[-1] < 1e-3 * vol
    put(hand, area=0.05, present2=False, frame=2)              # the second hand leaves: full volume, smoothly
    play(v, 1)
    assert v.amp < 0.3 * vol
    play(v, 60)
    assert v.amp == pytest.approx(vol, rel=1e-3)


def test_a_nan_from_the_tracker_does_not_poison_the_voice(shm):
    """One NaN area or height (the old voice played NaN from then on): the pitch holds, the level heads for full."""
    hand, _ = shm
    v = Voice(SETTINGS.replace(snap="chromatic", snap_strength=0.5), PM, hand, song=SONG)
    put(hand, area=0.05, present2=True, y2=0.2)
    play(v, 20)
    held = v.midi
    put(hand, area=math.nan, present2=True, y2=math.nan, frame=1)
    play(v, 2)
    assert v.midi == held, "a NaN area holds the pitch"
    put(hand, area=0.05, present2=True, y2=0.2, frame=2)
    x = play(v, 40)
    assert np.all(np.isfinite(x)) and math.isfinite(v.midi) and math.isfinite(v.amp)
    assert v.amp == pytest.approx(0.8 * SETTINGS.synth_volume, rel=1e-3)


FULL = SETTINGS.replace(vibrato_cents=50.0, vibrato_hz=6.0, snap="scale", snap_strength=0.7)


def scripted_blocks(v, hand, count):
    """Onsets, releases, moves across the range, second-hand volume: every path of render()."""
    for i in range(count):
        put(hand, present=(i // 100) % 4 != 3, area=0.012 + (i % 50) * 0.003, frame=i,
            present2=(i // 37) % 2 == 0, y2=(i % 23) / 23)
        v.render(i * BLOCK_S)


@pytest.mark.parametrize("settings", [SETTINGS, FULL], ids=["plain", "vibrato+snap"])
def test_callback_code_does_not_allocate(shm, settings):
    hand, vrec = shm
    v = Voice(settings, PitchMap.for_song(SONG, settings), hand, vrec, song=SONG)
    scripted_blocks(v, hand, 400)              # every path once first
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        scripted_blocks(v, hand, 3000)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    block_bytes = settings.block * 4
    assert cur - base < 1024, f"memory grew by {cur - base} bytes over 3000 blocks"
    assert peak - base < block_bytes, f"a temporary of {peak - base} bytes: the callback allocates arrays"


def test_render_keeps_the_allocated_block_count(shm):
    """sys.getallocatedblocks over render() alone: what it allocates per call (Python floats, numpy scalars) is
    freed within the call, so the count does not move over thousands of calls."""
    hand, vrec = shm
    v = Voice(FULL, PitchMap.for_song(SONG, FULL), hand, vrec, song=SONG)
    put(hand, area=0.05, present2=True, y2=0.3)
    for i in range(200):
        v.render(i * BLOCK_S)
    counts = []
    for r in range(5):
        before = sys.getallocatedblocks()
        for i in range(1000):
            v.render(i * BLOCK_S)
        counts.append(sys.getallocatedblocks() - before)
    assert max(counts) <= 2, f"allocated blocks grew by {counts} per 1000 renders"
