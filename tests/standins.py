"""Real stand-ins for the devices these machines lack, started by the tests themselves.

- PulseAudio with a null sink: PortAudio (through ALSA's pulse plugin) plays into it, and its monitor is the
  default input, so what the game plays is what the recorder hears.
- Xvfb: a real X display for the game window.
- aiosmtpd: a real SMTP server on 127.0.0.1 (on a free port we pick: its Controller cannot use port 0).
- MjpegServer: a phone camera app on 127.0.0.1 (HTTP MJPEG), whose stream can be cut and resumed mid-session.

Under CI=true a missing stand-in is a failure, never a skip.
"""
from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from audio.nullsink import NullSinkError, NullSinkServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Fail under CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"stand-in missing under CI=true: {what}", pytrace=False)
    pytest.skip(f"stand-in missing: {what}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        missing(f"{name} is not installed (run make setup)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PulseServer(NullSinkServer):
    """A private PulseAudio daemon with one null sink as default sink and its monitor as default source
    (audio/nullsink.py, also used by `bench audio --null-sink`); a start that fails is a missing stand-in."""

    def start(self) -> "PulseServer":
        try:
            return super().start()
        except NullSinkError as e:
            missing(str(e))


class XvfbDisplay:
    def __init__(self):
        self.proc = None
        self.display = None

    def start(self) -> "XvfbDisplay":
        exe = require_tool("Xvfb")
        for n in range(90, 140):
            if Path(f"/tmp/.X{n}-lock").exists() or Path(f"/tmp/.X11-unix/X{n}").exists():
                continue
            self.proc = subprocess.Popen([exe, f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    self.display = f":{n}"
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        missing("Xvfb did not start")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class SmtpServer:
    """aiosmtpd on 127.0.0.1 keeping every message it receives."""

    def __init__(self, **controller_kwargs):
        self.messages = []  # (envelope mail_from, rcpt_tos, raw bytes)
        self.kwargs = controller_kwargs
        self.controller = None
        self.port = None

    def start(self) -> "SmtpServer":
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            missing("aiosmtpd is not installed (run make setup)")
        server = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):
                server.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()


class MjpegServer:
    """A phone camera app on 127.0.0.1: HTTP ``multipart/x-mixed-replace`` JPEGs at ``fps`` on any path (``url``
    ends in /video like IP Webcam's).

    The camera runs on its own clock from the first request: frame i = ``make(i)`` is due at i / fps, every client
    gets the newest one, and frames due while nobody listens (during a cut) are never seen, as with a real camera.
    - ``cut(seconds)``: drop every connection and refuse new ones (the listening socket is closed) for ``seconds``
      (None: until ``resume()``); ``hang=True`` keeps live connections open but silent instead (Wi-Fi gone without a
      goodbye; they are closed on resume). ``cuts`` holds [t_cut, t_resume] on time.monotonic().
    - ``stall_after``: each connection goes silent after that many frames until ``release`` is set.
    ``sent`` counts frames written, ``requests`` the connections served.
    """

    def __init__(self, make, fps=30.0, stall_after=None, quality=90):
        self.make, self.fps, self.stall_after, self.quality = make, float(fps), stall_after, quality
        self.sent = 0
        self.requests = 0
        self.cuts: list[list] = []
        self.stopping = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._switch = threading.Lock()   # one cut, resume or stop at a time (they open and close the listener)
        self._t_start = None
        self._jpeg_i, self._jpeg = -1, b""
        self._cut = False
        self._hang = False
        self._generation = 0          # +1 at each cut: a connection from an older generation is dropped
        self._conns: set = set()
        self._timer = None
        self.httpd = self._listen(0)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/video"

    # ---- serving --------------------------------------------------------------------------------------------
    def _listen(self, port: int):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def setup(self):
                super().setup()
                with server._lock:
                    server._conns.add(self.connection)

            def finish(self):
                with server._lock:
                    server._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def do_GET(self):
                self.close_connection = True
                with server._lock:
                    server.requests += 1
                    generation = server._generation
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    server._serve(self.wfile, generation)
                except OSError:   # the client left, or a cut shut the socket
                    pass

        deadline = time.monotonic() + 3
        while True:
            try:
                httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:   # resuming on our port: another socket may hold it for a moment
                if port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return httpd

    def _serve(self, out, generation: int) -> None:
        last, here = -1, 0
        while not self.stopping.is_set():
            i, jpg = self._next_frame(last)
            if self._generation != generation:   # cut (or cut and resumed) since this connection came
                if self._hang:
                    while self._cut and not self.stopping.is_set():
                        time.sleep(0.02)
                return
            out.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                      + f"Content-Length: {len(jpg)}\r\n\r\n".encode() + jpg + b"\r\n")
            out.flush()
            last = i
            here += 1
            with self._lock:
                self.sent += 1
            if self.stall_after is not None and here >= self.stall_after:
                self.release.wait(30)   # a stalled camera: connection open, nothing sent
                return

    def _next_frame(self, last: int):
        """The newest frame after ``last`` (waiting for its time) and its JPEG, encoded once for all clients."""
        with self._lock:
            if self._t_start is None:
                self._t_start = time.monotonic()
            start = self._t_start
        now = time.monotonic()
        i = max(last + 1, int((now - start) * self.fps))
        due = start + i / self.fps
        if due > now:
            self.stopping.wait(due - now)
        with self._lock:
            if self._jpeg_i != i:
                import cv2
                self._jpeg = cv2.imencode(".jpg", self.make(i), [cv2.IMWRITE_JPEG_QUALITY, self.quality])[1].tobytes()
                self._jpeg_i = i
            return i, self._jpeg

    # ---- cutting --------------------------------------------------------------------------------------------
    def cut(self, seconds: float | None = None, hang: bool = False) -> None:
        with self._switch:
            with self._lock:
                if self._cut:
                    return
                self._cut, self._hang = True, hang
                self._generation += 1
                self.cuts.append([time.monotonic(), None])
                conns = list(self._conns)
            self._close_listener()
        if not hang:
            for conn in conns:
                _shut(conn)
        if seconds is not None:
            self._timer = threading.Timer(seconds, self.resume)
            self._timer.daemon = True
            self._timer.start()

    def resume(self) -> None:
        with self._switch:
            if not self._cut or self.stopping.is_set():
                return
            self.httpd = self._listen(self.port)
            with self._lock:
                self._cut = False
                self.cuts[-1][1] = time.monotonic()

    def _close_listener(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def stop(self) -> None:
        self.stopping.set()
        self.release.set()
        if self._timer is not None:
            self._timer.cancel()
        with self._switch:
            if not self._cut:
                self._cut = True
                self._close_listener()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _shut(conn)


def _shut(conn) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class ClipFrames:
    """Frame i of a video file, looping (``make`` for MjpegServer): decoded forward on demand, so a long clip is never
    held in memory; a request for an earlier frame reopens the file."""

    def __init__(self, path):
        import cv2
        self.cv2 = cv2
        self.path = str(path)
        cap = cv2.VideoCapture(self.path)
        self.count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        if self.count <= 0:
            raise ValueError(f"no frames in {path}")
        self.cap, self.pos, self.frame = None, -1, None

    def __call__(self, i: int):
        i %= self.count
        if self.cap is None or i < self.pos:
            if self.cap is not None:
                self.cap.release()
            self.cap, self.pos = self.cv2.VideoCapture(self.path), -1
        while self.pos < i - 1:
            self.cap.grab()
            self.pos += 1
        if self.pos < i:
            ok, frame = self.cap.read()
            self.pos += 1
            if ok:
                self.frame = frame
        return self.frame
