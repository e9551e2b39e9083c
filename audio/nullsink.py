"""A private PulseAudio server whose only sink is a null sink: a speaker and a microphone on a machine without sound.

Why in the app and not only in the tests: `python main.py bench audio --null-sink` measures the audio path the same
way on any Linux machine (no sound card, or one whose own server would add its own latency), and the tests use the
same server. PortAudio reaches it through ALSA's pulse plugin (the PULSE_SERVER environment variable), the null sink
is the default output and its monitor the default input, so what the game plays is what the recorder hears.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


class NullSinkError(RuntimeError):
    """The server cannot start; the message says what to install or what went wrong."""


class NullSinkServer:
    SINK = "handtone_null"

    def __init__(self, rate: int = 48000):
        self.rate = int(rate)
        self.runtime = Path(tempfile.mkdtemp(prefix="handtone-pulse-"))
        os.chmod(self.runtime, 0o700)
        self.socket = self.runtime / "native"
        self.env = {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(self.runtime),
                    "XDG_RUNTIME_DIR": str(self.runtime)}
        self.proc = None
        self.keepalive = None

    def start(self, timeout: float = 10.0) -> "NullSinkServer":
        exe = shutil.which("pulseaudio")
        if not exe or not all(shutil.which(tool) for tool in ("pactl", "pacat", "parec")):
            self.stop()
            raise NullSinkError("pulseaudio, pactl, pacat and parec are not all installed (run make setup, or "
                                "apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
        self.proc = subprocess.Popen(
            [exe, "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "-n", "--use-pid-file=no",
             "--system=false", "--log-target=stderr", "--log-level=error",
             # as a desktop's sound server runs (rtkit); ignored where the system does not allow it
             "--realtime=yes", "--high-priority=yes",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             f"--load=module-null-sink sink_name={self.SINK} rate={self.rate}",
             "--load=module-always-sink"],
            env=os.environ | self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-500:]
                self.stop()
                raise NullSinkError(f"pulseaudio exited: {err.strip()}")
            if self.socket.exists() and self.pactl("info").returncode == 0:
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise NullSinkError(f"pulseaudio did not start in {timeout:g} s")
        self.pactl("set-default-sink", self.SINK)
        self.pactl("set-default-source", f"{self.SINK}.monitor")
        try:
            self._keep_running(timeout)
        except OSError as e:
            self.stop()
            raise NullSinkError(f"the null sink's keep-alive stream could not start ({e})") from e
        return self

    def _keep_running(self, timeout: float) -> None:
        """Keep the sink rendering in small steps, as a sound card does, so a new stream starts at once.

        An idle null sink renders in 2-second blocks (module-null-sink's BLOCK_USEC) and only takes a new stream's
        lower latency at its next tick: every stream opened on an idle sink stalled 0.4-1.9 s after priming (the
        same pause in PortAudio, pacat and the monitor). A real sink has no such pause, so the stand-in keeps one
        silent low-latency stream playing, and waits for the monitor's first data (the sink's first tick after it).
        """
        env = os.environ | self.env
        self.keepalive = subprocess.Popen(
            ["pacat", "--playback", "--raw", f"--device={self.SINK}", f"--rate={self.rate}", "--channels=1",
             "--format=s16le", "--latency-msec=10", "--client-name=handtone-null-sink-keepalive", "/dev/zero"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while "keepalive" not in self.pactl("list", "sink-inputs").stdout:
            if time.monotonic() > deadline or self.keepalive.poll() is not None:
                self.stop()
                raise NullSinkError("the null sink's keep-alive stream (pacat) did not start")
            time.sleep(0.02)
        probe = subprocess.Popen(["parec", "--raw", f"--device={self.SINK}.monitor", "--latency-msec=10",
                                  "--channels=1", "--format=s16le", f"--rate={self.rate}"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:      # the first data comes at the sink's next tick (within 2 s)
            ready = select.select([probe.stdout], [], [], max(0.1, deadline - time.monotonic()))[0]
        finally:
            probe.kill()
            probe.wait(5)
        if not ready:
            self.stop()
            raise NullSinkError("the null sink's monitor gave no data")

    def pactl(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=os.environ | self.env, capture_output=True, text=True)

    def stop(self) -> None:
        if self.keepalive is not None and self.keepalive.poll() is None:
            self.keepalive.kill()
            self.keepalive.wait(5)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def __enter__(self) -> "NullSinkServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def private_sink(enabled: bool, rate: int = 48000, server_class=None):
    """A NullSinkServer (or ``server_class``'s) whose environment this process has meanwhile, so the children it
    spawns play into it (the benches' --null-sink, the tests' `pulse`); None and nothing changed when not enabled.
    The environment is put back and the server stopped whatever happens inside."""
    if not enabled:
        yield None
        return
    server = (server_class or NullSinkServer)(rate).start()
    old = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
