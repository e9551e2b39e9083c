"""vision/display.py: a DISPLAY that names no answering X server is found before Qt aborts on it (a player's dead SSH
forwarding ran into "vision process exited during start-up (killed by SIGABRT)"), and a live one is let through."""
from __future__ import annotations

import secrets
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_app
from standins import require_tool
from vision.display import X_TCP_BASE, XCB_TIMEOUT_S, display_problem, parse_display


def test_display_names_are_read_as_x_does():
    assert parse_display(":0") == ("", 0)
    assert parse_display(":99.0") == ("", 99)
    assert parse_display("unix:3") == ("unix", 3)
    assert parse_display("localhost:10.0") == ("localhost", 10)
    assert parse_display("[::1]:2") == ("::1", 2)
    assert parse_display("wayland-0") is None and parse_display("host:") is None


def test_unset_and_wayland_only_say_so():
    assert display_problem({}, "linux") == "no display (DISPLAY unset)"
    assert "XWayland" in display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


def test_a_live_x_server_is_a_display(xvfb):
    assert display_problem({"DISPLAY": xvfb.display}, "linux") is None
    assert display_problem({"DISPLAY": xvfb.display + ".0"}, "linux") is None


def test_a_local_display_with_no_server_is_not():
    problem = display_problem({"DISPLAY": ":4242"}, "linux")
    assert problem == "no X server answers at DISPLAY=:4242 (nothing listens at /tmp/.X11-unix/X4242)"


def _free_display_number() -> tuple[int, socket.socket | None]:
    for n in range(150, 250):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", X_TCP_BASE + n))
            return n, s
        except OSError:
            s.close()
    pytest.fail("no free port in 6150-6249 for a stand-in X server")


def test_a_listener_that_is_not_an_x_server_is_not_a_display():
    """A stale DISPLAY=localhost:10 whose port something else now holds: the socket answers, X does not."""
    n, listener = _free_display_number()
    try:
        listener.listen(1)
        problem = display_problem({"DISPLAY": f"localhost:{n}.0"}, "linux")
    finally:
        listener.close()
    assert problem == (f"the X server at DISPLAY=localhost:{n}.0 does not let us in (it did not answer the X "
                       f"handshake within {XCB_TIMEOUT_S:g} s)")
    problem = display_problem({"DISPLAY": f"127.0.0.1:{n}.0"}, "linux")
    assert problem.startswith(f"no X server answers at DISPLAY=127.0.0.1:{n}.0 (127.0.0.1 port {X_TCP_BASE + n}: ")


def _xauthority(path, number: int, cookie: bytes) -> None:
    """An X authority file with one MIT-MAGIC-COOKIE-1 for display :number on any host (FamilyWild), as xauth
    writes it."""
    def field(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b
    path.write_bytes(struct.pack(">H", 0xFFFF) + field(b"") + field(str(number).encode())
                     + field(b"MIT-MAGIC-COOKIE-1") + field(cookie))


def test_an_x_server_that_wants_a_cookie_we_lack_is_not_a_display(tmp_path, monkeypatch):
    """Qt would abort there too ('Authorization required, but no authorization protocol specified')."""
    exe = require_tool("Xvfb")
    n = next(n for n in range(140, 190) if not Path(f"/tmp/.X11-unix/X{n}").exists()
             and not Path(f"/tmp/.X{n}-lock").exists())
    auth = tmp_path / "server.xauth"
    _xauthority(auth, n, secrets.token_bytes(16))
    server = subprocess.Popen([exe, f":{n}", "-auth", str(auth), "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        monkeypatch.setenv("XAUTHORITY", str(tmp_path / "no-cookies"))
        assert display_problem({"DISPLAY": f":{n}"}, "linux") == (
            f"the X server at DISPLAY=:{n} does not let us in (the connection failed or was refused: X authority "
            "(XAUTHORITY, xauth)?)")
        monkeypatch.setenv("XAUTHORITY", str(auth))       # the player's own cookie: the window can open
        assert display_problem({"DISPLAY": f":{n}"}, "linux") is None
    finally:
        server.terminate()
        server.wait(10)


def test_a_session_with_a_dead_forwarded_display_plays_without_a_window(no_audio_env, tmp_path):
    """The whole game: Qt never sees the dead display, the session plays headless and says why."""
    n, listener = _free_display_number()
    listener.close()
    env = no_audio_env | {"DISPLAY": f"127.0.0.1:{n}"}
    env.pop("WAYLAND_DISPLAY", None)
    proc = run_app("demo", "--duration", "2", "--out", tmp_path / "sessions", "--data-dir", tmp_path / "data", env=env,
                   timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"no X server answers at DISPLAY=127.0.0.1:{n} (127.0.0.1 port {X_TCP_BASE + n}: " in out
    assert "running without a window" in out and "SIGABRT" not in out and "qt.qpa" not in out
    # the window was asked for but did not open: the start line names what pauses without one
    assert "`kill -USR1 " in out and "p in the window" not in out, out
