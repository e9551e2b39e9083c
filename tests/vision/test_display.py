"""vision/display.py: a DISPLAY that names no answering X server is found before Qt aborts on it (a player's dead SSH
forwarding ran into "vision process exited during start-up (killed by SIGABRT)"), and a live one is let through."""
from __future__ import annotations

import socket

import pytest

from conftest import run_app
from vision.display import X_TCP_BASE, display_problem, parse_display


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


def test_a_forwarded_display_answers_or_not():
    n, listener = _free_display_number()
    try:
        listener.listen(1)
        assert display_problem({"DISPLAY": f"localhost:{n}.0"}, "linux") is None, "something listens there"
    finally:
        listener.close()
    problem = display_problem({"DISPLAY": f"127.0.0.1:{n}.0"}, "linux")
    assert problem.startswith(f"no X server answers at DISPLAY=127.0.0.1:{n}.0 (127.0.0.1 port {X_TCP_BASE + n}: ")


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
