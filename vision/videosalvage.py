"""Rebuild a session.mp4 or camera.mp4 whose writer was killed (SIGKILL) before it could close the file.

Why: an mp4's index (the 'moov' box: codec set-up, where each frame is) is written when the file is closed, so a
killed writer leaves the frames in the 'mdat' box and no way for a player to read them. For MPEG-4 Part 2 ('mp4v',
what the video writer uses with opencv-python 5.0) the frames are a plain elementary stream once the codec's
set-up bytes (the VOS/VOL headers, kept in the moov's 'esds') are put in front. We get those bytes by writing a
one-frame reference file with the same encoder, size and fps, read the stream back with OpenCV and write a fresh,
indexed file. What the killed writer still held in memory is lost: FFmpeg writes 256 KB at a time, about a second of
session.mp4 and three of camera.mp4 (the bare camera picture compresses better).

Other codecs (H.264 where OpenCV can encode it) are not rebuilt: ``rebuild`` says so.
"""
from __future__ import annotations

import mmap
import struct
import tempfile
from pathlib import Path

import numpy as np

from game.atomicfile import replace
from game.quiet import quiet_ffmpeg

VOP_START = b"\x00\x00\x01\xb6"      # start of each MPEG-4 Part 2 frame
GOV_START = b"\x00\x00\x01\xb3"      # a group-of-frames header, just before a key frame's VOP
STSD_ENTRIES = 8                     # version/flags + entry count before the sample entries
MP4V_ENTRY = 78                      # a visual sample entry's fixed fields before its child boxes
ESDS_VERSION = 4


def boxes(data: bytes, start: int, end: int):
    """(type, content start, end) of each box in data[start:end]; an unfinished box runs to ``end``."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        head = 8
        if size == 1:
            if i + 16 > end:
                return
            size, head = struct.unpack(">Q", data[i + 8:i + 16])[0], 16
        elif size == 0:
            size = end - i
        if size < head:
            return
        yield kind, i + head, min(i + size, end)
        i += size


def find_box(data: bytes, path: tuple[bytes, ...], start: int = 0, end: int | None = None):
    """(content start, end) of the box at ``path`` (e.g. moov/trak/...), or None."""
    end = len(data) if end is None else end
    for kind, s, e in boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return s, e
            skip = {b"stsd": STSD_ENTRIES, b"mp4v": MP4V_ENTRY}.get(kind, 0)
            found = find_box(data, path[1:], s + skip, e)
            if found:
                return found
    return None


def _descriptor(data: bytes, i: int) -> tuple[int, int, int]:
    """An MPEG-4 descriptor at i: (tag, content start, content end); the length is 7 bits a byte, high bit = more."""
    tag, i, n = data[i], i + 1, 0
    for _ in range(4):
        b = data[i]
        i += 1
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    return tag, i, i + n


def decoder_config(mp4: bytes) -> bytes:
    """The MPEG-4 Part 2 set-up bytes (DecoderSpecificInfo) of a finished mp4v file."""
    found = find_box(mp4, (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4v", b"esds"))
    if found is None:
        raise ValueError("no mp4v track")
    i = found[0] + ESDS_VERSION
    tag, i, _ = _descriptor(mp4, i)            # ES_Descriptor
    if tag != 3:
        raise ValueError("esds without an ES descriptor")
    flags = mp4[i + 2]
    i += 3
    if flags & 0x80:
        i += 2
    if flags & 0x40:
        i += 1 + mp4[i]
    if flags & 0x20:
        i += 2
    tag, i, _ = _descriptor(mp4, i)            # DecoderConfigDescriptor
    if tag != 4:
        raise ValueError("esds without a decoder config")
    tag, i, end = _descriptor(mp4, i + 13)     # DecoderSpecificInfo
    if tag != 5:
        raise ValueError("esds without decoder specific info")
    return mp4[i:end]


def has_index(data: bytes) -> bool:
    return any(kind == b"moov" for kind, _s, _e in boxes(data, 0, len(data)))


def frame_stream(data) -> tuple[int, int]:
    """Where the frames of an unfinished file's mdat are, (start, end), cut before the last frame (which the kill
    may have cut short) and its group header if it has one; (0, 0) when there is none."""
    for kind, s, _e in boxes(data, 0, len(data)):
        if kind == b"mdat":
            last = data.rfind(VOP_START, s)   # its size was never written: it runs to the end of the file
            if last <= s:
                return 0, 0
            group = data.rfind(GOV_START, s, last)
            if group > data.rfind(VOP_START, s, last):
                last = group
            return (s, last) if last > s else (0, 0)
    return 0, 0


def _copy(data, start: int, end: int, out, chunk: int = 1 << 22) -> None:
    for i in range(start, end, chunk):
        out.write(data[i:min(i + chunk, end)])


def rebuild(path: Path, fps: float, width: int, height: int) -> tuple[int, str]:
    """Make ``path`` playable if its writer was killed. Returns (frames in the rebuilt file, what happened);
    frames is -1 when the file needed nothing, 0 when it could not be rebuilt."""
    path = Path(path)
    if not path.exists():
        return 0, f"{path.name} was not written"
    if path.stat().st_size == 0:
        return 0, f"{path.name} is empty"
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # may be large
        if has_index(data):
            return -1, f"{path.name} is complete"
        start, end = frame_stream(data)
        if end <= start:
            return 0, f"{path.name} holds no whole frame"
        n, what, rebuilt = _rebuild(path, data, start, end, fps, width, height)
    if rebuilt is not None:   # once the original is closed and unmapped: Windows refuses to replace an open file
        replace(rebuilt, path)
    return n, what


def _rebuild(path: Path, data, start: int, end: int, fps: float, width: int,
             height: int) -> tuple[int, str, Path | None]:
    """(frames, what happened, the rebuilt file to put in path's place or None)."""
    # FFmpeg reads its log level once, when OpenCV first uses it; this runs after the session (in the launcher),
    # where a decoder's complaint about the cut end would only puzzle the player: what happened is said in words
    quiet_ffmpeg()
    import cv2
    with tempfile.TemporaryDirectory(prefix="handtone-video-") as tmp:
        ref_path = Path(tmp) / "reference.mp4"
        ref = cv2.VideoWriter(str(ref_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not ref.isOpened():
            return 0, "no mp4v encoder to rebuild it with", None
        ref.write(np.zeros((height, width, 3), np.uint8))
        ref.release()
        try:
            config = decoder_config(ref_path.read_bytes())
        except ValueError as e:
            return 0, f"cannot rebuild it ({e})", None
        elementary = Path(tmp) / "frames.m4v"
        with open(elementary, "wb") as out:
            out.write(config)
            _copy(data, start, end, out)
        rebuilt = path.with_name(path.stem + ".rebuilt" + path.suffix)
        cap = cv2.VideoCapture(str(elementary))
        out = cv2.VideoWriter(str(rebuilt), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        n = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                out.write(frame)
                n += 1
        finally:
            cap.release()
            out.release()
    if n == 0:
        rebuilt.unlink(missing_ok=True)
        return 0, f"no frame of {path.name} could be decoded (not an mp4v stream?)", None
    return n, f"rebuilt with {n} frames ({n / fps:.1f} s)", rebuilt
