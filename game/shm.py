"""A fixed record of float64 fields in named shared memory, guarded by a seqlock.

Why a seqlock: one writer, many readers, and the reader is a real-time audio callback that must never block.
The writer makes the counter odd, writes the fields, makes it even again; a reader copies the fields between
two reads of the counter and retries when the counter was odd or changed.

Layout (little-endian, 8-byte aligned, the same on every platform we run on):

    offset 0   uint64  seq            odd while a write is in progress
    offset 8   float64 field[0]
    offset 16  float64 field[1]
    ...

The counter is written through an aligned numpy uint64 view, so each store is one 8-byte store (struct.pack_into
zeroes its target before writing, which lets a reader see a torn counter).

Ownership: the launcher creates and unlinks. Every other process attaches with ``attach()``, which keeps the
segment out of that process's resource tracker (CPython gh-82300: otherwise an attaching process that exits
unlinks a segment it does not own).
"""
from __future__ import annotations

import contextlib
import sys
from multiprocessing import resource_tracker, shared_memory
from typing import Sequence

import numpy as np

HEADER_BYTES = 8


@contextlib.contextmanager
def _untracked():
    """Attach without registering with the resource tracker (Python < 3.13 has no track=False)."""
    original = resource_tracker.register

    def register(name, rtype):
        if rtype != "shared_memory":
            original(name, rtype)

    resource_tracker.register = register
    try:
        yield
    finally:
        resource_tracker.register = original


