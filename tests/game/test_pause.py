"""Session time -> song time through the pauses: the launcher's control, a child's lock-free reader of the shared
record, and the reports' mapping of whole logs all agree."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from game.pause import (PAUSE_SIGNAL, PAUSED, PLAYING, RESUMING, PauseControl, SongClock, in_pause, lead_s,
                        pause_keys, paused_total, resume_after_s, song_time, song_times, spans_from)
from game.settings import Settings

LEAD, RESUME = 0.1, 1.0


def test_never_paused_song_time_is_session_time():
    clock = SongClock(None, RESUME)
    clock.refresh()
    for t in (-1.0, 0.0, 3.25, 1e4):
        assert clock.song_time(t) == t and clock.state(t) == PLAYING and clock.resume_in(t) is None
        assert clock.session_time(t) == t
    assert song_times(np.array([0.0, 5.0]), []).tolist() == [0.0, 5.0]


def test_a_pause_holds_the_song_then_plays_on_after_the_count_in():
    pc = PauseControl(None, LEAD, RESUME)
    pc.toggle(5.0)                        # p at 5.0: the song is held from 5.1
    assert pc.state(5.05) == PLAYING and pc.song_time(5.05) == pytest.approx(5.05)
    assert pc.state(5.1) == PAUSED
    for t in (5.1, 6.0, 20.0):
        assert pc.song_time(t) == pytest.approx(5.1)
    assert pc.state(20.0) == PAUSED, "held until p again, however long"
    pc.toggle(8.0)                        # p at 8.0: plays on at 9.0 after a 1 s count-in
    assert pc.state(8.5) == RESUMING and pc.song_time(8.5) == pytest.approx(5.1)
    assert pc.state(9.0) == PLAYING
    assert pc.song_time(9.0) == pytest.approx(5.1) and pc.song_time(10.0) == pytest.approx(6.1)
    assert pc.spans_until(30.0) == [[5.1, 9.0]]


def test_p_during_the_count_in_stays_paused_and_a_second_pause_adds_up():
    pc = PauseControl(None, LEAD, RESUME)
    pc.toggle(2.0)
    pc.toggle(3.0)                        # resume at 4.0 ...
    pc.toggle(3.5)                        # ... cancelled in the count-in
    assert pc.state(4.5) == PAUSED and pc.song_time(10.0) == pytest.approx(2.1)
    pc.toggle(6.0)                        # plays on at 7.0: paused 2.1 .. 7.0 = 4.9 s
    pc.toggle(10.0)                       # second pause from 10.1
    assert pc.song_time(10.1) == pytest.approx(10.1 - 4.9)
    pc.toggle(11.0)                       # .. to 12.0: 1.9 s more
    assert pc.song_time(13.0) == pytest.approx(13.0 - 4.9 - 1.9)
    spans = pc.spans_until(20.0)
    assert spans == [[2.1, 7.0], [10.1, 12.0]]
    assert paused_total(spans) == pytest.approx(6.8)


def test_spans_at_the_stop():
    pc = PauseControl(None, LEAD, RESUME)
    pc.toggle(2.0)
    assert pc.spans_until(4.0) == [[2.1, 4.0]], "stopped while paused: the pause ends at the stop"
    pc.toggle(5.0)
    assert pc.spans_until(5.5) == [[2.1, 5.5]], "stopped in the count-in: the pause ends at the stop"
    pc.toggle(7.0)
    assert pc.spans_until(7.05) == [[2.1, 6.0]], "a pause that had not begun did not happen"


def test_the_reports_mapping_agrees_with_the_live_one():
    """song_times over session.json's spans == what the launcher's record said at each moment."""
    pc = PauseControl(None, LEAD, RESUME)
    presses = [2.0, 3.5, 6.0, 7.2, 7.25, 9.0]       # the third pause's count-in is cancelled, then resumed
    grid = np.arange(0.0, 15.0, 0.01)
    live = []
    k = 0
    for t in grid:
        while k < len(presses) and presses[k] <= t:
            pc.toggle(presses[k])
            k += 1
        live.append(pc.song_time(float(t)))
    spans = spans_from({"pauses": pc.spans_until(15.0)})
    assert np.allclose(song_times(grid, spans), live, atol=1e-9)
    inside = in_pause(grid, spans)
    assert not inside[grid < 2.1].any() and inside[(grid >= 2.1) & (grid < 4.5)].all()
    assert np.all(np.diff(song_times(grid, spans)) >= -1e-12), "song time never runs backwards"


def test_session_time_is_when_the_song_gets_there():
    pc = PauseControl(None, LEAD, RESUME)
    clock = SongClock(None, RESUME)
    pc.toggle(5.0)
    clock.values[:] = pc.values
    assert clock.session_time(4.0) == pytest.approx(4.0)
    assert clock.session_time(6.0) == math.inf, "held before song time 6: not due while paused"
    pc.toggle(8.0)
    clock.values[:] = pc.values
    assert clock.session_time(6.0) == pytest.approx(6.0 + 3.9)
    for s in (4.0, 5.1, 6.0, 30.0):
        assert clock.song_time(clock.session_time(s)) == pytest.approx(s)


def test_a_child_reads_the_launchers_record_through_shared_memory():
    name = f"handtone-test{os.getpid()}-pause"
    settings = Settings()
    pc = PauseControl.create(name, settings)
    try:
        clock = SongClock.attach({"pause": name}, settings)
        try:
            clock.refresh()
            assert clock.state(3.0) == PLAYING and clock.song_time(3.0) == 3.0
            pc.toggle(3.0)
            clock.refresh()
            start = 3.0 + lead_s(settings)
            assert clock.state(start) == PAUSED and clock.song_time(start + 2) == pytest.approx(start)
            pc.toggle(6.0)
            clock.refresh()
            assert clock.state(6.5) == RESUMING
            assert clock.resume_in(6.5) == pytest.approx(6.0 + resume_after_s(settings) - 6.5)
            assert clock.song_time(10.0) == pytest.approx(pc.song_time(10.0))
        finally:
            clock.close()
        assert SongClock.attach({}, settings).record is None, "no pause segment: never paused"
    finally:
        pc.close()
    assert not os.path.exists(f"/dev/shm/{name}")


def test_lead_covers_an_audio_block_and_the_count_in_is_the_sessions():
    s = Settings()
    assert lead_s(s) >= 2 * s.block / s.sample_rate + 0.05 and lead_s(s) >= 0.1
    assert lead_s(s.replace(block=4096)) > 2 * 4096 / s.sample_rate
    assert resume_after_s(s.replace(count_in=2.0)) == 2.0
    assert resume_after_s(s.replace(count_in=0.0)) == lead_s(s), "never before the pause has begun"


def test_spans_from_ignores_what_is_not_a_pause():
    assert spans_from({}) == []
    assert spans_from({"pauses": [[3, 4], [1, 2], "x", [5], [6, 6], [7, None], [8, float("inf")]]}) == [(1, 2),
                                                                                                        (3, 4)]


def test_the_messages_name_what_the_player_can_do():
    """Keys in the window; headless (--no-window) there are none: the launcher's SIGUSR1 plays on, Ctrl-C stops."""
    windowed = PauseControl(None, LEAD, RESUME, window=True)
    assert windowed.toggle(1.0).endswith(": p plays on, q stops")
    headless = PauseControl(None, LEAD, RESUME, window=False)
    said = headless.toggle(1.0)
    if PAUSE_SIGNAL is not None:
        assert said.endswith(f": `kill -USR1 {os.getpid()}` plays on, Ctrl-C stops"), said
    else:                                   # Windows: no signal, and no headless pause either
        assert said.endswith(": p plays on, q stops")
    assert pause_keys(False, 42) == (("`kill -USR1 42`", "Ctrl-C") if PAUSE_SIGNAL is not None else None)
    assert pause_keys(True, 42) == ("p", "q")
    asked = PauseControl(None, LEAD, RESUME, window=False)
    asked.set_window(True)                # the launcher learns at start-up whether the window opened
    assert asked.toggle(2.0).endswith(": p plays on, q stops")
