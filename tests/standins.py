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


def make_cert(d: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost made with the openssl CLI: (cert.pem, key.pem). The cert
    is its own CA, so a client trusts the server by giving it as SMTP_CAFILE."""
    openssl = require_tool("openssl")
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class SmtpServer:
    """aiosmtpd on 127.0.0.1 keeping every message it receives.

    - ``tls``: None (plain), "starttls" (STARTTLS required before AUTH and MAIL) or "ssl" (implicit TLS), with
      ``cert`` = make_cert(...)'s (cert, key).
    - ``user``/``password``: AUTH PLAIN/LOGIN offered (required with starttls); a wrong one gets 535.
    - ``refuse_rcpt`` {address: reply} and ``data_reply`` (e.g. "554 5.6.0 rejected"): the server's refusals; set
      them back to {} / None mid-test to make the server work again.
    ``logins`` counts the logins that succeeded, ``failed_logins`` those refused.
    """

    def __init__(self, *, tls: str | None = None, cert: tuple[Path, Path] | None = None, user: str | None = None,
                 password: str | None = None, refuse_rcpt: dict | None = None, data_reply: str | None = None,
                 port: int | None = None, **controller_kwargs):
        self.messages = []  # (envelope mail_from, rcpt_tos, raw bytes)
        self.tls, self.cert, self.user, self.password = tls, cert, user, password
        self.refuse_rcpt = dict(refuse_rcpt or {})
        self.data_reply = data_reply
        self.logins = 0
        self.failed_logins = 0
        self.kwargs = controller_kwargs
        self.controller = None
        self.port = port            # None: a free one at start

    def start(self) -> "SmtpServer":
        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult
        except ImportError:
            missing("aiosmtpd is not installed (run make setup)")
        server = self

        class Handler:
            async def handle_RCPT(self, _server, _session, envelope, address, _options):
                if address in server.refuse_rcpt:
                    return server.refuse_rcpt[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, _server, _session, envelope):
                if server.data_reply:
                    return server.data_reply
                server.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"

        def authenticator(_server, _session, _envelope, _mechanism, auth_data):
            ok = (getattr(auth_data, "login", b"") == (server.user or "").encode()
                  and getattr(auth_data, "password", b"") == (server.password or "").encode())
            if ok:
                server.logins += 1
            else:
                server.failed_logins += 1
            return AuthResult(success=ok, handled=False)   # handled=False: aiosmtpd sends the 235 or 535

        kwargs = dict(self.kwargs)
        if self.tls:
            import ssl
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.cert))
            if self.tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context, auth_require_tls=False)  # implicit TLS: aiosmtpd sees no STARTTLS
        if self.user is not None:
            kwargs.update(authenticator=authenticator, auth_required=self.tls == "starttls")
        self.port = self.port or free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


def secret_forms(password: str, user: str) -> list[str]:
    """The password as it could leak: plain, and base64 as AUTH PLAIN and AUTH LOGIN send it."""
    import base64
    b64 = lambda t: base64.b64encode(t.encode()).decode()  # noqa: E731
    return [password, b64(password), b64(f"\0{user}\0{password}"), b64(f"{user}\0{password}")]


def assert_secret_nowhere(password: str, user: str, folders=(), texts=()) -> None:
    """No form of the password in any file under the folders (recursively) nor in the texts (outputs, logs)."""
    forms = secret_forms(password, user)
    for folder in folders:
        for f in Path(folder).rglob("*"):
            if f.is_file():
                raw = f.read_bytes()
                for form in forms:
                    assert form.encode() not in raw, f"the password is in {f}"
    for text in texts:
        for form in forms:
            assert form not in text, f"the password is in the output: {text[:200]!r}"


class HangingServer:
    """A server that accepts connections on 127.0.0.1 and never says a word (a mail server stuck, a firewall that
    swallows packets after the handshake). ``connections`` counts those accepted."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._held: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> "HangingServer":
        self._thread.start()
        return self

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            self._held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for c in self._held:
            c.close()
        self.sock.close()


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
