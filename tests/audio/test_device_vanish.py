"""A speaker and microphone that go away mid-session (a USB headset pulled out), on a real PulseAudio server.

The server has one null sink and nothing to move streams to (no always-sink), so unloading the sink kills the game's
playback streams and the monitor's record stream, as unplugging does. The session must go on to its end: the
recorder ends on its own (exit 0, recording.wav up to the loss), the synth and the backing go on on the clock, the
player is told once per process, PortAudio's error lines stay out of the terminal, and the report says what happened.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from audio.wavfile import read_wav
from game.sessionlog import read_csv
from standins import PulseServer

ROOT = Path(__file__).resolve().parents[2]
DURATION = 10.0
CUT_AT = 4.0   # session seconds, roughly


def test_devices_that_vanish_mid_session(tmp_path):
    server = PulseServer().start()
    try:
        server.pactl("unload-module", "module-always-sink")
        env = os.environ | server.env | {"PYTHONUNBUFFERED": "1"}
        out = tmp_path / "sessions"
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "demo", "--no-window", "--duration",
                                 str(DURATION), "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "playing" in line:
                break
        assert any("playing" in l for l in lines), "".join(lines) + proc.stderr.read()
        time.sleep(1.0 + CUT_AT)   # the count-in, then into the song
        assert server.pactl("unload-module", "module-null-sink").returncode == 0
        rest, err = proc.communicate(timeout=120)
        stdout = "".join(lines) + rest
    finally:
        server.stop()
    assert proc.returncode == 0, stdout + err
    assert f"--duration {DURATION:g} s reached" in stdout, stdout
    for name, what in (("synth", "speaker"), ("music", "speaker"), ("recorder", "microphone")):
        assert sum(f"{name}: {what} 'default' went away" in l for l in stdout.splitlines()) == 1, stdout
    assert "Expression" not in err and "pa_linux_alsa" not in err, err

    session = next(p for p in out.iterdir() if p.is_dir())
    stats = {n: json.loads((session / f"stats-{n}.json").read_text()) for n in ("synth", "music", "recorder")}
    for n, st in stats.items():
        lost = st["device_lost"]
        assert lost and lost["device"] == "default", (n, st)
        assert CUT_AT - 1.0 < lost["at_s"] < CUT_AT + 3.0, (n, lost)
    assert stats["synth"]["mode"] == "clock" and stats["music"]["mode"] == "clock"
    info = json.loads((session / "session.json").read_text())
    assert "recorder" in info["left"] and info["children"]["recorder"]["exitcode"] == 0, info
    assert info["stop_reason"] == f"--duration {DURATION:g} s reached"

    # the synth's log goes on to the end of the session on the clock
    synth = read_csv(session / "synth.csv")
    assert synth[-1]["t_dac"] > DURATION - 0.5
    # the recording stops where the microphone went away
    rate, rec = read_wav(session / "recording.wav")
    rec_end = stats["recorder"]["t_first_sample"] + rec.size / rate
    assert abs(rec_end - stats["recorder"]["device_lost"]["at_s"]) < 0.2, (rec_end, stats["recorder"])
    # PortAudio's own lines went to the per-process logs, not the terminal
    assert any("pa_linux_alsa" in p.read_text() for p in session.glob("stderr-*.log"))
    # stats.json keeps the loss, and times the blocks the speaker did play
    summary = json.loads((session / "stats.json").read_text())["processes"]
    assert summary["synth"]["device_lost"]["at_s"] == stats["synth"]["device_lost"]["at_s"]
    assert summary["recorder"]["device_lost"] and summary["music"]["device_lost"]
    assert summary["synth"]["latency_ms"]["samples"] > 30 and summary["synth"]["latency_ms"]["p50"] < 100
    # the report says so
    mail = (session / "summary.eml").read_text(errors="replace")
    assert "went away" in mail
    text = subprocess.run(["pdftotext", str(session / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert "went away" in text.replace("\n", " "), text