def open_untracked(name: str) -> shared_memory.SharedMemory:
    """Attach to an existing segment that this process does not own (never unlinked by our resource tracker)."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    with _untracked():
        return shared_memory.SharedMemory(name=name)


class SeqlockRecord:
    """One writer / many readers record of named float64 fields in shared memory."""

    def __init__(self, shm: shared_memory.SharedMemory, fields: Sequence[str], owner: bool):
        self.shm = shm
        self.fields = tuple(fields)
        self.index = {f: i for i, f in enumerate(self.fields)}
        self.owner = owner
        buf = shm.buf
        self._seq = np.ndarray((1,), dtype="<u8", buffer=buf, offset=0)
        self._values = np.ndarray((len(self.fields),), dtype="<f8", buffer=buf, offset=HEADER_BYTES)
        #: the counter as a Python int: a 1-element array's item() is one aligned 8-byte load, and binding it here
        #: saves a Python frame per read (the reader polls it; see `bench ipc`). The bound method holds the view:
        #: a caller keeping it past close() keeps the mapping open
        self.sequence = self._seq.item
        self._published: int | None = None   # the even counter this handle's last write left (None: none yet)
        self._scratch = np.zeros(len(self.fields), dtype="<f8")   # read()'s snapshot
        self._snap = np.zeros(len(self.fields), dtype="<f8")      # read_into's copy, committed only when whole
        #: the copies go through memoryviews: a slice assignment between two 'd' views is a memcpy at ~30 ns, where
        #: numpy's ``[...] =`` costs ~65 ns (most of a read's time; `bench ipc`). A caller's own array goes that way
        #: once it is bound (bind): made ahead, so the audio callback allocates nothing, and no other array is held
        self._values_mv = memoryview(self._values)
        self._snap_mv = memoryview(self._snap)
        self._source = self._source_mv = None   # the array bound for write(), and its view
        self._target = self._target_mv = None   # the array bound for read_into(), and its view

    # ---- life cycle -------------------------------------------------------------------------------------------
    @classmethod
    def size_for(cls, fields: Sequence[str]) -> int:
        return HEADER_BYTES + 8 * len(fields)

    @classmethod
    def create(cls, name: str, fields: Sequence[str]) -> "SeqlockRecord":
        shm = shared_memory.SharedMemory(name=name, create=True, size=cls.size_for(fields))
        rec = cls(shm, fields, owner=True)
        rec._seq[0] = 0
        rec._values[:] = 0.0
        return rec

    @classmethod
    def attach(cls, name: str, fields: Sequence[str]) -> "SeqlockRecord":
        shm = open_untracked(name)
        if shm.size < cls.size_for(fields):
            shm.close()
            raise ValueError(f"shared memory {name!r} is {shm.size} bytes, too small for {len(fields)} fields")
        return cls(shm, fields, owner=False)

    def close(self) -> None:
        """Drop our views and mapping; the owner also unlinks the name."""
        for view in (self._values_mv, self._source_mv, self._target_mv):
            if view is not None:
                view.release()
        self._values_mv = self._source = self._source_mv = self._target = self._target_mv = None
        self._seq = self._values = self.sequence = None  # views must go before the mapping can close
        close_segment(self.shm, self.owner)

    @property
    def name(self) -> str:
        return self.shm.name

    def bind(self, array: np.ndarray, writes: bool = False) -> None:
        """From now on copy through a memoryview of ``array`` when it is the one passed to read_into (or to write,
        with ``writes``): the synth and the clocks pass the same preallocated array every block. Made here, ahead
        of the stream, so the callback allocates nothing; other arrays and lists take numpy's copy."""
        if not (isinstance(array, np.ndarray) and array.dtype == np.float64 and array.dtype.isnative
                and array.shape == self._snap.shape and array.flags.c_contiguous):
            raise ValueError(f"bind needs a contiguous float64 array of {self._snap.size} values")
        old = self._source_mv if writes else self._target_mv
        if old is not None:
            old.release()
        if writes:
            self._source, self._source_mv = array, memoryview(array)
        else:
            self._target, self._target_mv = array, memoryview(array)

    # ---- writer -----------------------------------------------------------------------------------------------
    def write(self, values) -> None:
        """Publish all fields at once (values: a sequence or array in field order).

        One writer per record (a seqlock's rule): after its first write, this handle counts on from the counter
        it published instead of loading it back from the shared line, which readers keep in their caches (a
        load there costs a cache-line transfer: ~0.07 us of a write's ~0.4 here, `bench ipc`). The first write
        continues from the record's counter, made odd: that also repairs a writer that died mid-write."""
        seq = self._seq
        s = (self.sequence() | 1) if self._published is None else self._published + 1   # odd: writing
        seq[0] = s               # each store to the aligned uint64 is one 8-byte store
        if values is self._source:
            self._values_mv[:] = self._source_mv
        else:
            self._values[...] = values
        self._published = s + 1
        seq[0] = s + 1

    # ---- reader -----------------------------------------------------------------------------------------------
    def read_into(self, out: np.ndarray, max_tries: int = 1000) -> bool:
        """Copy a consistent snapshot into ``out`` (float64, len(fields)); no allocation of arrays.

        Returns False, leaving ``out`` as it was (the caller's last good snapshot), when no consistent snapshot was
        seen within ``max_tries`` (a writer preempted or stuck mid-write; at least one try is made).
        """
        counter = self.sequence
        s1 = counter()
        if not s1 & 1:                # the usual case, kept out of the loop: ~0.2 us instead of ~0.8
            snap = self._snap_mv
            snap[:] = self._values_mv
            if counter() == s1:
                if out is self._target:
                    self._target_mv[:] = snap
                else:
                    out[...] = self._snap
                return True
        return self._retry_into(out, max_tries - 1)

    def _retry_into(self, out: np.ndarray, tries: int) -> bool:
        counter, values, snap = self.sequence, self._values_mv, self._snap_mv
        for _ in range(tries):
            s1 = counter()
            if s1 & 1:
                continue
            snap[:] = values
            if counter() == s1:
                out[...] = self._snap
                return True
        return False

    def read(self) -> dict:
        """A snapshot as a dict (for tools and tests, not for the audio callback)."""
        self.read_into(self._scratch)
        return {f: float(v) for f, v in zip(self.fields, self._scratch)} | {"seq": self.sequence()}


def close_segment(shm, owner: bool) -> None:
    """Close a segment whose numpy views are already dropped; its owner (the launcher) also unlinks the name."""
    try:
        shm.close()
    except BufferError:
        pass
    if owner:
        try:
            shm.unlink()
        except FileNotFoundError:
            pass
