"""Where frames come from: a webcam index, a video file, a stream URL, or the demo clip.

Two kinds, because their timing differs:
- paced sources (files, demo): every frame has its place on the session clock; the vision loop waits for it
  (``is_file`` True). ``read()`` decodes the next frame; ``skip(n)`` passes frames without decoding them.
- live sources (webcam, stream): a reader thread keeps reading so the newest frame is always the one handed out
  (a camera's or FFmpeg's queue would otherwise hand out stale frames); ``read()`` waits for a frame newer than the
  last one returned. Frames the loop never took are counted in ``missed``.
``read()`` returns (ok, frame_bgr, t_mono) with t_mono = time.monotonic() when the frame was captured (for live
sources: when the camera/stream handed it over; for files: when its decode began). Frames of another size than the
session's width x height are cropped to its aspect ratio and resized (see FrameFitter).

A stream that drops (phone camera app, RTSP) is not the end of the session: the reader thread notices within
STALL_TIMEOUT_MS (FFmpeg's read timeout; a closed connection at once), reopens the URL with backoff (0.25 s doubling to
4 s) until it answers or the session stops, and frames resume with their own capture times (the clock never stops).
Meanwhile ``lost`` is True, ``read()`` returns (False, None, t) every OUTAGE_POLL_S so the loop can show the hand as
gone and keep the window alive, and ``status`` says so. A stream that never comes back is retried until the session
ends (song end, --duration, q, Ctrl-C); the player is told once per outage, and the reports are written as always.
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
from game.quiet import quiet_ffmpeg

OPEN_TIMEOUT_MS = 8000       # first open of a stream URL (a phone on Wi-Fi may be slow to answer)
REOPEN_TIMEOUT_MS = 2000     # each reconnect attempt: bounds how long a stop can wait on an attempt
STALL_TIMEOUT_MS = 1500      # a stream silent this long is lost (FFmpeg's read timeout; phone apps send >= 5 fps)
READ_WAIT_S = 5.0            # read(): a webcam silent this long has stopped
OUTAGE_POLL_S = 0.1          # read() during an outage returns this often (the loop publishes "no hand", pumps keys)
RECONNECT_FIRST_S = 0.25     # backoff between reconnect attempts: first wait ...
RECONNECT_MAX_S = 4.0        # ... doubling up to this
STOP_POLL_S = 0.05           # how often a backoff wait looks at the session's stop event

LOST_TEXT = "camera stream lost: reconnecting"


class FrameSource:
    is_file = False
    fps = 30.0
    missed = 0
    lost = False      # a live stream in an outage (reconnecting)
    status = ""       # a short line for the window, "" when all is well

    def read(self):
        raise NotImplementedError

    def skip(self, n: int) -> int:
        return 0

    def describe(self) -> str:
        raise NotImplementedError

    def health(self, t0: float | None = None) -> dict:
        """Figures for stats-vision.json (a stream's reconnects and outages); {} for sources that cannot drop."""
        return {}

    def close(self) -> None:
        pass


class FrameFitter:
    """Fits frames of any size into the session's width x height: a centred crop to the session's aspect ratio (the
    hand keeps its shape, which the landmark model and the palm size rely on) and one resize into preallocated
    buffers. INTER_AREA where the factor is a whole number (OpenCV's fast path, 0.26 ms 1280x960 -> 640x480 here),
    INTER_LINEAR otherwise (0.4 ms from 1280x720, where INTER_AREA takes 2.1 ms).

    Two buffers in turn: a frame handed out stays valid while the next one is made (the loop may still hold it)."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self._bufs = None
        self._turn = 0
        self.source_size: tuple[int, int] | None = None   # (w, h) of the last frame that needed fitting

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        fh, fw = frame.shape[:2]
        if fw == self.width and fh == self.height:
            return frame
        self.source_size = (fw, fh)
        if fw * self.height > fh * self.width:      # wider than ours: crop the sides
            cw = fh * self.width // self.height
            x = (fw - cw) // 2
            frame, fw = frame[:, x:x + cw], cw
        elif fw * self.height < fh * self.width:    # taller: crop top and bottom
            ch = fw * self.height // self.width
            y = (fh - ch) // 2
            frame, fh = frame[y:y + ch], ch
        if self._bufs is None or self._bufs[0].shape[2:] != frame.shape[2:]:
            self._bufs = [np.empty((self.height, self.width) + frame.shape[2:], frame.dtype) for _ in range(2)]
        whole = fw % self.width == 0 and fh % self.height == 0
        dst = self._bufs[self._turn]
        self._turn ^= 1
        cv2.resize(frame, (self.width, self.height), dst=dst,
                   interpolation=cv2.INTER_AREA if whole else cv2.INTER_LINEAR)
        return dst

    def describe(self) -> str:
        if self.source_size is None:
            return ""
        return f", {self.source_size[0]}x{self.source_size[1]} fitted to {self.width}x{self.height}"


def _fps(cap, fallback: float) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 1.0 <= fps <= 240.0 else float(fallback)


class FileSource(FrameSource):
    """A video file, read frame by frame at its own rate (the vision loop paces it)."""
    is_file = True

    def __init__(self, path: Path, settings, label: str | None = None):
        self.path = Path(path)
        self.fit = FrameFitter(settings.width, settings.height)
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
        self.loop = bool(settings.loop_video)
        self.loops = 0               # times the file started again (--loop-video)

    def _rewind(self) -> bool:
        """Back to the first frame for --loop-video; False when not looping or the file cannot seek."""
        if not self.loop or not self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            return False
        self.loops += 1
        return True

    def read(self):
        t = time.monotonic()
        ok, frame = self.cap.read()
        if not ok and self._rewind():
            ok, frame = self.cap.read()
        if not ok:
            return False, None, t
        return True, self.fit(frame), t

    def skip(self, n: int) -> int:
        done = 0
        for _ in range(n):
            if not self.cap.grab() and not (self._rewind() and self.cap.grab()):
                break
            done += 1
        return done

    def describe(self) -> str:
        return f"{self.label} ({self.fps:g} fps{self.fit.describe()})"

    def close(self) -> None:
        self.cap.release()


class LiveSource(FrameSource):
    """A webcam or a network stream; a thread keeps only the newest frame.

    With ``reopen`` (a function returning a newly opened capture, or None when it cannot), a capture that fails is
    reopened with backoff instead of ending the source (streams). Without it (webcams) a failed read ends it.
    ``notice`` is told of each outage and its end; it is called from read() only, so from the loop's thread (the
    child's message pipe must not be written from two threads at once)."""

    def __init__(self, cap, settings, label: str, stop=None, notice=None, reopen=None):
        self.cap = cap
        self._stop = stop      # a threading.Event (e.g. ctx.stopped): read() gives up at once when it is set
        self.notice = notice
        self.reopen = reopen
        self.label = label
        self.fit = FrameFitter(settings.width, settings.height)
        self.fps = _fps(cap, settings.fps)
        self._cond = threading.Condition()
        self._frame = None
        self._t = 0.0
        self._seq = 0          # frames received
        self._taken = 0        # seq of the last frame handed out
        self._ended = False
        self._closing = False
        self._released = False
        self._quit = threading.Event()   # set by close(): ends a backoff wait at once
        self.missed = 0
        # reconnection: an outage is [t_last_frame, t_noticed, t_back or None] on time.monotonic()
        self.outages: list[list] = []
        self.reconnects = 0    # outages that ended with frames flowing again
        self.attempts = 0      # reopen attempts, successful or not
        self._backoff = RECONNECT_FIRST_S
        self._said: list[str] = []   # notices waiting for read() to send them
        self._thread = threading.Thread(target=self._pump, name="camera-reader", daemon=True)
        self._thread.start()

    # ---- the reader thread ----------------------------------------------------------------------------------
    def _pump(self) -> None:
        try:
            while not self._closing:
                ok, frame = self.cap.read()
                t = time.monotonic()
                if ok:
                    self._deliver(frame, t)
                elif self.reopen is None:
                    return   # a webcam that fails has ended (the finally says so)
                else:
                    self._lose(t)
                    if not self._reconnect():
                        return
        finally:
            with self._cond:
                if self._closing and not self._released:  # close() gave up waiting for us: release it now
                    self.cap.release()
                    self._released = True
                self._ended = True   # no more frames: read() returns at once from now on
                self._cond.notify_all()

    def _deliver(self, frame, t: float) -> None:
        with self._cond:
            if self.outages and self.outages[-1][2] is None:   # first frame after an outage
                self.outages[-1][2] = t
                self.reconnects += 1
                self._backoff = RECONNECT_FIRST_S
                self._said.append(f"camera stream back after {t - self.outages[-1][0]:.1f} s")
            if self._seq > self._taken:
                self.missed += 1   # the previous frame was never taken: the loop was busy
            self._frame, self._t = frame, t
            self._seq += 1
            self._cond.notify_all()

    def _lose(self, t: float) -> None:
        with self._cond:
            if not self.outages or self.outages[-1][2] is not None:   # a new outage, not a failed retry
                self.outages.append([self._t if self._seq else t, t, None])
                self._said.append(LOST_TEXT)
            self._cond.notify_all()

    def _stopping(self) -> bool:
        return self._closing or (self._stop is not None and self._stop.is_set())

    def _reconnect(self) -> bool:
        """Release the dead capture, then reopen with backoff until it opens; False when closing or stopped."""
        with self._cond:
            self.cap.release()
            self._released = True
        while True:
            deadline = time.monotonic() + self._backoff
            while not self._stopping() and time.monotonic() < deadline:
                self._quit.wait(min(STOP_POLL_S, max(0.0, deadline - time.monotonic())))
            if self._stopping():
                return False
            self._backoff = min(self._backoff * 2.0, RECONNECT_MAX_S)
            self.attempts += 1
            cap = self.reopen()
            if cap is not None:
                with self._cond:
                    self.cap, self._released = cap, False
                    if self._closing:
                        return False   # the finally releases it
                return True

    # ---- the loop's side ------------------------------------------------------------------------------------
    def read(self, timeout: float = READ_WAIT_S):
        """The next newer frame; (False, None, t) after ``timeout``, at the end, within 0.1 s of a stop, and during
        an outage (``lost``) every OUTAGE_POLL_S."""
        start = time.monotonic()
        deadline = start + timeout
        with self._cond:
            while self._seq == self._taken and not self._ended:
                now = time.monotonic()
                limit = min(deadline, start + OUTAGE_POLL_S) if self.lost else deadline
                if now >= limit or (self._stop is not None and self._stop.is_set()):
                    break
                self._cond.wait(min(limit - now, 0.1))
            said, self._said = self._said, []
            fresh = self._seq != self._taken
            if fresh:
                self._taken = self._seq
                frame, t = self._frame, self._t
        if self.notice is not None:
            for text in said:
                self.notice(text)
        if not fresh:
            return False, None, time.monotonic()
        return True, self.fit(frame), t

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def lost(self) -> bool:
        return bool(self.outages) and self.outages[-1][2] is None

    @property
    def status(self) -> str:
        if not self.lost:
            return ""
        return f"{LOST_TEXT} ({time.monotonic() - self.outages[-1][0]:.0f} s)"

    def outage_s(self, now: float | None = None) -> float:
        """Seconds without pictures in all outages (an outage still on counts up to ``now``)."""
        now = time.monotonic() if now is None else now
        return sum((back if back is not None else now) - last for last, _, back in self.outages)

    def health(self, t0: float | None = None) -> dict:
        if self.reopen is None:
            return {}
        now = time.monotonic()
        base = t0 if t0 is not None else 0.0
        return {
            "reconnects": self.reconnects,
            "reconnect_attempts": self.attempts,
            "outage_s": round(self.outage_s(now), 3),
            # each outage on the session clock: last frame before it, when it was noticed, first frame after it
            "outages": [{"last_frame": round(last - base, 3), "noticed": round(noticed - base, 3),
                         "back": round(back - base, 3) if back is not None else None}
                        for last, noticed, back in self.outages],
        }

    def describe(self) -> str:
        return f"{self.label} ({self.fps:g} fps{self.fit.describe()})"

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader. The capture is released only once the reader is out of cap.read() (releasing it under
        a running read is a use-after-free): if the reader is still stuck after ``timeout``, it releases the
        capture itself when its read returns, or process exit does."""
        with self._cond:
            self._closing = True
        self._quit.set()
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


def list_cameras(max_index: int = 9, platform: str = sys.platform) -> list[dict]:
    """Webcams that open, with the size they deliver: index, name (Linux: from sysfs), width, height.

    On Linux only the /dev/video* nodes are tried. Elsewhere there is no such list, and an absent index is slow to
    fail (each open waits for the driver), so indexes go up from 0 and stop at the second in a row that does not open:
    macOS and Windows number their cameras without gaps (one miss is allowed for a camera that is busy).
    """
    import glob
    import re as _re
    linux = platform.startswith("linux")
    if linux:
        indexes = sorted(int(m.group(1)) for d in glob.glob("/dev/video*")
                         if (m := _re.fullmatch(r"/dev/video(\d+)", d)))
    else:
        indexes = list(range(max_index + 1))
    found, misses = [], 0
    for index in indexes:
        with _quiet_opencv():
            cap = cv2.VideoCapture(index)
            try:
                ok = cap.isOpened() and cap.read()[0]
                size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            finally:
                cap.release()
        if ok:
            misses = 0
            name = Path(f"/sys/class/video4linux/video{index}/name")
            found.append({"index": index, "name": name.read_text().strip() if name.exists() else f"camera {index}",
                          "width": size[0], "height": size[1]})
        else:
            misses += 1
            if not linux and misses >= 2:
                break
    return found


def camera_permission_hint(platform: str = sys.platform) -> str:
    """macOS opens no camera for a program the player has not allowed, and OpenCV's own line saying so is kept off
    the terminal (_quiet_opencv): so the failure says where to allow it."""
    if platform == "darwin":
        return ("; on macOS, allow the camera for your terminal in System Settings > Privacy & Security > Camera, "
                "then start it again")
    return ""


def open_camera(index: int, settings, stop=None, notice=None) -> LiveSource:
    """A webcam with one driver buffer (the reader thread keeps the newest frame) at the size and rate asked for;
    a camera that delivers another size is fitted (FrameFitter)."""
    with _quiet_opencv():
        cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise ChildFailure(f"no camera at index {index}: try --camera demo, a video file, or a stream URL "
                           f"(`python main.py cameras` lists the webcams that open){camera_permission_hint()}")
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
    cap.set(cv2.CAP_PROP_FPS, settings.fps)
    return LiveSource(cap, settings, f"camera {index}", stop, notice)


def _quiet_stream_logs() -> None:
    """A reconnecting stream would print FFmpeg's and OpenCV's warnings ("Connection refused", "Stream timeout
    triggered") on every attempt; the player gets our one notice per outage instead. FFmpeg reads
    OPENCV_FFMPEG_LOGLEVEL once, when OpenCV first uses it in the process (a value the user set is kept)."""
    quiet_ffmpeg()
    log = cv2.utils.logging
    if log.getLogLevel() > log.LOG_LEVEL_ERROR:
        log.setLogLevel(log.LOG_LEVEL_ERROR)


def _open_url(url: str, open_ms: int):
    """An opened FFmpeg capture of ``url`` or None; both the open and each read are bounded by timeouts."""
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, open_ms,
                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, STALL_TIMEOUT_MS])
    if not cap.isOpened():
        cap.release()
        return None
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


def open_stream(url: str, settings, stop=None, notice=None) -> LiveSource:
    """A stream URL that reconnects when it drops (see the module notes). Failing to open it at the start is an error:
    a wrong URL should be said at once, not retried for the whole song."""
    _quiet_stream_logs()
    with _quiet_opencv():
        cap = _open_url(url, OPEN_TIMEOUT_MS)
    if cap is None:
        raise ChildFailure(f"cannot open stream {url}: check the URL and that the camera server is running, "
                           f"or try --camera demo, a camera index, or a video file")
    return LiveSource(cap, settings, f"stream {url}", stop, notice, reopen=lambda: _open_url(url, REOPEN_TIMEOUT_MS))


def open_source(spec: str, settings, stop=None, notice=None) -> FrameSource:
    """A webcam index ("0"), a video file path, a stream URL (http://, https://, rtsp://...), or "demo".

    ``stop`` (a threading.Event, e.g. ctx.stopped) lets a live source's read() return at once when the session ends
    and a stream stop reconnecting; ``notice`` (e.g. ctx.notice) is told when a stream is lost and when it is back."""
    spec = str(spec).strip()
    if spec == "demo":
        from vision.democlip import demo_clip_path
        return FileSource(demo_clip_path(settings), settings, label=f"demo clip of {settings.song}")
    if spec.isdigit():
        return open_camera(int(spec), settings, stop, notice)
    if "://" in spec:
        return open_stream(spec, settings, stop, notice)
    return FileSource(Path(spec).expanduser(), settings)
