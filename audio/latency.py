"""Asking PortAudio for a latency through PyAudio, which has no parameter for it.

Why: PyAudio 0.2.14 opens every stream with ``suggestedLatency = Pa_GetDeviceInfo(dev)->defaultLowOutputLatency``
(stream_lifecycle.c), so `--latency high|MS` and anything below the device's low default are out of reach. PortAudio
hands out that PaDeviceInfo from its own memory, so for the moment of ``pa.open`` we write the latency we want into
the device's defaultLow*Latency field (through ctypes, in the same PortAudio library PyAudio uses) and put the
original back right after. The struct is checked field by field against what PyAudio reports before anything is
written; where that check fails (a PortAudio linked into PyAudio statically, as in some wheels) nothing is written
and the stream gets the device's low latency, and ``LatencyControl.reason`` says why.

``low`` means the device's low latency, or two blocks (at least 5 ms) when that is shorter: one block playing while the next is
computed is the least buffering a callback stream can run on, and on PulseAudio's ALSA plugin the default low latency
(8.7 ms) is longer than two 128-frame blocks.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from contextlib import contextmanager

from game.settings import latency_ms

LOW_FLOOR_S = 0.005   # "low" asks for no less than this: at 64-frame blocks two blocks (2.7 ms) ran dry every second
KIND_FIELD = {"input": "defaultLowInputLatency", "output": "defaultLowOutputLatency"}


class _PaDeviceInfo(ctypes.Structure):
    """portaudio.h's PaDeviceInfo (structVersion 2, unchanged since PortAudio v19)."""
    _fields_ = [("structVersion", ctypes.c_int), ("name", ctypes.c_char_p), ("hostApi", ctypes.c_int),
                ("maxInputChannels", ctypes.c_int), ("maxOutputChannels", ctypes.c_int),
                ("defaultLowInputLatency", ctypes.c_double), ("defaultLowOutputLatency", ctypes.c_double),
                ("defaultHighInputLatency", ctypes.c_double), ("defaultHighOutputLatency", ctypes.c_double),
                ("defaultSampleRate", ctypes.c_double)]


def requested_latency(settings, device_info: dict, kind: str, setting: str | None = None) -> float:
    """Seconds to ask for: ``setting`` (default settings.latency) "low" | "high" | milliseconds (see the module
    docstring for "low")."""
    Kind = "Input" if kind == "input" else "Output"
    setting = settings.latency if setting is None else setting
    if setting == "high":
        return float(device_info[f"defaultHigh{Kind}Latency"])
    ms = latency_ms(setting)
    if ms is not None:
        return ms / 1000.0
    two_blocks = max(2.0 * settings.block / float(settings.sample_rate), LOW_FLOOR_S)
    return min(float(device_info[f"defaultLow{Kind}Latency"]), two_blocks)


def _loaded_portaudio() -> str | None:
    """The path of the PortAudio shared library already loaded in this process (by PyAudio), if any."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if "libportaudio" in path and path.startswith("/"):
                    return path
    except OSError:
        pass
    return ctypes.util.find_library("portaudio")


class LatencyControl:
    """Writes a suggested latency into PortAudio's device info for one ``pa.open``; ``ok`` says it can."""

    def __init__(self):
        self.lib = None
        self.reason = None
        path = _loaded_portaudio()
        if path is None:
            self.reason = "PyAudio's PortAudio is not a shared library here"
            return
        try:
            lib = ctypes.CDLL(path)
            lib.Pa_GetDeviceInfo.restype = ctypes.POINTER(_PaDeviceInfo)
            lib.Pa_GetDeviceInfo.argtypes = [ctypes.c_int]
        except (OSError, AttributeError) as e:
            self.reason = f"cannot reach PortAudio ({e})"
            return
        self.lib = lib

    @property
    def ok(self) -> bool:
        return self.lib is not None

    def _info(self, index: int, expected: dict):
        """PortAudio's own PaDeviceInfo for ``index`` when it matches PyAudio's view of it exactly, else None."""
        ptr = self.lib.Pa_GetDeviceInfo(int(index))
        if not ptr:
            self.reason = "PortAudio is not the one PyAudio initialised"
            return None
        info = ptr.contents
        name = (info.name or b"").decode("utf-8", "replace")
        same = (info.structVersion == 2 and name == expected["name"]
                and info.maxInputChannels == expected["maxInputChannels"]
                and info.maxOutputChannels == expected["maxOutputChannels"]
                and all(math.isclose(getattr(info, k), float(expected[k]), rel_tol=0, abs_tol=1e-12)
                        for k in ("defaultLowInputLatency", "defaultLowOutputLatency", "defaultHighInputLatency",
                                  "defaultHighOutputLatency", "defaultSampleRate")))
        if not same:
            self.reason = "PortAudio's device info does not match PyAudio's (another PortAudio build?)"
            return None
        return info

    @contextmanager
    def suggesting(self, index: int, expected: dict, kind: str, seconds: float):
        """Within the block, PortAudio's low latency for this device reads ``seconds``; yields True when it does."""
        info = self._info(index, expected) if self.ok else None
        if info is None:
            yield False
            return
        field = KIND_FIELD[kind]
        original = getattr(info, field)
        setattr(info, field, float(seconds))
        try:
            yield True
        finally:
            setattr(info, field, original)


_CONTROL: LatencyControl | None = None


def control() -> LatencyControl:
    """One LatencyControl per process (the library lookup happens once)."""
    global _CONTROL
    if _CONTROL is None:
        _CONTROL = LatencyControl()
    return _CONTROL
