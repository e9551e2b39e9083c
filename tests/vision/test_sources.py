"""Frame sources: a video file, an HTTP MJPEG stream served here on 127.0.0.1, and clear failures."""
from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from game.child import ChildFailure
from game.settings import Settings
from vision.classic import ClassicDetector
from vision.handdraw import Painter
from vision.sources import open_source
from standins import MjpegServer

SETTINGS = Settings(camera="demo", width=640, height=480)


def write_video(path, frames, fps=25.0):
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert out.isOpened()
    for f in frames:
        out.write(f)
    out.release()


def test_video_file(tmp_path):
    frames = [np.full((480, 640, 3), 10 * i, np.uint8) for i in range(20)]
    path = tmp_path / "grey.avi"
    write_video(path, frames)
    src = open_source(str(path), SETTINGS)
    try:
        assert src.is_file and src.fps == pytest.approx(25.0) and str(path) in src.describe()
        got = []
        while True:
            t = time.monotonic()
            ok, frame, t_mono = src.read()
            if not ok:
                break
            assert t <= t_mono <= time.monotonic()
            got.append(float(frame.mean()))
        assert got == pytest.approx([10.0 * i for i in range(20)], abs=2.0)
    finally:
        src.close()


def test_video_file_resized_and_skipped(tmp_path):
    frames = [np.full((240, 320, 3), 10 * i, np.uint8) for i in range(10)]
    path = tmp_path / "small.avi"
    write_video(path, frames)
    src = open_source(str(path), SETTINGS)
    try:
        assert src.skip(4) == 4
        ok, frame, _ = src.read()
        assert ok and frame.shape == (480, 640, 3) and frame.mean() == pytest.approx(40.0, abs=2.0)
    finally:
        src.close()


def test_a_live_capture_that_fails_without_reopen_ends(tmp_path):
    """A webcam's capture (no reopen) that fails ends the source: read() says so at once, nothing reconnects."""
    from vision.sources import LiveSource
    path = tmp_path / "short.avi"
    write_video(path, [np.full((240, 320, 3), 10 * i, np.uint8) for i in range(10)])
    src = LiveSource(cv2.VideoCapture(str(path)), SETTINGS, "camera (a file here)")
    try:
        src._thread.join(5)
        assert src.ended and not src.lost and src.health() == {}
        ok, frame, _ = src.read()   # the newest frame is still handed out once ...
        assert ok and frame.shape == (480, 640, 3) and frame.mean() == pytest.approx(90.0, abs=2.0)
        t = time.monotonic()
        assert src.read()[0] is False and time.monotonic() - t < 0.5   # ... then the end, at once (not in 30 s)
    finally:
        src.close()


def test_missing_file_and_camera_say_what_to_do(tmp_path):
    with pytest.raises(ChildFailure, match=r"no video file at .*nope\.avi.*--camera demo"):
        open_source(str(tmp_path / "nope.avi"), SETTINGS)
    with pytest.raises(ChildFailure, match=r"^no camera at index 57: try --camera demo, a video file, or a stream URL "
                       r"\(`python main.py cameras` lists the webcams that open\)$"):
        open_source("57", SETTINGS)
    with pytest.raises(ChildFailure, match=r"cannot open stream http://127\.0\.0\.1:9/"):
        open_source("http://127.0.0.1:9/cam.mjpg", SETTINGS)


def test_on_macos_a_camera_that_will_not_open_says_where_to_allow_it(monkeypatch):
    """macOS gives no camera to a terminal the player has not allowed, and says so only in OpenCV's muted log."""
    from vision import sources
    monkeypatch.setattr(sources, "camera_permission_hint",
                        lambda platform="darwin", real=sources.camera_permission_hint: real("darwin"))
    with pytest.raises(ChildFailure, match=r"^no camera at index 57: .*lists the webcams that open\); on macOS, allow "
                       r"the camera for your terminal in System Settings > Privacy & Security > Camera"):
        open_source("57", SETTINGS)


def test_http_mjpeg_stream():
    painter = Painter(640, 480)
    room = painter.paint(None).copy()
    hand = painter.paint((300.0, 300.0, 100.0)).copy()
    truth = cv2.countNonZero(painter.mask) / (640 * 480)
    server = MjpegServer(lambda i: room if i < 10 else hand)
    src = open_source(server.url, SETTINGS)
    try:
        assert not src.is_file and "stream" in src.describe()
        det = ClassicDetector(640, 480)
        areas, stamps = [], []
        deadline = time.monotonic() + 15
        while len(areas) < 40 and time.monotonic() < deadline:
            ok, frame, t_mono = src.read()
            assert ok and frame.shape == (480, 640, 3)
            assert t_mono <= time.monotonic()
            stamps.append(t_mono)
            r = det.detect(frame)
            areas.append(r.hand.area if r.present else 0.0)
        assert len(areas) == 40
        assert all(b > a for a, b in zip(stamps, stamps[1:]))  # always a newer frame
        assert areas[0] == 0.0
        assert areas[-1] == pytest.approx(truth, rel=0.05)
    finally:
        src.close()
        server.stop()
    assert server.sent >= 40


