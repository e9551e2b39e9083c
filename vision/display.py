"""Whether the game window can open: on Linux, an X server that answers at $DISPLAY.

Why ask before Qt does: OpenCV's Qt (the xcb plugin is the only one in the wheel) aborts the whole process when it
cannot reach the display, so a player whose DISPLAY names no server (an SSH session whose X forwarding died, a
stale DISPLAY=:1, Wayland without XWayland) would see the vision process killed by SIGABRT instead of a session
without a window. So we connect to the server's socket ourselves first: /tmp/.X11-unix/X<n> (and Linux's abstract
socket of that name) for a local display, TCP port 6000 + n for host:n (an SSH-forwarded display is localhost:10
and up). Something listening there may still not be an X server that lets us in (a stale DISPLAY=localhost:10
whose port another SSH session took, with another cookie): then libxcb, which Qt's xcb plugin uses too, opens a real
connection with our X authority, in a thread, so a listener that never answers cannot hang the start. Where libxcb
is not there, the socket's answer is taken. Other systems always have a desktop for the window.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import sys
import threading

X_TCP_BASE = 6000
CONNECT_TIMEOUT_S = 1.0   # a forwarded display on a slow link answers well within this
XCB_TIMEOUT_S = 3.0       # the X handshake (setup and authorisation) of a live server takes milliseconds
XCB_ERRORS = {1: "the connection failed or was refused: X authority (XAUTHORITY, xauth)?", 2: "an extension is missing",
              3: "out of memory", 4: "a request too long", 5: "the display name cannot be read",
              6: "no such screen on the server", 7: "file descriptor passing failed"}


def display_problem(env=None, platform: str = sys.platform) -> str | None:
    """Why the window cannot open here (for a notice ending "running without a window"), or None when it can."""
    if not platform.startswith("linux"):
        return None
    env = os.environ if env is None else env
    display = env.get("DISPLAY", "")
    if not display:
        if env.get("WAYLAND_DISPLAY"):
            return "no X display (DISPLAY unset; the window needs XWayland on Wayland)"
        return "no display (DISPLAY unset)"
    parsed = parse_display(display)
    if parsed is None:
        return None                          # a form we do not know: Qt may; do not stand in its way
    host, number = parsed
    reason = _x_server_reason(host, number)
    if reason is not None:
        return f"no X server answers at DISPLAY={display} ({reason})"
    refused = _xcb_refusal(display)
    return None if refused is None else f"the X server at DISPLAY={display} does not let us in ({refused})"


def parse_display(display: str) -> tuple[str, int] | None:
    """'host:n.s' -> (host, n); host '' or 'unix' for the local socket. None when it is not that form."""
    host, sep, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not sep or not number.isdigit():
        return None
    return host.strip("[]"), int(number)


def _x_server_reason(host: str, number: int) -> str | None:
    """None when something accepts a connection where the X server of this display listens, else why not."""
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        reasons = []
        for address in ("\0" + path, path):  # Linux X servers listen on both; either will do
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(CONNECT_TIMEOUT_S)
                try:
                    s.connect(address)
                    return None
                except OSError as e:
                    reasons.append(e)
        e = reasons[-1]
        return f"nothing listens at {path}" if isinstance(e, (FileNotFoundError, ConnectionRefusedError)) \
            else f"{path}: {e.strerror or e}"
    try:
        with socket.create_connection((host, X_TCP_BASE + number), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as e:
        return f"{host} port {X_TCP_BASE + number}: {e.strerror or type(e).__name__}"


_KEPT: list = []   # our X connections that answered (see connect below)


def _xcb_refusal(display: str) -> str | None:
    """None when libxcb connects to the display as Qt would (or libxcb is not there to ask), else why it did not."""
    try:
        xcb = ctypes.CDLL(ctypes.util.find_library("xcb") or "libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    result: list[int] = []

    def connect() -> None:
        conn = xcb.xcb_connect(display.encode(), None)
        error = xcb.xcb_connection_has_error(conn) if conn else 1
        if conn and error:
            xcb.xcb_disconnect(conn)
        elif conn:
            # kept open while this process lives: an X server whose last client leaves resets itself (Xvfb without
            # -noreset), and the window's own connection a moment later would meet the reset and be refused
            _KEPT.append(conn)
        result.append(error)

    worker = threading.Thread(target=connect, name="x-display-check", daemon=True)
    worker.start()
    worker.join(XCB_TIMEOUT_S)
    if not result:
        return f"it did not answer the X handshake within {XCB_TIMEOUT_S:g} s"
    return None if result[0] == 0 else XCB_ERRORS.get(result[0], f"libxcb error {result[0]}")
