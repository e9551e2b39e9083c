"""PyAudio helpers for the audio children: quiet start-up, choosing a device, latency, robust stream opening.

Imported only inside the audio child processes (it imports pyaudio). Why quiet: PortAudio probes ALSA and JACK when
PyAudio() is created and both print pages of harmless errors on stderr that would drown the player's notices.
Why robust: ALSA's pulse plugin lists "pulse" and "default" even when no sound server runs; opening them then fails.
Such a device counts as "no device" (callers fall back to the clock).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time

import pyaudio

from game.quiet import quiet_stderr

_ALSA_HANDLER = None  # keep the ctypes callback alive for the life of the process


def _silence_alsa() -> None:
    """Install a no-op ALSA error handler (ALSA otherwise prints every failed probe on stderr)."""
    global _ALSA_HANDLER
    if _ALSA_HANDLER is not None:
        return
    name = ctypes.util.find_library("asound")
    if not name:
        return
    try:
        lib = ctypes.cdll.LoadLibrary(name)
        proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
        _ALSA_HANDLER = proto(lambda *_: None)
        lib.snd_lib_error_set_handler(_ALSA_HANDLER)
    except (OSError, AttributeError):
        pass


def open_pyaudio() -> "pyaudio.PyAudio":
    """PyAudio() without ALSA/JACK noise on stderr."""
    _silence_alsa()
    with quiet_stderr():
        return pyaudio.PyAudio()


def _channels(info: dict, kind: str) -> int:
    return int(info["maxInputChannels"] if kind == "input" else info["maxOutputChannels"])


def default_devices(pa, kind: str, rate: int | None = None, platform: str = sys.platform) -> list[int]:
    """The devices to try, in order, when the player named none: on Windows first WASAPI's default device when it
    runs at ``rate`` (PortAudio's own default there is MME's, with ~90 ms of latency: the hand would lag its tone;
    WASAPI shares the device at its own rate, so only a matching one will open), then PortAudio's default device,
    else the first device of that kind. Empty when there is none."""
    out = []
    if platform == "win32":
        try:
            api = pa.get_host_api_info_by_type(pyaudio.paWASAPI)
            index = int(api["defaultOutputDevice" if kind == "output" else "defaultInputDevice"])
            info = pa.get_device_info_by_index(index) if index >= 0 else None
        except (IOError, OSError, ValueError, KeyError):
            info = None
        if info is not None and _channels(info, kind) > 0 and (
                rate is None or int(round(float(info["defaultSampleRate"]))) == int(rate)):
            out.append(int(info["index"]))
    try:
        info = pa.get_default_input_device_info() if kind == "input" else pa.get_default_output_device_info()
    except (IOError, OSError):
        info = None
    if info is not None and _channels(info, kind) > 0:
        out.append(int(info["index"]))
    else:
        out += [i for i in range(pa.get_device_count()) if _channels(pa.get_device_info_by_index(i), kind) > 0][:1]
    return list(dict.fromkeys(out))


def choose_device(pa, spec: str | None, kind: str, rate: int | None = None) -> int | None:
    """Device index for ``spec`` (an index, or a case-insensitive part of a name; None: the default device, see
    default_devices; ``rate``: the session's sample rate).

    Returns None when there is no such device of that kind.
    """
    if kind not in ("input", "output"):
        raise ValueError(f"kind must be input or output, got {kind!r}")
    count = pa.get_device_count()
    if spec is None or str(spec).strip() == "":
        found = default_devices(pa, kind, rate)
        return found[0] if found else None
    text = str(spec).strip()
    if text.isdigit():
        i = int(text)
        if i < count and _channels(pa.get_device_info_by_index(i), kind) > 0:
            return i
        return None
    for i in range(count):
        info = pa.get_device_info_by_index(i)
        if _channels(info, kind) > 0 and text.lower() in str(info["name"]).lower():
            return i
    return None


def list_devices() -> list[dict]:
    """Every device PortAudio lists: index, name, host API, channels, default rate and latencies, defaults marked."""
    pa = open_pyaudio()
    try:
        try:
            default_in = int(pa.get_default_input_device_info()["index"])
        except (IOError, OSError):
            default_in = -1
        try:
            default_out = int(pa.get_default_output_device_info()["index"])
        except (IOError, OSError):
            default_out = -1
        out = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            out.append({
                "index": i, "name": info["name"],
                "host_api": pa.get_host_api_info_by_index(info["hostApi"])["name"],
                "inputs": int(info["maxInputChannels"]), "outputs": int(info["maxOutputChannels"]),
                "default_rate": float(info["defaultSampleRate"]),
                "low_output_latency_ms": round(1000 * info["defaultLowOutputLatency"], 1),
                "low_input_latency_ms": round(1000 * info["defaultLowInputLatency"], 1),
                "default_input": i == default_in, "default_output": i == default_out,
            })
        return out
    finally:
        pa.terminate()


def latency_for(settings, device_info: dict, kind: str, setting: str | None = None) -> float:
    """Suggested latency in seconds from ``setting`` (default settings.latency): "low" | "high" | milliseconds
    (audio/latency.py)."""
    from audio.latency import requested_latency
    return requested_latency(settings, device_info, kind, setting)


def open_stream(pa, settings, kind: str, callback, fmt=None, channels: int = 1, block: int | None = None,
                latency: str | None = None):
    """Open (not start) a callback stream on the chosen device, asking for ``latency`` (default settings.latency).

    Returns (stream, device_info) or (None, reason) when there is no device or it cannot be opened. device_info gets
    "requested_latency" (seconds asked for), "latency_applied" (False: this PyAudio's PortAudio could not be asked,
    the device's low latency was used) and "latency_note" (why not). ``stream.get_output_latency()`` is what we got.
    """
    spec = settings.input_device if kind == "input" else settings.output_device
    rate = int(settings.sample_rate)
    if spec is not None and str(spec).strip() != "":
        index = choose_device(pa, spec, kind, rate)
        if index is None:
            # the player named a device: playing on without it would hide a typo behind "no speaker"
            from game.child import ChildFailure
            found = [f"{i}: {pa.get_device_info_by_index(i)['name']}" for i in range(pa.get_device_count())
                     if _channels(pa.get_device_info_by_index(i), kind) > 0]
            option = "--input-device" if kind == "input" else "--output-device"
            if not found:
                raise ChildFailure(f"no {kind} device matching {spec!r}: this machine has no {kind} devices at all "
                                   f"(`python main.py devices` lists them); leave out {option} to play without one")
            raise ChildFailure(f"no {kind} device matching {spec!r}: give {option} an index or part of a name of: "
                               f"{', '.join(found)}")
        candidates = [index]
    else:   # a default that will not open (WASAPI refusing our format): the next one, if any
        candidates = default_devices(pa, kind, rate)
    reason = f"no {kind} device"
    for index in candidates:
        stream, info = _open_one(pa, settings, kind, index, callback, fmt, channels, block, latency)
        if stream is not None:
            return stream, info
        reason = info
    return None, reason


def _open_one(pa, settings, kind: str, index: int, callback, fmt, channels: int, block: int | None,
              latency: str | None):
    """open_stream on one device: (stream, device_info) or (None, reason)."""
    info = dict(pa.get_device_info_by_index(index))
    from audio.latency import control
    lat_control = control()
    want = latency_for(settings, info, kind, latency)
    kwargs = dict(format=fmt if fmt is not None else pyaudio.paFloat32, channels=channels,
                  rate=int(settings.sample_rate), frames_per_buffer=int(block or settings.block),
                  stream_callback=callback, start=False)
    if kind == "input":
        kwargs.update(input=True, input_device_index=index)
    else:
        kwargs.update(output=True, output_device_index=index)
    try:
        with quiet_stderr(), lat_control.suggesting(index, info, kind, want) as applied:
            stream = pa.open(**kwargs)
    except (IOError, OSError, ValueError) as e:
        return None, f"{kind} device {info['name']!r} cannot be opened ({e})"
    info.update(requested_latency=want, latency_applied=applied, latency_note=None if applied else lat_control.reason)
    return stream, info


def stream_offset(stream) -> float:
    """time.monotonic() - stream time: adds to PortAudio's stream/DAC/ADC times to put them on our clock."""
    a = time.monotonic()
    st = stream.get_time()
    b = time.monotonic()
    return (a + b) / 2.0 - st


def open_callback_stream(settings, kind: str, callback, fmt=None, block: int | None = None,
                         latency: str | None = None):
    """PortAudio and an opened (not started) stream on the chosen device: (pa, stream, info), or
    (pa or None, None, reason) when there is no usable device (terminate a returned pa with close_stream)."""
    try:
        pa = open_pyaudio()
    except (IOError, OSError) as e:
        return None, None, f"PortAudio cannot start ({e})"
    stream, info = open_stream(pa, settings, kind, callback, fmt=fmt, block=block, latency=latency)
    return (pa, stream, info) if stream is not None else (pa, None, info)


def close_stream(stream, pa=None) -> None:
    """Stop and close a stream (either may be None), then PortAudio; a device already gone is not an error."""
    if stream is not None:
        try:
            stream.stop_stream()
            stream.close()
        except (IOError, OSError):
            pass
    if pa is not None:
        pa.terminate()
