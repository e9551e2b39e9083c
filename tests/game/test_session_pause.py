"""Pausing whole sessions through `python main.py`, on the real stand-ins: SIGUSR1 to the launcher (as a headless
player would) and p in the game window toggle the pause; the song, the backing, the hand tone and the demo hand stop
and play on together; the reports score on song time; every stop while paused still writes every report."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import run_app
from test_session import Running, _window_id, assert_reports, clean_shm, only_session  # noqa: F401 (fixture)

# Two unpaused demo sessions of 12 s score about 2640 +- 10 here, with a mean hit fraction of the notes played of
# about 0.97; on a loaded machine audio stalls (underflows) cost a few per cent. A pause mapped wrongly by even
# 0.3 s costs far more (the demo's notes last 0.26-0.52 s).
SCORE_MARGIN = 200
HIT_MARGIN = 0.05
# A pause begins 0.1 s after the request (game/pause.py lead_s), beyond the blocks already on their way to the
# speaker; after audio stalls on a loaded machine PortAudio may have rendered further ahead, so the checks of
# silence start this long after the pause does.
AHEAD = 0.1
STALL = 0.02


def column(path, name) -> np.ndarray:
    with open(path, newline="") as f:
        return np.array([float(r[name]) for r in csv.DictReader(f)])


def wav_between(folder, wav, stats, start, end) -> np.ndarray:
    """The samples of a session WAV between two session times, placed as the reports place it: from its wav_t_start
    at the speaker's own pace (wav_rate_ppm; the null sink's clock runs several hundred ppm fast)."""
    from audio.wavfile import read_wav_checked
    rate, x, _ = read_wav_checked(folder / wav)
    stats = json.loads((folder / stats).read_text())
    t_first, per_s = stats["wav_t_start"], rate * (1 + (stats.get("wav_rate_ppm") or 0.0) / 1e6)
    a, b = (int(round((t - t_first) * per_s)) for t in (start, end))
    assert 0 <= a < b <= len(x)
    return x[a:b]


def test_a_paused_demo_session_plays_on_and_scores_like_one_never_paused(pulse, tmp_path, clean_shm):
    plain_out, paused_out = tmp_path / "plain", tmp_path / "paused"
    proc = run_app("demo", "--no-window", "--duration", "12", "--out", plain_out, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plain = only_session(plain_out)

    run = Running(paused_out, "demo", "--no-window", "--duration", "12")
    run.wait_running()            # session.json says running once t0 is fixed (a 1 s count-in before it)
    time.sleep(5.0)
    run.proc.send_signal(signal.SIGUSR1)
    time.sleep(2.0)
    run.proc.send_signal(signal.SIGUSR1)
    code, out, err = run.finish()
    assert code == 0, out + err
    assert "paused at" in out and "playing on from" in out
    folder = only_session(paused_out)
    info = assert_reports(folder)
    assert info["stop_reason"] == "--duration 12 s reached"
    (start, end), = info["pauses"]
    assert 2.5 < end - start < 3.5 and info["paused_s"] == pytest.approx(end - start, abs=1e-3)
    assert info["duration_s"] == pytest.approx(12.0, abs=0.2), "--duration counts song time, not the pause"

    # the session lasted the pause longer
    last = {name: column(d / "synth.csv", "t_dac").max() for name, d in (("plain", plain), ("paused", folder))}
    assert last["paused"] - last["plain"] == pytest.approx(end - start, abs=0.4)

    # the backing is silent from the pause's first block (a fade) to the song playing on; its position holds
    block = 256 / 48000
    stalls = {n: json.loads((folder / f"stats-{n}.json").read_text())["underflows"] for n in ("music", "synth")}
    t_dac, song_t = column(folder / "music.csv", "t_dac"), column(folder / "music.csv", "song_t")
    level = column(folder / "music.csv", "level")
    held = (t_dac > start + 2 * block) & (t_dac < end)
    assert held.sum() > 40 and np.ptp(song_t[held]) < 1e-6
    assert np.all(level[held & (t_dac > start + AHEAD)] == 0.0), stalls
    # the WAV is placed by one line fitted to all its blocks: after a stall (an underflow) it may sit a stall's
    # length off the speaker's times, so the silence is checked up to that much before playing on
    assert np.abs(wav_between(folder, "backing.wav", "stats-music.json", start + AHEAD, end - STALL)).max() == 0.0, \
        stalls
    after = t_dac > end + 0.1
    assert np.allclose(song_t[after], t_dac[after] - (end - start), atol=2 * block)
    assert np.abs(wav_between(folder, "backing.wav", "stats-music.json", end, end + 2)).max() > 0.05

    # the hand tone: silent while held; in the 1 s count-in before playing on it plays the hand again, as at t0
    count_in = info["count_in_s"]
    release = 0.06 + 3 * block
    assert np.abs(wav_between(folder, "synth.wav", "stats-synth.json", start + release + AHEAD,
                              end - count_in)).max() == 0, stalls
    amplitude, synth_t = column(folder / "synth.csv", "amplitude"), column(folder / "synth.csv", "t_dac")
    assert np.all(amplitude[(synth_t > start + release + AHEAD) & (synth_t < end - count_in)] == 0.0), stalls
    assert np.abs(wav_between(folder, "synth.wav", "stats-synth.json", end - count_in + release, end)).max() > 0.1

    # the demo hand waited too: no picture while the song was held, and frame i still shows song time i / 30
    t_cap = column(folder / "frames.csv", "t_capture")
    index = column(folder / "frames.csv", "frame_index")
    assert not np.any((t_cap > start + 0.04) & (t_cap < end))
    later = t_cap >= end
    assert np.allclose(t_cap[later] - (end - start), index[later] / 30.0, atol=1e-3)

    # scored on song time: the pause neither hits nor misses (the notes after 12 s count as missed in both)
    results = {name: json.loads((d / "score.json").read_text()) for name, d in (("plain", plain), ("paused", folder))}
    scores = {name: r["total"] for name, r in results.items()}
    hit = {name: np.mean([n["hit_fraction"] for n in r["notes"] if n["start"] + n["duration"] < 11.5])
           for name, r in results.items()}
    print(f"scores {scores}; hit share of the notes played {hit}; paused {end - start:.2f} s; "
          f"session longer by {last['paused'] - last['plain']:.2f} s; underflows {stalls}")
    assert hit["plain"] > 0.85, hit
    assert abs(hit["paused"] - hit["plain"]) <= HIT_MARGIN, (hit, stalls)
    assert abs(scores["paused"] - scores["plain"]) <= SCORE_MARGIN, (scores, stalls)
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["processes"]["launcher"]["pauses"] == 1


def test_ctrl_c_while_paused_writes_every_report(pulse, tmp_path, clean_shm):
    run = Running(tmp_path, "demo", "--no-window")
    run.wait_running()
    time.sleep(3.0)
    run.proc.send_signal(signal.SIGUSR1)
    time.sleep(2.0)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 0, out + err
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"] == "stopped (Ctrl-C)"
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]
    (start, end), = info["pauses"]
    assert 1.7 < end - start < 2.3, "an open pause ends at the stop"
    assert info["duration_s"] == pytest.approx(start, abs=0.01), "song time played: up to the pause"


def test_p_then_q_in_the_game_window(pulse, xvfb, tmp_path, clean_shm):
    """The key path: p in the window pauses (vision -> launcher), q while paused still ends the session."""
    from standins import require_tool
    require_tool("xdotool")
    env = os.environ | {"DISPLAY": xvfb.display}
    run = Running(tmp_path, "demo", env=env)
    run.wait_running()
    wid = _window_id(env)
    time.sleep(2.0)
    subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, check=True, timeout=10)
    subprocess.run(["xdotool", "key", "p"], env=env, check=True, timeout=10)
    time.sleep(2.0)
    subprocess.run(["xdotool", "key", "q"], env=env, check=True, timeout=10)
    code, out, err = run.finish()
    assert code == 0, out + err
    assert "paused at" in out
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"].startswith("player quit"), info["stop_reason"]
    (start, end), = info["pauses"]
    assert 1.0 < end - start < 3.0
