"""A camera stream that drops: an HTTP MJPEG server on 127.0.0.1 (standins.MjpegServer) is cut mid-stream; the source
notices, reconnects with backoff, keeps its clock, tells the player, and a stop ends it even while it waits.

The figures asked of the reconnect (cut -> noticed, server back -> frames again) are printed (pytest -s)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import ROOT
from game.sessionlog import read_csv
from game.settings import Settings
from standins import ClipFrames
from vision import sources
from vision.handdraw import Painter
from vision.sources import LOST_TEXT, open_source

SETTINGS = Settings(camera="demo", width=640, height=480)
STALL_S = sources.STALL_TIMEOUT_MS / 1000.0


def grey(i: int) -> np.ndarray:
    return np.full((480, 640, 3), (i * 7) % 250, np.uint8)


class Reader:
    """Reads a live source in a thread as the vision loop does: frames (capture times) and what it saw meanwhile."""

    def __init__(self, src):
        self.src = src
        self.stamps: list[float] = []
        self.shapes: set = set()
        self.lost_seen: list[tuple[float, str]] = []   # (time, status) for each read that found the stream lost
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.is_set():
            ok, frame, t = self.src.read()
            if ok:
                self.shapes.add(frame.shape)
                self.stamps.append(t)
            elif self.src.lost:
                self.lost_seen.append((time.monotonic(), self.src.status))
            elif self.src.ended:
                return

    def frames_after(self, t: float) -> int:
        return sum(1 for s in self.stamps if s > t)

    def stop(self):
        self.done.set()
        self.thread.join(5)


def wait_for(cond, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def test_a_source_on_the_server_gets_frames(mjpeg_server):
    server = mjpeg_server(grey, fps=30.0)
    notes = []
    src = open_source(server.url, SETTINGS, stop=threading.Event(), notice=notes.append)
    try:
        reader = Reader(src)
        assert wait_for(lambda: len(reader.stamps) >= 30, 10), "no frames from the stream"
        reader.stop()
        assert reader.shapes == {(480, 640, 3)}
        assert all(b > a for a, b in zip(reader.stamps, reader.stamps[1:]))
        assert src.status == "" and not src.lost and notes == []
        assert src.health(reader.stamps[0]) == {"reconnects": 0, "reconnect_attempts": 0, "outage_s": 0.0,
                                                "outages": []}
    finally:
        src.close()
    assert server.requests == 1


@pytest.mark.parametrize("hang", [False, True], ids=["dropped", "silent"])
def test_a_cut_stream_reconnects_and_keeps_its_clock(mjpeg_server, hang):
    """dropped: the server closes the connection and refuses new ones; silent: the connection stays open with
    nothing on it (Wi-Fi gone), which only FFmpeg's read timeout can tell."""
    server = mjpeg_server(grey, fps=30.0)
    notes = []
    src = open_source(server.url, SETTINGS, stop=threading.Event(), notice=notes.append)
    reader = Reader(src)
    try:
        assert wait_for(lambda: len(reader.stamps) >= 20, 10)
        server.cut(2.0, hang=hang)
        t_cut = server.cuts[0][0]
        assert wait_for(lambda: server.cuts[0][1] is not None and reader.frames_after(server.cuts[0][1]) >= 20, 15), \
            f"frames did not resume after the cut: {src.health()}"
        reader.stop()
        t_resume = server.cuts[0][1]
        health = src.health(0.0)
    finally:
        reader.stop()
        src.close()
    stamps = reader.stamps
    assert reader.shapes == {(480, 640, 3)}
    assert all(b > a for a, b in zip(stamps, stamps[1:])), "capture times went backwards"
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) >= 2.0, "no gap the length of the cut"
    assert sorted(gaps)[-2] < 0.5, "more than one gap"
    assert health["reconnects"] == 1 and len(health["outages"]) == 1
    outage = health["outages"][0]
    # a frame is stamped when it is read: one sent before the cut is read late when the machine stalls
    assert outage["last_frame"] <= t_cut + 0.3 and outage["noticed"] >= t_cut and outage["back"] > t_resume
    assert health["outage_s"] == pytest.approx(outage["back"] - outage["last_frame"], abs=0.002)
    assert health["reconnect_attempts"] >= 1
    assert server.requests >= 2
    assert len(notes) == 2 and notes[0] == LOST_TEXT, notes
    assert notes[1] == f"camera stream back after {health['outage_s']:.1f} s"
    assert reader.lost_seen, "read() never returned during the outage (the loop could not show the hand gone)"
    assert all(status.startswith(LOST_TEXT) for _, status in reader.lost_seen)
    polls = [b - a for (a, _), (b, _) in zip(reader.lost_seen, reader.lost_seen[1:])]
    assert max(polls) < 0.5, "read() should come back every OUTAGE_POLL_S while the stream is lost"
    assert src.status == ""
    noticed = outage["noticed"] - t_cut
    back = outage["back"] - t_resume
    limit = STALL_S + 1.0 if hang else 1.0
    assert noticed < limit, f"the cut was noticed after {noticed:.2f} s"
    print(f"\nstream cut ({'silent' if hang else 'dropped'}): noticed {noticed:.3f} s after the cut; frames again "
          f"{back:.3f} s after the server came back; {health['reconnect_attempts']} attempts; "
          f"outage {health['outage_s']:.2f} s")


