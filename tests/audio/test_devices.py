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


class _WindowsPortAudio:
    """The device table PortAudio gives on a Windows machine (MME first and default, WASAPI's copies of the same
    speaker and microphone), for the choice only: nothing here opens a stream."""

    def __init__(self, wasapi_rate=48000.0, wasapi=True):
        import pyaudio
        self.devices = [
            {"index": 0, "name": "Microsoft Sound Mapper - Output", "hostApi": 0, "maxInputChannels": 0,
             "maxOutputChannels": 2, "defaultSampleRate": 44100.0},
            {"index": 1, "name": "Microphone (USB)", "hostApi": 0, "maxInputChannels": 1, "maxOutputChannels": 0,
             "defaultSampleRate": 44100.0},
            {"index": 2, "name": "Speakers (Realtek)", "hostApi": 1, "maxInputChannels": 0, "maxOutputChannels": 2,
             "defaultSampleRate": wasapi_rate},
            {"index": 3, "name": "Microphone (USB)", "hostApi": 1, "maxInputChannels": 1, "maxOutputChannels": 0,
             "defaultSampleRate": wasapi_rate},
        ]
        self.wasapi, self.type = wasapi, pyaudio.paWASAPI

    def get_device_count(self):
        return len(self.devices)

    def get_device_info_by_index(self, i):
        return self.devices[i]

    def get_default_output_device_info(self):
        return self.devices[0]

    def get_default_input_device_info(self):
        return self.devices[1]

    def get_host_api_info_by_type(self, api_type):
        if not self.wasapi or api_type != self.type:
            raise OSError("host API not found")
        return {"name": "Windows WASAPI", "defaultOutputDevice": 2, "defaultInputDevice": 3}


def test_on_windows_the_default_is_wasapis_device_when_it_runs_at_the_session_rate():
    """PortAudio's default on Windows is MME (~90 ms of latency); WASAPI's default speaker comes first when its
    shared-mode rate is ours, PortAudio's default stays next in line (open_stream tries it when WASAPI refuses)."""
    from audio.devices import choose_device, default_devices
    pa = _WindowsPortAudio()
    assert default_devices(pa, "output", 48000, platform="win32") == [2, 0]
    assert default_devices(pa, "input", 48000, platform="win32") == [3, 1]
    assert default_devices(_WindowsPortAudio(wasapi_rate=44100.0), "output", 48000, platform="win32") == [0]
    assert default_devices(_WindowsPortAudio(wasapi=False), "output", 48000, platform="win32") == [0]
    assert default_devices(pa, "output", 48000, platform="linux") == [0]
    assert choose_device(pa, "realtek", "output", 48000) == 2          # a named device is the player's choice


def test_a_default_that_will_not_open_gives_way_to_the_next_and_a_named_one_does_not(monkeypatch):
    """WASAPI shares a device only at its own format: when it refuses, open_stream opens PortAudio's default."""
    from audio import devices
    tried = []

    def open_one(pa, settings, kind, index, *rest):
        tried.append(index)
        return (None, f"{kind} device {index} cannot be opened") if index == 2 else (f"stream on {index}", {})

    real = devices.default_devices
    monkeypatch.setattr(devices, "default_devices", lambda pa, kind, rate: real(pa, kind, rate, platform="win32"))
    monkeypatch.setattr(devices, "_open_one", open_one)
    pa = _WindowsPortAudio()
    assert devices.open_stream(pa, Settings(), "output", None) == ("stream on 0", {}) and tried == [2, 0]
    tried.clear()
    stream, reason = devices.open_stream(pa, Settings(output_device="realtek"), "output", None)
    assert stream is None and reason == "output device 2 cannot be opened" and tried == [2]


def test_a_named_device_that_is_not_there_lists_what_is_or_says_there_is_none():
    import pytest
    from audio import devices
    from game.child import ChildFailure
    pa = _WindowsPortAudio()
    with pytest.raises(ChildFailure) as e:
        devices.open_stream(pa, Settings(output_device="bogus speaker"), "output", None)
    assert str(e.value) == ("no output device matching 'bogus speaker': give --output-device an index or part of a "
                            "name of: 0: Microsoft Sound Mapper - Output, 2: Speakers (Realtek)")
    pa.devices = [d for d in pa.devices if d["maxOutputChannels"] == 0]      # microphones only
    with pytest.raises(ChildFailure) as e:
        devices.open_stream(pa, Settings(output_device="bogus speaker"), "output", None)
    assert str(e.value) == ("no output device matching 'bogus speaker': this machine has no output devices at all "
                            "(`python main.py devices` lists them); leave out --output-device to play without one")
