"""A ring of video frames in one named shared-memory segment: vision puts each annotated picture, the video writer
takes them in order.

Why a ring and not a queue: a queue pickles and copies each 900 KB frame through a pipe (about 2 ms each way here)
and blocks its producer when full. Here the writer copies the picture into the next slot and moves on; it never
waits. When the reader falls more than a ring behind, the oldest slots are overwritten and the reader counts those
frames as lost. Each slot has its own seqlock counter (as in game/shm.py), so a reader that is overtaken while
copying a slot notices and drops that frame instead of returning half of one picture and half of the next.

Layout (little-endian; every block starts on a 64-byte boundary, counters are aligned uint64 stores):

    header, 64 bytes
        0   uint64  written   frames put so far; frame k lives in slot k % slots (set after the frame is whole)
        8   uint64  slots
        16  uint64  height
        24  uint64  width
        32  float64 fps       the source's frame rate, set by the writer once it knows it (0: not yet)
    slot i, at 64 + i * stride
        0   uint64  seq       odd while the writer fills this slot
        8   uint64  frame     number k of the frame held
        16  float64 t         its time in seconds since the session's t0
        64  uint8[height, width, 3]  the picture (BGR)

Ownership as in game/shm.py: the launcher creates and unlinks; others attach outside their resource tracker.
"""
from __future__ import annotations

import math
import os
from multiprocessing import shared_memory

import numpy as np

from game.shm import close_segment, open_untracked

HEADER_BYTES = 64
SLOT_HEADER_BYTES = 64
ALIGN = 64
RING_SECONDS = 1.0   # how far the reader may fall behind (a disk stall, a busy core) before frames are lost
SHM_DIR = "/dev/shm"


class RingSpaceError(RuntimeError):
    """Not enough room in /dev/shm for the ring; the message says what to do."""


def slots_for(fps: float) -> int:
    """About RING_SECONDS of frames at ``fps``, at least 4."""
    return max(4, math.ceil((fps if fps > 0 else 30.0) * RING_SECONDS))


def stride_for(height: int, width: int) -> int:
    pixels = height * width * 3
    return SLOT_HEADER_BYTES + (pixels + ALIGN - 1) // ALIGN * ALIGN


def size_for(slots: int, height: int, width: int) -> int:
    return HEADER_BYTES + slots * stride_for(height, width)


class FrameRing:
    """One writer, one reader; see the module docstring for the rules and the layout."""

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool):
        self.shm = shm
        self.owner = owner
        buf = shm.buf
        head = np.ndarray((4,), dtype="<u8", buffer=buf, offset=0)
        self.slots, self.height, self.width = int(head[1]), int(head[2]), int(head[3])
        if shm.size < size_for(self.slots, self.height, self.width) or not self.slots:
            raise ValueError(f"shared memory {shm.name!r} is not a frame ring of its stated size")
        self._written = np.ndarray((1,), dtype="<u8", buffer=buf, offset=0)
        self._fps = np.ndarray((1,), dtype="<f8", buffer=buf, offset=32)
        stride = stride_for(self.height, self.width)
        self._seq, self._number, self._time, self._pixels = [], [], [], []
        for i in range(self.slots):
            base = HEADER_BYTES + i * stride
            self._seq.append(np.ndarray((1,), dtype="<u8", buffer=buf, offset=base))
            self._number.append(np.ndarray((1,), dtype="<u8", buffer=buf, offset=base + 8))
            self._time.append(np.ndarray((1,), dtype="<f8", buffer=buf, offset=base + 16))
            self._pixels.append(np.ndarray((self.height, self.width, 3), dtype=np.uint8, buffer=buf,
                                           offset=base + SLOT_HEADER_BYTES))
        self.next = 0    # reader: number of the next frame to take
        self.lost = 0    # reader: frames overwritten before they could be taken

    # ---- life cycle -------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, slots: int, height: int, width: int) -> "FrameRing":
        size = size_for(slots, height, width)
        _check_room(size)
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        head = np.ndarray((4,), dtype="<u8", buffer=shm.buf, offset=0)
        head[:] = (0, slots, height, width)
        del head
        return cls(shm, owner=True)

    @classmethod
    def attach(cls, name: str) -> "FrameRing":
        shm = open_untracked(name)
        try:
            return cls(shm, owner=False)
        except ValueError:
            shm.close()
            raise

    def close(self) -> None:
        """Drop our views and mapping; the owner also unlinks the name."""
        self._written = self._fps = None
        self._seq = self._number = self._time = self._pixels = []  # views must go before the mapping can close
        close_segment(self.shm, self.owner)

    @property
    def name(self) -> str:
        return self.shm.name

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, 3

    @property
    def fps(self) -> float:
        return float(self._fps[0])

    def set_fps(self, fps: float) -> None:
        self._fps[0] = fps

    @property
    def written(self) -> int:
        return int(self._written[0])

    # ---- writer -----------------------------------------------------------------------------------------------
    def prefault(self) -> None:
        """Touch every slot once (before the session): the first write to each page of a fresh segment costs a
        page fault, which would otherwise land in the first lap of puts."""
        for pixels in self._pixels:
            pixels[:] = 0
    def put(self, frame: np.ndarray, t: float) -> int:
        """Copy ``frame`` (height x width x 3 uint8) into the next slot, stamped with session time ``t``; never
        waits. Returns the frame's number."""
        k = int(self._written[0])
        i = k % self.slots
        seq = self._seq[i]
        s = int(seq[0]) | 1   # odd: filling (also repairs a writer that died mid-fill)
        seq[0] = s
        np.copyto(self._pixels[i], frame)
        self._number[i][0] = k
        self._time[i][0] = t
        seq[0] = s + 1
        self._written[0] = k + 1
        return k

    # ---- reader -----------------------------------------------------------------------------------------------
    def pending(self) -> int:
        """Frames put and not yet taken (more than ``slots`` means some are already lost)."""
        return int(self._written[0]) - self.next

    def take(self, out: np.ndarray) -> tuple[int, float] | None:
        """Copy the next frame in order into ``out``; returns (its number, its time), or None when there is no new
        frame. Frames overwritten before we got to them are skipped and counted in ``lost``; a frame overwritten
        while we copied it is dropped too (never returned torn)."""
        while True:
            written = int(self._written[0])
            k = self.next
            if k >= written:
                return None
            if written - k > self.slots:   # lapped: the oldest ones are gone
                self.lost += written - self.slots - k
                k = self.next = written - self.slots
            i = k % self.slots
            seq = self._seq[i]
            s1 = int(seq[0])
            if not s1 & 1 and int(self._number[i][0]) == k:
                np.copyto(out, self._pixels[i])
                t = float(self._time[i][0])
                if int(seq[0]) == s1:
                    self.next = k + 1
                    return k, t
            # frame k was complete (k < written) but its slot is being or has been refilled with a later frame
            self.lost += 1
            self.next = k + 1


def _check_room(size: int) -> None:
    """A tmpfs that is too small fails only when a page is first written (SIGBUS in the writer): check up front."""
    if not os.path.isdir(SHM_DIR):
        return
    st = os.statvfs(SHM_DIR)
    free = st.f_bavail * st.f_frsize
    if free < size:
        raise RingSpaceError(f"--record-video needs {size / 1e6:.0f} MB of shared memory and {SHM_DIR} has "
                             f"{free / 1e6:.0f} MB free: make {SHM_DIR} larger (docker: --shm-size=256m) or play "
                             "without --record-video")
