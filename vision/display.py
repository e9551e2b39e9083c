"""Whether the game window can open: on Linux, an X server that answers at $DISPLAY.

Why ask before Qt does: OpenCV's Qt (the xcb plugin is the only one in the wheel) aborts the whole process when it
cannot reach the display, so a player whose DISPLAY names no server (an SSH session whose X forwarding died, a
stale DISPLAY=:1, Wayland without XWayland) would see the vision process killed by SIGABRT instead of a session
without a window. So we connect to the server's socket ourselves first: /tmp/.X11-unix/X<n> (and Linux's abstract
socket of that name) for a local display, TCP port 6000 + n for host:n (an SSH-forwarded display is localhost:10
and up). A server that answers but refuses us (X authority) is left to Qt; that is rare and cannot be told without
speaking X. Other systems always have a desktop for the window.
"""
from __future__ import annotations

import os
import socket
import sys

X_TCP_BASE = 6000
CONNECT_TIMEOUT_S = 1.0   # a forwarded display on a slow link answers well within this


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
    return None if reason is None else f"no X server answers at DISPLAY={display} ({reason})"


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
