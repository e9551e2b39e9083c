"""Whole sessions through `python main.py`, on the real stand-ins: every stop path writes the reports and leaves
nothing in /dev/shm."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_app
from standins import require_tool

REPORT_FILES = ("performance.wav", "notes.csv", "score.json", "stats.json", "report.pdf", "summary.eml",
                "session.json")


def shm_segments() -> set[str]:
    """Our segments, and multiprocessing's named semaphores (an Event or Lock leaks one when its owner is killed)."""
    return {p.name for pattern in ("handtone-*", "sem.mp-*") for p in Path("/dev/shm").glob(pattern)}


def leaked(before: set[str]) -> set[str]:
    """New entries whose creator is gone. A segment named for a launcher that is still alive belongs to another
    session running on this machine (the test's own launcher has exited by the time this is asked)."""
    out = set()
    for name in shm_segments() - before:
        tag = name.split("-")[1] if name.startswith("handtone-") else ""
        if not (tag.isdigit() and _alive(int(tag))):
            out.add(name)
    return out


@pytest.fixture
def clean_shm():
    before = shm_segments()
    yield
    deadline = time.monotonic() + 10  # a killed launcher's resource tracker cleans up a moment later
    while time.monotonic() < deadline and leaked(before):
        time.sleep(0.2)
    assert leaked(before) == set(), "shared memory left behind"


def only_session(out: Path) -> Path:
    dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def assert_reports(folder: Path) -> dict:
    for name in REPORT_FILES:
        assert (folder / name).is_file(), f"{name} missing in {folder}: {sorted(p.name for p in folder.iterdir())}"
    return json.loads((folder / "session.json").read_text())


