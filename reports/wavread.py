"""A tiny tolerant WAV reader for reports (audio/wavfile.py is someone else's; this one must survive killed writers).

A writer killed before it fixed its header leaves a data size of 0 or 0xFFFFFFFF, or larger than the file: we read
whatever whole frames are there. PCM 8/16/24/32-bit and IEEE float 32/64 are read and mixed down to mono.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def read_wav(path: Path) -> tuple[np.ndarray, int, str]:
    """(mono float32 samples in -1..1, sample rate, a note about damage or ''). Raises ValueError if not a WAV."""
    raw = Path(path).read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, fmt, note = 12, None, ""
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(raw):
                raise ValueError("fmt chunk cut short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", raw[body:body + 16])
            if tag == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID
                tag = struct.unpack("<H", raw[body + 24:body + 26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("data chunk before fmt chunk")
            avail = len(raw) - body
            if size == 0 or size > avail or (size < avail and not _chunk_follows(raw, body + size + (size & 1))):
                # audio/wavfile.py rewrites the sizes every fraction of a second: a kill leaves samples beyond them
                note = "header was not finished (writer stopped early); read the samples present"
                size = avail
            return _decode(raw[body:body + size], *fmt), fmt[2], note
        pos = body + size + (size & 1)
    raise ValueError("no data chunk")


def _decode(data: bytes, tag: int, channels: int, rate: int, bits: int) -> np.ndarray:
    if channels < 1 or rate < 1:
        raise ValueError(f"bad format: {channels} channels, {rate} Hz")
    width = bits // 8
    frame = width * channels
    data = data[:len(data) - len(data) % frame] if frame else b""
    if tag == 3 and bits in (32, 64):
        x = np.frombuffer(data, dtype="<f4" if bits == 32 else "<f8").astype(np.float32)
    elif tag == 1 and bits == 8:
        x = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif tag == 1 and bits == 16:
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif tag == 1 and bits == 24:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif tag == 1 and bits == 32:
        x = np.frombuffer(data, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"unsupported WAV encoding (format {tag}, {bits} bits)")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x


def _chunk_follows(raw: bytes, pos: int) -> bool:
    """Whether a real chunk (like LIST) starts at pos, rather than samples written after the last header update."""
    if pos + 8 > len(raw):
        return False
    cid = raw[pos:pos + 4]
    size = struct.unpack("<I", raw[pos + 4:pos + 8])[0]
    return all(32 <= c < 127 for c in cid) and pos + 8 + size <= len(raw)
