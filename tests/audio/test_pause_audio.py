"""The backing and the hand tone under a pause, driven block by block as the audio callback drives them, with the
launcher's pause record in real shared memory."""
from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest

from audio.music import Backing
from audio.synth import Voice
from game.handstate import HAND, HAND_FIELDS
from game.pause import PauseControl, SongClock, lead_s
from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load

SETTINGS = Settings()
N = SETTINGS.block
RATE = SETTINGS.sample_rate
BLOCK_S = N / RATE
LEAD = lead_s(SETTINGS)


@pytest.fixture
def pause():
    """(control, clock): the launcher's writer and a child's reader of one record."""
    name = f"handtone-test{os.getpid()}-apause"
    control = PauseControl.create(name, SETTINGS)
    clock = SongClock.attach({"pause": name}, SETTINGS)
    yield control, clock
    clock.close()
    control.close()


def run_backing(backing, seconds, presses, control):
    """Blocks from t=0 for `seconds`; presses: session times of the p key (toggled before the block at or after)."""
    outs, rows = [], []
    presses = list(presses)
    for k in range(int(seconds / BLOCK_S)):
        t = k * BLOCK_S
        while presses and presses[0] <= t:
            control.toggle(presses.pop(0))
        outs.append(backing.render(t).copy())
        rows.append(backing.row.copy())
    return np.array(outs), np.array(rows)


def test_backing_holds_still_in_a_pause_and_plays_on_from_where_it_stopped(pause):
    control, clock = pause
    track = (np.arange(int(8 * RATE), dtype=np.float64) / RATE / 10.0).astype(np.float32)  # value = position
    backing = Backing(SETTINGS, track, clock)
    outs, rows = run_backing(backing, 6.0, [1.0, 2.5], control)
    t, song_t = rows[:, 0], rows[:, 1]
    start, end = 1.0 + LEAD, 2.5 + SETTINGS.count_in
    held = (t >= start) & (t < end)
    first_held = np.argmax(held)
    assert np.all(outs[held][1:] == 0.0), "silent through the pause and its count-in"
    fade = outs[first_held]
    assert fade[0] > 0 and fade[-1] == pytest.approx(0.0, abs=1e-6), "the pause's first block fades out"
    assert np.allclose(song_t[held], start, atol=BLOCK_S), "song time holds still"
    assert np.all(np.diff(song_t) >= -BLOCK_S), "song time never runs back more than a block"
    after = np.nonzero(t >= end)[0]
    first = after[0]
    pos = int(round(song_t[first] * RATE))
    assert abs(pos / RATE - (t[first] - (end - start))) < BLOCK_S, "it plays on at the song time it stopped at"
    ramp = np.linspace(0.0, 1.0, N, dtype=np.float32)
    assert np.allclose(outs[first], track[pos:pos + N] * ramp, atol=1e-6), "the first block fades in"
    for k in after[1:50]:   # then back to back, on song time
        p = int(round(song_t[k] * RATE))
        assert np.array_equal(outs[k], track[p:p + N])
        assert p == int(round(song_t[k - 1] * RATE)) + N
    assert backing.resyncs == 0, "a pause is not a resync"
    before = t < start
    assert np.allclose(song_t[before], t[before], atol=2 / RATE), "before the pause, song time is session time"


def test_backing_fades_are_click_free(pause):
    control, clock = pause
    x = np.sin(2 * np.pi * 220 * np.arange(int(8 * RATE)) / RATE).astype(np.float32) * 0.5
    outs, _ = run_backing(Backing(SETTINGS, x, clock), 5.0, [1.0, 2.0], control)
    y = outs.reshape(-1).astype(np.float64)
    natural = 0.5 * 2 * np.pi * 220 / RATE
    assert np.abs(np.diff(y)).max() <= natural * 1.05 + 1e-3, "no jump larger than the wave's own"


def put_hand(hand, frame, area=0.05):
    v = np.zeros(len(HAND_FIELDS))
    v[HAND["present"]], v[HAND["area"]], v[HAND["frame_index"]] = 1.0, area, frame
    hand.write(v)


def test_the_hand_tone_is_silent_while_paused_and_plays_in_the_count_in(pause, hand_voice):
    control, clock = pause
    hand, vrec = hand_voice
    voice = Voice(SETTINGS, PitchMap.for_song(load(SETTINGS.song), SETTINGS), hand, vrec, clock)
    put_hand(hand, 1)
    presses = [1.0, 3.0]
    start, resume_at = 1.0 + LEAD, 3.0 + SETTINGS.count_in
    amps, outs = [], []
    for k in range(int(5.0 / BLOCK_S)):
        t = k * BLOCK_S
        while presses and presses[0] <= t:
            control.toggle(presses.pop(0))
        outs.append(voice.render(t).copy())
        amps.append((t, voice.amp))
    t, amp = np.array(amps).T
    release = SETTINGS.release_ms / 1000 + 2 * BLOCK_S
    assert amp[(t > 0.5) & (t < start)].min() == pytest.approx(SETTINGS.synth_volume)
    silent = (t >= start + release) & (t < 3.0)
    assert silent.any() and np.all(amp[silent] == 0.0)
    assert np.all(np.array(outs)[silent] == 0.0)
    counting_in = (t >= 3.0 + release) & (t < resume_at)
    assert np.all(amp[counting_in] == pytest.approx(SETTINGS.synth_volume)), "the count-in plays the hand, as at t0"
    assert amp[t > resume_at].min() == pytest.approx(SETTINGS.synth_volume)


def test_the_callbacks_do_not_allocate_with_a_pause_record(pause, hand_voice):
    control, clock = pause
    hand, vrec = hand_voice
    # 1024-frame blocks: a block-sized temporary (4 KB and more) then stands well clear of the few hundred bytes of
    # Python numbers a call makes and drops
    big = SETTINGS.replace(block=1024)
    block_s = big.block / RATE
    voice = Voice(big, PitchMap.for_song(load(big.song), big), hand, vrec, clock)
    backing = Backing(big, np.zeros(int(100 * RATE), np.float32) + 0.1, clock)
    put_hand(hand, 1)
    control.toggle(1.0)    # one record that holds every state: playing, paused from 1.1, count-in 2..3, playing
    control.toggle(2.0)
    blocks = range(int(4.0 / block_s))

    def play():
        for i in blocks:
            voice.render(i * block_s)
            backing.render(i * block_s)
    play()                 # once through every state first: what it keeps (a few Python numbers) is there then
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        play()
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cur - base < 1024, f"memory grew by {cur - base} bytes"
    assert peak - base < big.block * 4, f"a temporary of {peak - base} bytes: a callback allocates arrays"
