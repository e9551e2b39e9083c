"""Device helpers against a real PulseAudio server, and against none (listed devices that cannot open)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from game.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import sys, json
sys.path.insert(0, sys.argv[1])
from audio import devices
from game.settings import Settings
pa = devices.open_pyaudio()
out = {"default_out": devices.choose_device(pa, None, "output"), "default_in": devices.choose_device(pa, None, "input"),
       "by_name": devices.choose_device(pa, "PULSE", "output"), "nonsense": devices.choose_device(pa, "no-such", "input")}
for kind in ("output", "input"):
    stream, info = devices.open_stream(pa, Settings(), kind, lambda *a: (None, 0))
    out[kind] = stream is not None
    if stream is not None:
        stream.close()
    else:
        out[kind + "_reason"] = info
out["listed"] = devices.list_devices()
pa.terminate()
print(json.dumps(out))
"""


def probe(env=None) -> tuple[dict, str]:
    import json
    proc = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_devices_on_pulse(pulse):
    out, stderr = probe()
    assert out["default_out"] is not None and out["default_in"] is not None
    assert out["by_name"] is not None and out["nonsense"] is None
    assert out["output"] and out["input"]
    names = [d["name"] for d in out["listed"]]
    assert any("pulse" in n.lower() for n in names)
    assert any(d["default_output"] for d in out["listed"])
    assert "jack" not in stderr.lower() and "ALSA lib" not in stderr, "PortAudio's start-up noise is silenced"


def test_listed_devices_that_cannot_open_count_as_none(no_audio_env):
    out, stderr = probe(no_audio_env)
    assert not out["output"] and not out["input"]
    assert "cannot be opened" in out["output_reason"] or "no output device" in out["output_reason"]
    assert "ALSA lib" not in stderr


def test_latency_for():
    from audio.devices import latency_for  # imports pyaudio: fine in a test process
    info = {"defaultLowOutputLatency": 0.01, "defaultHighOutputLatency": 0.04,
            "defaultLowInputLatency": 0.02, "defaultHighInputLatency": 0.05}
    assert latency_for(Settings(latency="low", block=256), info, "output") == 0.01
    assert latency_for(Settings(latency="high"), info, "input") == 0.05
    assert latency_for(Settings(latency="25"), info, "output") == 0.025
    # low: the device's low latency, or two blocks when that is shorter
    assert abs(latency_for(Settings(latency="low", block=128), info, "output") - 2 * 128 / 48000) < 1e-12
    assert latency_for(Settings(latency="low", block=512), info, "output") == 0.01
    # a stream of its own setting (the backing's --music-latency), whatever --latency says
    assert latency_for(Settings(latency="low"), info, "output", "high") == 0.04
    assert latency_for(Settings(latency="high"), info, "output", "12") == 0.012


LATENCY_PROBE = r"""
import sys, json
sys.path.insert(0, sys.argv[1])
from audio import devices
from game.settings import Settings
pa = devices.open_pyaudio()
out = {}
for latency in ("low", "high", "30", "3"):
    s = Settings(latency=latency, block=128)
    stream, info = devices.open_stream(pa, s, "output", lambda *a: (None, 0))
    out[latency] = {"got": stream.get_output_latency(), "asked": info["requested_latency"],
                    "applied": info["latency_applied"], "note": info["latency_note"],
                    "device_low": info["defaultLowOutputLatency"], "device_high": info["defaultHighOutputLatency"]}
    stream.close()
    s2, info2 = devices.open_stream(pa, Settings(), "output", lambda *a: (None, 0))
    out[latency]["after"] = info2["defaultLowOutputLatency"]   # the device's own figure was put back
    s2.close()
pa.terminate()
print(json.dumps(out))
"""


def test_latency_setting_reaches_portaudio(pulse):
    """--latency low|high|MS changes the latency PortAudio actually gives the stream (PyAudio alone cannot)."""
    import json
    proc = subprocess.run([sys.executable, "-c", LATENCY_PROBE, str(ROOT)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    block_s = 128 / 48000
    for latency, row in out.items():
        assert row["applied"], row
        assert row["after"] == row["device_low"], row
        # PortAudio rounds the buffer to whole periods: what we get is what we asked for, give or take 2 blocks
        assert abs(row["got"] - row["asked"]) <= 2 * block_s + 1e-6, (latency, row)
    assert abs(out["low"]["asked"] - 2 * block_s) < 1e-9 and out["low"]["got"] < out["low"]["device_low"]
    assert out["high"]["asked"] == out["high"]["device_high"]
    assert out["30"]["asked"] == 0.03 and out["3"]["asked"] == 0.003
    assert out["high"]["got"] > 3 * out["low"]["got"]
