"""Where frames come from: a webcam index, a video file, a stream URL, or the demo clip.

Two kinds, because their timing differs:
- paced sources (files, demo): every frame has its place on the session clock; the vision loop waits for it
  (``is_file`` True). ``read()`` decodes the next frame; ``skip(n)`` passes frames without decoding them.
- live sources (webcam, stream): a reader thread keeps reading so the newest frame is always the one handed out
  (a camera's or FFmpeg's queue would otherwise hand out stale frames); ``read()`` waits for a frame newer than the
  last one returned. Frames the loop never took are counted in ``missed``.
``read()`` returns (ok, frame_bgr, t_mono) with t_mono = time.monotonic() when the frame was captured (for live
sources: when the camera/stream handed it over; for files: when its decode began). Frames are resized to the
session's width x height when the source differs.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from game.child import ChildFailure

OPEN_TIMEOUT_MS = 8000
READ_TIMEOUT_MS = 5000


class FrameSource:
    is_file = False
    fps = 30.0
    missed = 0

    def read(self):
        raise NotImplementedError

    def skip(self, n: int) -> int:
        return 0

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] != width or frame.shape[0] != height:
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame


def _fps(cap, fallback: float) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 1.0 <= fps <= 240.0 else float(fallback)


class FileSource(FrameSource):
    """A video file, read frame by frame at its own rate (the vision loop paces it)."""
    is_file = True

    def __init__(self, path: Path, settings, label: str | None = None):
        self.path = Path(path)
        self.width, self.height = settings.width, settings.height
        self.label = label or f"video file {self.path}"
        if not self.path.is_file():
            raise ChildFailure(f"no video file at {self.path}: give an existing file, --camera demo, "
                               f"a camera index, or a stream URL")
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            raise ChildFailure(f"cannot open video file {self.path} (not a video OpenCV can read): "
                               f"try another file, --camera demo, a camera index, or a stream URL")
        self.fps = _fps(self.cap, settings.fps)
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def read(self):
        t = time.monotonic()
        ok, frame = self.cap.read()
        if not ok:
            return False, None, t
        return True, _fit(frame, self.width, self.height), t

    def skip(self, n: int) -> int:
        done = 0
        for _ in range(n):
            if not self.cap.grab():
                break
            done += 1
        return done

    def describe(self) -> str:
        return f"{self.label} ({self.fps:g} fps)"

    def close(self) -> None:
        self.cap.release()


class LiveSource(FrameSource):
    """A webcam or a network stream; a thread keeps only the newest frame."""

    def __init__(self, cap, settings, label: str, stop=None):
        self.cap = cap
        self._stop = stop      # a threading.Event (e.g. ctx.stopped): read() gives up at once when it is set
        self.label = label
        self.width, self.height = settings.width, settings.height
        self.fps = _fps(cap, settings.fps)
        self._cond = threading.Condition()
        self._frame = None
        self._t = 0.0
        self._seq = 0          # frames received
        self._taken = 0        # seq of the last frame handed out
        self._ended = False
        self._closing = False
        self._released = False
        self.missed = 0
        self._thread = threading.Thread(target=self._pump, name="camera-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._closing:
                ok, frame = self.cap.read()
                t = time.monotonic()
                with self._cond:
                    if not ok:
                        self._ended = True
                        self._cond.notify_all()
                        return
                    if self._seq > self._taken:
                        self.missed += 1   # the previous frame was never taken: the loop was busy
                    self._frame, self._t = frame, t
                    self._seq += 1
                    self._cond.notify_all()
        finally:
            with self._cond:
                if self._closing and not self._released:  # close() gave up waiting for us: release it now
                    self.cap.release()
                    self._released = True

    def read(self, timeout: float = READ_TIMEOUT_MS / 1000.0):
        """The next newer frame; (False, None, t) after ``timeout``, at the end, or within 0.1 s of a stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq == self._taken and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0 or (self._stop is not None and self._stop.is_set()):
                    return False, None, time.monotonic()
                self._cond.wait(min(left, 0.1))
            if self._seq == self._taken:   # ended and nothing new
                return False, None, time.monotonic()
            self._taken = self._seq
            frame, t = self._frame, self._t
        return True, _fit(frame, self.width, self.height), t

    @property
    def ended(self) -> bool:
        return self._ended

    def describe(self) -> str:
        return f"{self.label} ({self.fps:g} fps)"

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader. The capture is released only once the reader is out of cap.read() (releasing it under
        a running read is a use-after-free): if the reader is still stuck after ``timeout``, it releases the
        capture itself when its read returns, or process exit does."""
        with self._cond:
            self._closing = True
        self._thread.join(timeout=timeout)
        if not self._thread.is_alive():
            with self._cond:
                if not self._released:
                    self.cap.release()
                    self._released = True


@contextlib.contextmanager
def _quiet_opencv():
    """OpenCV logs a page of warnings for a missing camera; our own one-line failure says it better."""
    log = cv2.utils.logging
    old = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(old)


def list_cameras(max_index: int = 9) -> list[dict]:
    """Webcams that open, with the size they deliver: index, name (Linux: from sysfs), width, height.

    On Linux only the /dev/video* nodes are tried (probing absent indexes is slow); elsewhere 0..max_index.
    """
    import glob
    import re as _re
    if sys.platform.startswith("linux"):
        indexes = sorted(int(m.group(1)) for d in glob.glob("/dev/video*")
                         if (m := _re.fullmatch(r"/dev/video(\d+)", d)))
    else:
        indexes = list(range(max_index + 1))
    found = []
    for index in indexes:
        with _quiet_opencv():
            cap = cv2.VideoCapture(index)
            try:
                ok = cap.isOpened() and cap.read()[0]
                size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            finally:
                cap.release()
        if ok:
            name = Path(f"/sys/class/video4linux/video{index}/name")
            found.append({"index": index, "name": name.read_text().strip() if name.exists() else f"camera {index}",
                          "width": size[0], "height": size[1]})
    return found


def open_camera(index: int, settings, stop=None) -> LiveSource:
    with _quiet_opencv():
        cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise ChildFailure(f"no camera at index {index}: try --camera demo, a video file, or a stream URL "
                           f"(`python main.py cameras` lists the webcams that open)")
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
    cap.set(cv2.CAP_PROP_FPS, settings.fps)
    return LiveSource(cap, settings, f"camera {index}", stop)


def open_stream(url: str, settings, stop=None) -> LiveSource:
    with _quiet_opencv():
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS,
                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS])
    if not cap.isOpened():
        cap.release()
        raise ChildFailure(f"cannot open stream {url}: check the URL and that the camera server is running, "
                           f"or try --camera demo, a camera index, or a video file")
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return LiveSource(cap, settings, f"stream {url}", stop)


def open_source(spec: str, settings, stop=None) -> FrameSource:
    """A webcam index ("0"), a video file path, a stream URL (http://, https://, rtsp://...), or "demo".

    ``stop`` (a threading.Event, e.g. ctx.stopped) lets a live source's read() return at once when the session ends."""
    spec = str(spec).strip()
    if spec == "demo":
        from vision.democlip import demo_clip_path
        return FileSource(demo_clip_path(settings), settings, label=f"demo clip of {settings.song}")
    if spec.isdigit():
        return open_camera(int(spec), settings, stop)
    if "://" in spec:
        return open_stream(spec, settings, stop)
    return FileSource(Path(spec).expanduser(), settings)