class Running:
    """`python main.py play ...` in the background, with the session folder found once it runs."""

    def __init__(self, out: Path, *args, env=None):
        self.out = out
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *map(str, args), "--out", str(out)],
                                     cwd=ROOT, env=env or os.environ.copy(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def wait_running(self, timeout=90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self.out.glob("*/session.json"):
                try:
                    info = json.loads(f.read_text())
                except json.JSONDecodeError:
                    continue
                if info.get("stop_reason") == "running":
                    return info
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        out, err = self.proc.communicate(timeout=30)
        raise AssertionError(f"session did not start: {self.proc.returncode}\n{out}\n{err}")

    def finish(self, timeout=90):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def test_demo_session_headless_writes_every_report(pulse, tmp_path, clean_shm):
    proc = run_app("demo", "--no-window", "--out", tmp_path, "--player", "Zoë", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "session ended: song ended" in proc.stdout
    assert "score" in proc.stdout
    folder = only_session(tmp_path)
    info = assert_reports(folder)
    assert (folder / "recording.wav").is_file()
    assert info["stop_reason"] == "song ended"
    assert set(info["children"]) == {"vision", "synth", "music", "recorder"}
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]
    assert all(c["startup_s"] is not None for c in info["children"].values())
    score = json.loads((folder / "score.json").read_text())
    assert score["total"] > 5000, "the demo hand follows the melody, so it should score well"


def test_duration_stops_early(pulse, tmp_path, clean_shm):
    t = time.monotonic()
    proc = run_app("demo", "--no-window", "--out", tmp_path, "--duration", "4", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"] == "--duration 4 s reached"
    assert 3.5 <= info["duration_s"] <= 4.5


def test_duration_never_outlasts_the_song_but_sets_a_looped_videos_length(pulse, tmp_path, clean_shm):
    """--duration only stops early: a session ends with its song; with --loop-video it is the session's length."""
    song = tmp_path / "tiny.toml"
    song.write_text('title = "Tiny"\nbpm = 120\nlead_in_beats = 2\nlines = ["C4 E4 G4"]\n', encoding="utf-8")
    proc = run_app("demo", "--no-window", "--out", tmp_path / "a", "--song", song, "--duration", "30", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = assert_reports(only_session(tmp_path / "a"))
    assert info["stop_reason"] == "song ended" and info["duration_s"] < 5, info
    proc = run_app("demo", "--no-window", "--out", tmp_path / "b", "--song", song, "--duration", "6",
                   "--loop-video", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = assert_reports(only_session(tmp_path / "b"))
    assert info["stop_reason"] == "--duration 6 s reached" and 5.5 <= info["duration_s"] <= 6.5, info


@pytest.mark.parametrize("sig,reason", [(signal.SIGINT, "stopped (Ctrl-C)"), (signal.SIGTERM, "stopped (SIGTERM)")])
def test_signals_to_the_launcher_stop_cleanly(pulse, tmp_path, clean_shm, sig, reason):
    run = Running(tmp_path, "demo", "--no-window")
    run.wait_running()
    time.sleep(2)
    run.proc.send_signal(sig)
    code, out, err = run.finish()
    assert code == 0, out + err
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"] == reason
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]


def test_ctrl_c_to_the_whole_process_group(pulse, tmp_path, clean_shm):
    """A terminal's Ctrl-C reaches every process of the group: children leave it to the launcher."""
    run = Running(tmp_path, "demo", "--no-window")
    run.wait_running()
    time.sleep(1.5)
    # the test runner shares our group, so signal the launcher and its children (not ourselves) by pid
    info = json.loads(next(tmp_path.glob("*/session.json")).read_text())
    for pid in [run.proc.pid] + [c["pid"] for c in info["children"].values()]:
        os.kill(pid, signal.SIGINT)
    code, out, err = run.finish()
    assert code == 0, out + err
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"] == "stopped (Ctrl-C)"
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]


@pytest.mark.parametrize("child", ["vision", "synth", "music", "recorder"])
def test_a_child_killed_with_sigkill_is_named_and_reports_are_still_written(pulse, tmp_path, clean_shm, child):
    run = Running(tmp_path, "demo", "--no-window")
    info = run.wait_running()
    time.sleep(2)
    os.kill(info["children"][child]["pid"], signal.SIGKILL)
    code, out, err = run.finish()
    assert code == 1, out + err
    assert f"{child} process died: killed by SIGKILL" in out + err
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"] == f"{child} process died: killed by SIGKILL"


def test_launcher_killed_with_sigkill_leaves_no_shared_memory(pulse, tmp_path, clean_shm):
    run = Running(tmp_path, "demo", "--no-window")
    info = run.wait_running()
    time.sleep(1)
    run.proc.kill()
    run.finish()
    deadline = time.monotonic() + 15
    pids = [c["pid"] for c in info["children"].values()]
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), "children outlived their launcher"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_missing_camera_fails_at_start_with_the_alternatives(tmp_path, clean_shm):
    proc = run_app("play", "--camera", "7", "--no-window", "--out", tmp_path, timeout=120)
    assert proc.returncode == 2
    # the error alone: the other children's start-up notices (no speaker, no microphone, the detector) are about a
    # session that never played
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("handtone: error: no camera at index 7")
    assert "--camera demo" in err
    assert not any(tmp_path.iterdir()), "a session that never started leaves no folder"


def test_missing_video_file_fails_at_start(tmp_path, clean_shm):
    proc = run_app("play", "--camera", str(tmp_path / "nope.mp4"), "--no-window", "--out", tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "nope.mp4" in proc.stderr


def _window_id(env, timeout=60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "handtone"], env=env,
                           capture_output=True, text=True)
        if r.stdout.strip():
            return r.stdout.split()[0]
        time.sleep(0.2)
    raise AssertionError("the game window did not appear")


@pytest.mark.parametrize("key", ["q", "Escape"])
def test_a_key_in_the_game_window_ends_the_session(pulse, xvfb, tmp_path, clean_shm, key):
    from standins import require_tool
    require_tool("xdotool")
    env = os.environ | {"DISPLAY": xvfb.display}
    run = Running(tmp_path, "demo", env=env)
    run.wait_running()
    wid = _window_id(env)
    time.sleep(1.0)
    subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, check=True, timeout=10)
    subprocess.run(["xdotool", "key", key], env=env, check=True, timeout=10)
    code, out, err = run.finish()
    assert code == 0, out + err
    info = assert_reports(only_session(tmp_path))
    assert info["stop_reason"].startswith("player quit"), info["stop_reason"]
    assert info["duration_s"] < 20


def test_peek_follows_a_live_session(pulse, tmp_path, clean_shm):
    run = Running(tmp_path, "demo", "--no-window")
    run.wait_running()
    time.sleep(3)  # the demo hand is up after its lead-in
    proc = run_app("peek", "--count", "20", "--interval", "0.05", timeout=60)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stdout.splitlines() if l.startswith("frame")]
    frames = [int(l.split()[1]) for l in lines]
    assert len(lines) == 20 and frames[-1] > frames[0], "peek should see frames advance"
    assert any("hand area" in l for l in lines)
    assert code == 0, out + err