def test_stop_ends_a_source_waiting_to_reconnect(mjpeg_server):
    """The server never comes back: the source keeps trying with backoff (not hammering), says so in its status,
    and the session's stop ends read() at once and the reader thread within a bounded time."""
    server = mjpeg_server(grey, fps=30.0)
    stop = threading.Event()
    notes = []
    src = open_source(server.url, SETTINGS, stop=stop, notice=notes.append)
    try:
        ok, _, _ = src.read()
        assert ok
        server.cut()
        assert wait_for(lambda: src.lost, 5)
        t_lost = src.outages[0][1]
        time.sleep(4.2)
        attempts = src.attempts
        # waits 0.25, 0.5, 1, 2 (then 4): four attempts by 3.75 s, the fifth at 7.75 s
        assert 3 <= attempts <= 5, f"{attempts} reconnect attempts in {time.monotonic() - t_lost:.1f} s"
        assert src.status.startswith(LOST_TEXT) and src.status.endswith(" s)")
        ok, _, _ = src.read()
        assert not ok and notes == [LOST_TEXT]
        t = time.monotonic()
        stop.set()
        src._thread.join(5)
        ended = time.monotonic() - t
        assert not src._thread.is_alive() and ended < 0.5, f"the reader took {ended:.2f} s to see the stop"
        t = time.monotonic()
        assert src.read(timeout=30.0)[0] is False and time.monotonic() - t < 0.5   # not its 30 s timeout
        assert src.ended and src.health()["reconnects"] == 0 and src.health()["outages"][0]["back"] is None
    finally:
        src.close()


def test_stop_during_a_reconnect_attempt_that_hangs(mjpeg_server):
    """After the cut something accepts connections on the camera's port but never answers (a frozen app): each
    attempt waits for the open timeout, so a stop is honoured within REOPEN_TIMEOUT_MS."""
    server = mjpeg_server(grey, fps=30.0)
    stop = threading.Event()
    src = open_source(server.url, SETTINGS, stop=stop)
    mute = None
    try:
        ok, _, _ = src.read()
        assert ok
        server.cut()
        mute = socket.socket()
        mute.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        mute.bind(("127.0.0.1", server.port))
        mute.listen(16)     # the kernel completes the handshakes; nobody ever reads or answers
        assert wait_for(lambda: src.attempts >= 2, 10), "no reconnect attempt reached the mute port"
        t = time.monotonic()
        stop.set()
        src._thread.join(10)
        ended = time.monotonic() - t
        assert not src._thread.is_alive()
        assert ended < sources.REOPEN_TIMEOUT_MS / 1000.0 + 0.5, f"the reader took {ended:.2f} s to see the stop"
        print(f"\nstop during a hanging reconnect attempt: reader ended {ended:.2f} s after the stop")
    finally:
        src.close()
        if mute is not None:
            mute.close()


def test_frames_of_another_size_are_cropped_and_fitted(mjpeg_server):
    """A 1280x720 phone stream in a 640x480 session: the centre 960x720 is kept (a square stays square) and resized."""
    big = np.full((720, 1280, 3), 40, np.uint8)
    big[:, :160] = (0, 0, 255)      # cropped away on the left ...
    big[:, -160:] = (0, 255, 0)     # ... and on the right
    cv2.rectangle(big, (640 - 150, 360 - 150), (640 + 150, 360 + 150), (255, 255, 255), -1)   # 300x300 centred
    server = mjpeg_server(lambda i: big, fps=30.0)
    src = open_source(server.url, SETTINGS, stop=threading.Event())
    try:
        frames = []
        for _ in range(3):
            ok, frame, _ = src.read()
            assert ok and frame.shape == (480, 640, 3)
            frames.append(frame.copy())
        assert "1280x720 fitted to 640x480" in src.describe()
    finally:
        src.close()
    frame = frames[-1]
    assert frame[:, :8].mean() == pytest.approx(40, abs=6) and frame[:, -8:].mean() == pytest.approx(40, abs=6)
    white = cv2.inRange(frame, (200, 200, 200), (255, 255, 255))
    x, y, w, h = cv2.boundingRect(white)
    assert w == pytest.approx(200, abs=3) and h == pytest.approx(200, abs=3)      # 300 px * 480/720
    assert x + w / 2 == pytest.approx(320, abs=2) and y + h / 2 == pytest.approx(240, abs=2)


