"""Real stand-ins for the devices these machines lack, started by the tests themselves.

- PulseAudio with a null sink: PortAudio (through ALSA's pulse plugin) plays into it, and its monitor is the
  default input, so what the game plays is what the recorder hears.
- Xvfb: a real X display for the game window.
- aiosmtpd: a real SMTP server on 127.0.0.1 (on a free port we pick: its Controller cannot use port 0).

Under CI=true a missing stand-in is a failure, never a skip.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

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


class PulseServer:
    """A private PulseAudio daemon with one null sink as default sink and its monitor as default source."""
    SINK = "handtone_null"

    def __init__(self):
        self.runtime = Path(tempfile.mkdtemp(prefix="handtone-pulse-"))
        os.chmod(self.runtime, 0o700)
        self.socket = self.runtime / "native"
        self.env = {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.runtime),
                    "XDG_RUNTIME_DIR": str(self.runtime)}
        self.proc = None

    def start(self) -> "PulseServer":
        exe = require_tool("pulseaudio")
        require_tool("pactl")
        env = os.environ | self.env
        self.proc = subprocess.Popen(
            [exe, "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "-n", "--use-pid-file=no",
             "--system=false", "--log-target=stderr", "--log-level=error",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             f"--load=module-null-sink sink_name={self.SINK} rate=48000",
             f"--load=module-always-sink"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-500:]
                missing(f"pulseaudio exited: {err}")
            if self.socket.exists() and self.pactl("info").returncode == 0:
                break
            time.sleep(0.1)
        else:
            missing("pulseaudio did not start in 10 s")
        self.pactl("set-default-sink", self.SINK)
        self.pactl("set-default-source", f"{self.SINK}.monitor")
        return self

    def pactl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=os.environ | self.env, capture_output=True, text=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.runtime, ignore_errors=True)


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