def test_a_video_file_that_ends_ends_the_session(pulse, tmp_path, clean_shm):
    """A 3 s clip with a hand: the session stops when the video does, not at the song's end."""
    from game.settings import Settings
    from vision.democlip import demo_clip_path
    import cv2
    clip = cv2.VideoCapture(str(demo_clip_path(Settings())))
    path = tmp_path / "clip.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(120):
        ok, frame = clip.read()
        if i >= 30:   # frames 1 s .. 4 s of the demo: the hand is up
            out.write(frame)
    out.release()
    clip.release()
    sessions = tmp_path / "sessions"
    proc = run_app("play", "--camera", path, "--no-window", "--out", sessions, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = assert_reports(only_session(sessions))
    assert info["stop_reason"] == "video ended"
    assert 2.5 <= info["duration_s"] <= 4.5


def test_no_speaker_and_no_microphone_still_makes_a_session(no_audio_env, tmp_path, clean_shm):
    proc = run_app("demo", "--no-window", "--out", tmp_path, "--duration", "5", env=no_audio_env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no speaker" in proc.stdout and "no microphone" in proc.stdout
    folder = only_session(tmp_path)
    assert_reports(folder)
    assert not (folder / "recording.wav").exists()
    import wave
    with wave.open(str(folder / "performance.wav")) as w:
        assert w.getnframes() / w.getframerate() >= 4.5, "the tone is saved even with no speaker"
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["processes"]["synth"]["mode"] == "clock"
    # nothing can run dry without a speaker: no underflow counts (the clock thread's late wake-ups are not ones)
    for name in ("synth", "music"):
        assert stats["processes"][name]["underflows_flag"] is None, stats["processes"][name]
        assert stats["processes"][name]["underflows_clock"] is None
    assert stats["summary"]["underflows_flag"] is None and stats["summary"]["underflows_clock"] is None
    text = subprocess.run([require_tool("pdftotext"), str(folder / "report.pdf"), "-"], capture_output=True,
                          text=True).stdout
    assert "by clock" not in text and "no speaker" in text, text
    # which detector "auto" chose is said at the start, and is not a note on the scorecard (a fallback to classic,
    # "detector: classic (why)", would be: that one is a notice)
    chose = [line.removeprefix("handtone: vision: ") for line in proc.stdout.splitlines()
             if line.startswith("handtone: vision: detector: landmarks")]
    assert len(chose) == 1, proc.stdout
    assert chose[0] not in " ".join(text.split())
    assert f"vision: {chose[0]}" not in json.loads((folder / "session.json").read_text())["notices"]


def test_a_launcher_bug_mid_session_still_writes_the_reports(pulse, tmp_path, clean_shm, monkeypatch):
    from game import settings as settings_mod, song as song_mod
    from game.launcher import Launcher

    def supervise_then_fail(self, t0, end_at, end):
        time.sleep(2)
        raise RuntimeError("bug in supervision")

    monkeypatch.setattr(Launcher, "_supervise", supervise_then_fail)
    s = settings_mod.build({"camera": "demo", "window": False, "out_dir": str(tmp_path)})
    result = Launcher(s, song_mod.load(s.song), say=lambda _text: None).run()
    assert result.exit_code == 1
    assert result.reason == "launcher error: RuntimeError: bug in supervision"
    info = assert_reports(result.session_dir)
    assert info["stop_reason"] == result.reason
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]


@pytest.mark.parametrize("option,kind", [("--output-device", "output"), ("--input-device", "input")])
def test_a_named_audio_device_that_is_not_there_fails_at_start(pulse, tmp_path, clean_shm, option, kind):
    proc = run_app("demo", "--no-window", option, "no-such-device", "--out", tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"handtone: error: no {kind} device matching 'no-such-device': give {option}")
    assert "pulse" in last, "the message lists the devices there are"
    assert "no microphone" not in proc.stdout, "a cancelled start is not a missing microphone"
    assert not any(tmp_path.iterdir())


def test_a_session_runs_where_the_os_has_no_resource_module_or_sigusr1(tmp_path, no_audio_env):
    """Windows has neither `resource` nor SIGUSR1, nor a /dev/shm to list. A sitecustomize on PYTHONPATH takes them
    away from the launcher and every spawned child; a demo session must still play and write every stats file, with
    its CPU seconds (peak memory is not known there), without offering `kill -USR1` (nor any pause: headless, nothing
    can), and with the `peek NUMBER` command that finds it."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import pathlib, signal, sys\nsys.modules['resource'] = None\ndel signal.SIGUSR1\n"
        f"sys.path.insert(0, {str(ROOT)!r})\nimport game.peek\n"
        "game.peek.SHM_DIR = pathlib.Path('/nonexistent-shm-dir')\nsys.path.pop(0)\n")
    env = dict(no_audio_env, PYTHONPATH=str(site))
    check = subprocess.run([sys.executable, "-c", "import signal; print(hasattr(signal, 'SIGUSR1'))\n"
                            "try:\n import resource\nexcept ImportError:\n print('no resource')"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert check.stdout.split() == ["False", "no", "resource"], check.stdout + check.stderr
    proc = run_app("demo", "--no-window", "--duration", "3", "--out", tmp_path / "sessions", env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kill -USR1" not in proc.stdout
    playing = next(line for line in proc.stdout.splitlines() if line.startswith("handtone: playing "))
    # headless with no SIGUSR1 nothing can pause (no window for p): the line offers no pause at all
    assert "pauses" not in playing and re.search(r"ode-to-joy; `python main.py peek \d+` watches its hand$", playing), \
        playing
    (session,) = (tmp_path / "sessions").iterdir()
    for name in ("launcher", "vision", "synth", "music", "recorder"):
        stats = json.loads((session / f"stats-{name}.json").read_text())
        assert stats["cpu_s"] > 0 and stats["max_rss_mb"] is None, (name, stats)
    assert (session / "report.pdf").is_file()


def notice_then_never_ready(ctx):
    """A child for the test below: says a start-up notice, then never gets ready (until the launcher stops it)."""
    ctx.notice("no speaker: playing silently")
    ctx.stopped.wait(60)


def test_a_start_that_times_out_still_shows_what_the_children_said(tmp_path, clean_shm):
    """The children's start-up notices are held until all are ready; when the start fails by a timeout (not a
    child's own error, which says all), they may explain it, and the result hands them over unsaid."""
    from game import settings as settings_mod, song as song_mod
    from game.launcher import Launcher
    s = settings_mod.build({"camera": "demo", "window": False, "out_dir": str(tmp_path), "ready_timeout": 2.0})
    said = []
    result = Launcher(s, song_mod.load(s.song), children={"slow": "test_session:notice_then_never_ready"},
                      say=said.append).run()
    assert result.exit_code == 2 and result.reason == "slow not ready after 2 s"
    assert said == [] and result.unsaid == ["slow: no speaker: playing silently"]
    assert result.notices == result.unsaid and not any(tmp_path.iterdir())