def test_vision_child_shows_the_hand_gone_during_an_outage(mjpeg_server, tmp_path):
    """The vision child on a stream that is cut: during the cut the hand state says no hand (same frame index, so
    nothing counts a new frame), after it the hand is back, and stats-vision.json counts the reconnect."""
    from vision.process import run
    from visionkit import Session
    painter = Painter(640, 480)
    room = painter.paint(None).copy()
    hand = painter.paint((300.0, 260.0, 110.0)).copy()
    server = mjpeg_server(lambda i: room if i < 15 else hand, fps=30.0)
    ses = Session(tmp_path, Settings(camera=server.url, window=False, detector="classic")).start(run)
    try:
        ses.go(count_in=0.2)
        assert wait_for(lambda: ses.hand.read()["present"] == 1.0, 10), "no hand before the cut"
        server.cut(2.0)
        assert wait_for(lambda: ses.hand.read()["present"] == 0.0, 2), "the hand stayed present after the cut"
        during = ses.hand.read()
        time.sleep(0.5)
        assert ses.hand.read()["frame_index"] == during["frame_index"]
        assert wait_for(lambda: server.cuts[0][1] is not None and ses.hand.read()["present"] == 1.0, 10), \
            "no hand after the stream came back"
        after = ses.hand.read()
        time.sleep(0.5)
        ses.stop()
        messages = ses.messages()
    finally:
        ses.close()
    assert ses.error is None
    assert after["frame_index"] > during["frame_index"] and after["t_capture"] > during["t_capture"] + 1.5
    assert ("notice", "vision", LOST_TEXT) in messages
    assert any(m[0] == "notice" and m[2].startswith("camera stream back after") for m in messages), messages
    st = json.loads((tmp_path / "stats-vision.json").read_text())
    assert st["reconnects"] == 1 and st["outage_s"] >= 1.5 and st["outages"][0]["back"] is not None


REPORT_FILES = ("performance.wav", "notes.csv", "score.json", "stats.json", "report.pdf", "summary.eml",
                "session.json", "frames.csv", "stats-vision.json")


def test_session_on_a_stream_cut_mid_session(mjpeg_server, no_audio_env, tmp_path):
    """`python main.py play --camera http://...` with the stream cut for 3 s mid-session: the session ends normally
    with every report; stats-vision.json shows the reconnect; frames.csv has hand frames before and after the gap."""
    from vision.democlip import demo_clip_path
    server = mjpeg_server(ClipFrames(demo_clip_path(Settings())), fps=30.0)   # the demo hand, on its own clock
    out = tmp_path / "sessions"
    env = no_audio_env | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "play", "--camera", server.url, "--no-window",
                             "--duration", "12", "--detector", "classic", "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def running():
            for f in out.glob("*/session.json"):
                try:
                    return json.loads(f.read_text()).get("stop_reason") == "running"
                except json.JSONDecodeError:
                    pass
            return proc.poll() is not None
        assert wait_for(running, 90, 0.1) and proc.poll() is None, "the session did not start"
        time.sleep(4.0)
        server.cut(3.0)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stdout + stderr
    folders = [d for d in out.iterdir() if d.is_dir()]
    assert len(folders) == 1
    folder = folders[0]
    for name in REPORT_FILES:
        assert (folder / name).is_file(), f"{name} missing: {sorted(p.name for p in folder.iterdir())}"
    info = json.loads((folder / "session.json").read_text())
    assert info["stop_reason"] == "--duration 12 s reached"
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]
    assert f"vision: {LOST_TEXT}" in info["notices"]
    assert any(n.startswith("vision: camera stream back after") for n in info["notices"]), info["notices"]
    assert LOST_TEXT in stdout
    st = json.loads((folder / "stats-vision.json").read_text())
    assert st["reconnects"] == 1 and 2.5 <= st["outage_s"] <= 8.0, st
    gap = st["outages"][0]
    rows = read_csv(folder / "frames.csv")
    t = [r["t_capture"] for r in rows]
    assert all(b > a for a, b in zip(t, t[1:])), "capture times in frames.csv are not monotonic"
    i_gap = max(range(1, len(t)), key=lambda k: t[k] - t[k - 1])
    assert t[i_gap] - t[i_gap - 1] >= 2.5
    assert t[i_gap - 1] == pytest.approx(gap["last_frame"], abs=0.01) and t[i_gap] == pytest.approx(gap["back"], abs=0.01)
    before = [r for r in rows[:i_gap] if r["present"] == 1]
    after = [r for r in rows[i_gap:] if r["present"] == 1]
    assert len(before) >= 30 and len(after) >= 30, (len(before), len(after))
    assert t[-1] > 11.0, "frames stopped before the session's end"
    print(f"\nsession on a cut stream: outage {st['outage_s']:.2f} s, noticed {gap['noticed'] - gap['last_frame']:.3f} s "
          f"after the last frame, {len(before)} hand frames before, {len(after)} after")
