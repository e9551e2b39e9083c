"""A WAV writer that survives SIGKILL, and a reader that accepts the truncated files such a kill can leave.

Why: the recorder and synth write their WAVs as the session goes; a killed process must still leave a file that opens.
The header is written first with sizes of zero; data is appended, and at least every ``interval`` seconds (and on
flush/close) the RIFF and data sizes are rewritten to cover exactly the data already handed to the OS. The header
never claims more than was written, so a kill loses at most the last interval plus what the caller had not yet
appended.
"""
from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import numpy as np

HEADER_BYTES = 44


class WavWriter:
    """16-bit PCM WAV, mono or stereo, written as it goes."""

    def __init__(self, path, rate: int, channels: int = 1, interval: float = 0.25):
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.path = Path(path)
        self.rate = int(rate)
        self.channels = channels
        self.interval = interval
        self.frames = 0
        self._data_bytes = 0
        self._header_bytes = -1  # data size the header on disk claims
        self._last_header = 0.0
        self._f = open(self.path, "wb")
        self._f.write(self._header(0))
        self._f.flush()
        self._header_bytes = 0

    def _header(self, data_bytes: int) -> bytes:
        block_align = 2 * self.channels
        return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, self.channels,
                           self.rate, self.rate * block_align, block_align, 16, b"data", data_bytes)

    @staticmethod
    def to_int16(samples: np.ndarray) -> np.ndarray:
        """float (-1..1) -> int16 with clipping; int16 passes through."""
        a = np.asarray(samples)
        if a.dtype == np.int16:
            return a
        return (np.clip(a, -1.0, 1.0) * 32767.0).astype(np.int16)

    def write(self, samples: np.ndarray) -> None:
        """Append frames: float in -1..1 or int16; shape (n,) for mono or (n, 2) for stereo."""
        a = np.ascontiguousarray(self.to_int16(samples))
        if a.size == 0:
            return
        if self.channels == 2 and (a.ndim != 2 or a.shape[1] != 2):
            raise ValueError(f"stereo WAV needs shape (n, 2), got {a.shape}")
        self._f.write(a.astype("<i2", copy=False).tobytes())
        self._data_bytes += a.size * 2
        self.frames = self._data_bytes // (2 * self.channels)
        if time.monotonic() - self._last_header >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Hand the data to the OS, then make the header claim exactly that much."""
        if self._f.closed:
            return
        self._f.flush()
        if self._header_bytes != self._data_bytes:
            self._f.seek(4)
            self._f.write(struct.pack("<I", 36 + self._data_bytes))
            self._f.seek(40)
            self._f.write(struct.pack("<I", self._data_bytes))
            self._f.seek(0, os.SEEK_END)
            self._f.flush()
            self._header_bytes = self._data_bytes
        self._last_header = time.monotonic()

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_wav(path) -> tuple[int, np.ndarray]:
    """(rate, float32 samples in -1..1): shape (n,) for mono, (n, channels) otherwise. See read_wav_checked."""
    rate, samples, _note = read_wav_checked(path)
    return rate, samples


def read_wav_checked(path) -> tuple[int, np.ndarray, str]:
    """(rate, samples, note): like read_wav, with a note ('' when intact) saying how a damaged file was read.

    Tolerant of what a killed writer leaves: a data size of 0 or 0xFFFFFFFF, one past the end of the file, or one
    smaller than the samples present (this writer rewrites its sizes only every fraction of a second): the whole
    frames present are read. PCM 8/16/24/32-bit and IEEE float 32/64. Raises ValueError when it is not a WAV.
    """
    from audio.wavstream import WavStream   # the header walk, one copy (it imports this module's decoder)
    stream = WavStream(path)
    return stream.rate, stream.read(0, stream.frames), stream.note


def _decode(data: bytes, tag: int, channels: int, rate: int, bits: int, path="") -> np.ndarray:
    if channels < 1 or rate < 1 or bits < 8:
        raise ValueError(f"{path}: bad format: {channels} channels, {rate} Hz, {bits} bits")
    frame = bits // 8 * channels
    data = data[:len(data) - len(data) % frame]
    if tag == 3 and bits in (32, 64):
        x = np.frombuffer(data, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif tag == 1 and bits == 8:
        x = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == 1 and bits == 16:
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif tag == 1 and bits == 24:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float32) / float(1 << 23)
    elif tag == 1 and bits == 32:
        x = np.frombuffer(data, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{path}: unsupported WAV encoding (format {tag}, {bits} bits)")
    return x if channels == 1 else x.reshape(-1, channels)


def _chunk_follows(raw: bytes, pos: int) -> bool:
    """Whether a real chunk (like LIST) starts at pos, rather than samples written after the last header update."""
    if pos + 8 > len(raw):
        return False
    cid = raw[pos:pos + 4]
    size = struct.unpack_from("<I", raw, pos + 4)[0]
    return all(32 <= c < 127 for c in cid) and pos + 8 + size <= len(raw)