def test_stream_hands_out_newest_frame():
    """A slow reader gets the latest frame, not a queue of stale ones."""
    server = MjpegServer(lambda i: np.full((480, 640, 3), (i * 7) % 250, np.uint8), fps=30.0)
    src = open_source(server.url, SETTINGS)
    try:
        ok, _, _ = src.read()
        assert ok
        time.sleep(0.5)  # a busy loop: ~15 frames arrive meanwhile
        ok, frame, t_mono = src.read()
        assert ok and time.monotonic() - t_mono < 0.25   # a queue's oldest frame would be ~0.5 s old
        assert src.missed >= 5
    finally:
        src.close()
        server.stop()


def test_stalled_stream_stop_and_close():
    """A stream that stalls: read() returns within 0.1 s of the stop event (the reader is still waiting inside
    cap.read() then), and close() does not release the capture while the reader is inside cap.read(): the reader
    leaves it by FFmpeg's read timeout (STALL_TIMEOUT_MS) at the latest and releases the capture itself."""
    from vision.sources import STALL_TIMEOUT_MS
    server = MjpegServer(lambda i: np.full((480, 640, 3), 100, np.uint8), fps=30.0, stall_after=5)
    stop = threading.Event()
    src = open_source(server.url, SETTINGS, stop=stop)
    try:
        deadline = time.monotonic() + 5
        while server.sent < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        stalled_at = time.monotonic()
        for _ in range(10):     # take whatever arrived before the stall (a loaded machine may deliver it late)
            if not src.read(timeout=0.15)[0]:
                break
        threading.Timer(0.2, stop.set).start()
        t = time.monotonic()
        ok, _, _ = src.read()
        assert not ok and time.monotonic() - t < 0.5, "read() did not notice the stop"
        t = time.monotonic()
        src.close(timeout=0.1)
        assert time.monotonic() - t < 0.5
        assert time.monotonic() - stalled_at < STALL_TIMEOUT_MS / 1000.0 - 0.3, "too slow to test a stuck reader"
        assert src._thread.is_alive(), "the reader should still be stuck in the stalled stream's read"
        assert not src._released, "the capture was released under a running read"
        src._thread.join(STALL_TIMEOUT_MS / 1000.0 + 1.0)
        assert not src._thread.is_alive() and src._released, "the reader did not release the capture when done"
        assert src.lost and src.attempts == 0, "a stream that stalls after the stop is not reconnected"
    finally:
        server.stop()


class FakeCapture:
    """cv2.VideoCapture for list_cameras: the indexes in OPEN give a 640x480 frame; every call is noted."""
    OPEN: set = set()
    tried: list = []

    def __init__(self, index):
        self.index = index
        FakeCapture.tried.append(index)

    def isOpened(self):
        return self.index in self.OPEN

    def read(self):
        return (self.index in self.OPEN), None

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480}.get(prop, 0)

    def release(self):
        pass


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_cameras_elsewhere_than_linux_stop_at_the_second_index_in_a_row_that_does_not_open(platform, monkeypatch):
    """There is no /dev/video* to read there, and each absent index waits for the driver: 0..9 took seconds."""
    from vision import sources
    monkeypatch.setattr(sources.cv2, "VideoCapture", FakeCapture)
    FakeCapture.OPEN, FakeCapture.tried = {0, 1, 3}, []
    found = sources.list_cameras(platform=platform)
    assert [c["index"] for c in found] == [0, 1, 3] and FakeCapture.tried == [0, 1, 2, 3, 4, 5]
    assert found[0] == {"index": 0, "name": "camera 0", "width": 640, "height": 480}
    FakeCapture.OPEN, FakeCapture.tried = set(), []
    assert sources.list_cameras(platform=platform) == [] and FakeCapture.tried == [0, 1]


def test_cameras_on_linux_try_each_video_node(monkeypatch):
    from vision import sources
    monkeypatch.setattr(sources.cv2, "VideoCapture", FakeCapture)
    monkeypatch.setattr("glob.glob", lambda pattern: ["/dev/video4", "/dev/video0", "/dev/video-nope", "/dev/video12"])
    FakeCapture.OPEN, FakeCapture.tried = {12}, []
    assert [c["index"] for c in sources.list_cameras(platform="linux")] == [12]
    assert FakeCapture.tried == [0, 4, 12]
