"""A WAV's samples read a span at a time, so a long session's file is never decoded whole.

Why: the mix of a one-hour session held every track as float32 at once (a 10-minute one peaked at ~730 MB). The
header walk here is also audio/wavfile.read_wav_checked's (the tolerance of what a killed writer leaves: a data
size of 0, past the end, or short of the samples present), and each span is decoded by wavfile's decoder, so a span
holds the same samples, bit for bit, as the whole file read at once.
"""
from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np

from audio.wavfile import _chunk_follows, _decode


class WavStream:
    """One WAV's format and where its samples are; read(i, j) decodes frames i..j-1 only.

    Raises ValueError (not a WAV, a bad or unsupported format) or OSError on opening, as read_wav_checked does."""

    def __init__(self, path):
        self.path = Path(path)
        self.note = ""                  # '' when intact, else how a damaged file is read (read_wav_checked's words)
        self.frames = 0
        self._offset = 0
        size = self.path.stat().st_size
        if size < 12:
            raise ValueError(f"{path}: not a WAV file")
        with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
            fmt = self._walk(raw, path)
        self.rate, self.channels = fmt[2], fmt[1]
        self._fmt = fmt
        self._frame_bytes = fmt[3] // 8 * fmt[1] if fmt[1] >= 1 and fmt[3] >= 8 else 1
        if self.note != "no data chunk":
            _decode(b"", *fmt, path=path)        # a format the decoder refuses is refused now, with its words
            self.frames = self._data_bytes // self._frame_bytes

    def _walk(self, raw, path) -> tuple[int, int, int, int]:
        """The chunks up to the data chunk: its place and size set, the fmt chunk's (tag, channels, rate, bits)."""
        if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a WAV file")
        pos, fmt = 12, None
        while pos + 8 <= len(raw):
            cid, size = struct.unpack_from("<4sI", raw, pos)
            body = pos + 8
            if cid == b"fmt ":
                if size < 16 or body + 16 > len(raw):
                    raise ValueError(f"{path}: fmt chunk cut short")
                tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", raw, body)
                if tag == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID
                    if body + 26 > len(raw):
                        raise ValueError(f"{path}: fmt chunk cut short")
                    tag = struct.unpack_from("<H", raw, body + 24)[0]
                fmt = (tag, channels, rate, bits)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError(f"{path}: data before fmt chunk")
                avail = len(raw) - body
                if size == 0 or size > avail or (size < avail and not _chunk_follows(raw, body + size + (size & 1))):
                    self.note = "header was not finished (writer stopped early); read the samples present"
                    size = avail
                self._offset, self._data_bytes = body, size
                return fmt
            pos = body + size + (size & 1)
        if fmt is None:
            raise ValueError(f"{path}: no fmt chunk")
        self.note, self._data_bytes = "no data chunk", 0
        return fmt

    def read(self, i: int, j: int) -> np.ndarray:
        """Frames i..j-1 as read_wav_checked gives them: float32 in -1..1, (n,) mono or (n, channels)."""
        i, j = max(0, i), min(j, self.frames)
        if j <= i:
            return np.zeros(0 if self.channels == 1 else (0, self.channels), np.float32)
        with open(self.path, "rb") as f:
            f.seek(self._offset + i * self._frame_bytes)
            data = f.read((j - i) * self._frame_bytes)
        return _decode(data, *self._fmt, path=self.path)

    def mono(self, i: int, j: int) -> np.ndarray:
        """Frames i..j-1 in mono (the channels' mean, as the reports have always taken it), float32."""
        x = self.read(i, j)
        return x.mean(axis=1) if x.ndim > 1 else x
