"""Fixtures shared by all test packages: the real stand-ins and helpers to run the app as a player would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from standins import MjpegServer, PulseServer, SmtpServer, XvfbDisplay  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def private_data_dir(tmp_path_factory):
    """Every session and command the tests run keeps its history and email outbox here, not in the real user data
    folder (HANDTONE_DATA_DIR reaches the app's subprocesses through the environment)."""
    path = tmp_path_factory.mktemp("handtone-data")
    old = os.environ.get("HANDTONE_DATA_DIR")
    os.environ["HANDTONE_DATA_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("HANDTONE_DATA_DIR", None)
    else:
        os.environ["HANDTONE_DATA_DIR"] = old


@pytest.fixture(scope="session")
def pulse():
    """A running PulseAudio null sink; its env (PULSE_SERVER...) is in pulse.env."""
    from audio.nullsink import private_sink
    with private_sink(True, server_class=PulseServer) as server:
        yield server


@pytest.fixture(scope="session")
def xvfb():
    display = XvfbDisplay().start()
    yield display
    display.stop()


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mjpeg_server():
    """Start camera servers: ``mjpeg_server(make, fps=30.0, ...)`` -> a running MjpegServer (see standins);
    every one started is stopped after the test."""
    started = []

    def start(make, **kwargs) -> MjpegServer:
        server = MjpegServer(make, **kwargs)
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


@pytest.fixture
def no_audio_env(tmp_path):
    """An environment with no sound server: PortAudio lists ALSA's pulse devices but cannot open them."""
    conf = tmp_path / "client.conf"
    conf.write_text("autospawn = no\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE")}
    env["PULSE_SERVER"] = f"unix:{tmp_path}/no-such-server"
    env["PULSE_CLIENTCONFIG"] = str(conf)
    return env


def run_app(*args, env=None, timeout=120, check=False) -> subprocess.CompletedProcess:
    """Run `python main.py ARGS` from the checkout as a player would."""
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"main.py {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def app():
    return run_app


@pytest.fixture
def hand_voice():
    """A hand-state and a voice-state record in shared memory, as the launcher makes them (closed and unlinked after)."""
    from game.handstate import create_hand, create_voice
    tag = f"test-audio-{os.getpid()}"
    hand, voice = create_hand(f"{tag}-hand"), create_voice(f"{tag}-voice")
    yield hand, voice
    hand.close()
    voice.close()
