"""The shared-memory frame ring: frames in order, the oldest overwritten when the reader is behind (counted as lost),
never a torn frame across processes, and nothing left in /dev/shm."""
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from game import framering
from game.framering import FrameRing, RingSpaceError

ROOT = Path(__file__).resolve().parents[2]
H, W = 480, 640
VALUES = 13   # distinct frame contents in the race test: coprime with the 4 slots, so frames k and k + 4 differ


def ring_name(tag: str) -> str:
    return f"handtone-test{os.getpid()}-{tag}"


def picture(value: int, h: int = H, w: int = W) -> np.ndarray:
    return np.full((h, w, 3), value % 256, np.uint8)


@pytest.fixture
def ring():
    owner = FrameRing.create(ring_name("ring"), 4, 48, 64)
    reader = FrameRing.attach(owner.name)
    yield owner, reader
    reader.close()
    owner.close()
    assert not Path(f"/dev/shm/{owner.name}").exists()


def test_frames_come_out_in_order_with_their_times(ring):
    writer, reader = ring
    out = np.zeros(reader.shape, np.uint8)
    assert reader.take(out) is None
    for k in range(3):
        assert writer.put(picture(10 + k, 48, 64), 0.5 + k / 30) == k
    assert reader.pending() == 3
    for k in range(3):
        number, t = reader.take(out)
        assert number == k and t == pytest.approx(0.5 + k / 30)
        assert (out == 10 + k).all()
    assert reader.take(out) is None
    assert reader.lost == 0


def test_a_full_ring_overwrites_the_oldest_and_the_reader_counts_them_lost(ring):
    writer, reader = ring
    out = np.zeros(reader.shape, np.uint8)
    for k in range(4 + 5):     # 4 slots, 9 frames: frames 0..4 are overwritten
        writer.put(picture(k, 48, 64), float(k))
    got = []
    while (item := reader.take(out)) is not None:
        got.append(item[0])
        assert (out == item[0]).all() and item[1] == float(item[0])
    assert got == [5, 6, 7, 8]
    assert reader.lost == 5
    writer.put(picture(9, 48, 64), 9.0)   # and it goes on from there
    assert reader.take(out) == (9, 9.0) and reader.lost == 5


def test_a_slot_refilled_while_the_reader_looks_is_dropped_not_returned(ring):
    writer, reader = ring
    out = np.zeros(reader.shape, np.uint8)
    writer.put(picture(1, 48, 64), 1.0)
    writer._seq[0][0] += 1     # the writer is refilling slot 0 (a later frame) right now
    assert reader.take(out) is None
    assert reader.lost == 1 and not out.any()


def test_attach_reads_the_geometry_and_the_fps(ring):
    writer, reader = ring
    assert (reader.slots, reader.height, reader.width) == (4, 48, 64)
    assert reader.fps == 0.0
    writer.set_fps(29.97)
    assert reader.fps == 29.97


def test_slots_for_about_a_second():
    assert framering.slots_for(30) == 30
    assert framering.slots_for(0) == 30
    assert framering.slots_for(2) == 4


def test_a_ring_larger_than_the_free_shared_memory_is_refused_up_front():
    st = os.statvfs("/dev/shm")
    slots = st.f_bavail * st.f_frsize // framering.stride_for(H, W) + 2
    with pytest.raises(RingSpaceError, match="without --record-video"):
        FrameRing.create(ring_name("huge"), slots, H, W)
    assert not Path(f"/dev/shm/{ring_name('huge')}").exists()


def test_a_process_that_attaches_and_exits_does_not_unlink():
    owner = FrameRing.create(ring_name("keep"), 4, 48, 64)
    try:
        owner.put(picture(7, 48, 64), 2.5)
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                "import numpy as np\n"
                "from game.framering import FrameRing\n"
                f"r = FrameRing.attach({owner.name!r}); out = np.zeros(r.shape, np.uint8)\n"
                "print(r.take(out), int(out.max())); r.close()\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "(0, 2.5) 7"
        assert "leaked" not in out.stderr
        time.sleep(0.2)
        assert Path(f"/dev/shm/{owner.name}").exists()
    finally:
        owner.close()
    assert not Path(f"/dev/shm/{owner.name}").exists()


# ---- two processes flat out -------------------------------------------------------------------------------------
def _writer(name, seconds, started, result):
    ring = FrameRing.attach(name)
    frames = [picture(v) for v in range(VALUES)]   # frame k is all (k % 13): a torn copy mixes two values
    started.set()
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end:
        ring.put(frames[k % VALUES], float(k))
        k += 1
    ring.close()
    result.put(("written", k))


def _reader(name, started, done, result):
    ring = FrameRing.attach(name)
    out = np.zeros(ring.shape, np.uint8)
    raw = np.zeros(ring.shape, np.uint8)
    taken = torn = disorder = raw_torn = raw_tries = 0
    last = -1
    started.wait(60)
    while not done.is_set() or ring.pending() > 0:
        got = ring.take(out)
        if got is None:
            continue
        k, t = got
        taken += 1
        if not (out.min() == out.max() == k % VALUES) or t != float(k):
            torn += 1
        if k <= last:
            disorder += 1
        last = k
        if taken % 4 == 0:    # control: a plain copy of the slot being filled, without the seqlock, does tear
            i = ring.written % ring.slots
            np.copyto(raw, ring._pixels[i])
            raw_tries += 1
            raw_torn += int(raw.min() != raw.max())
    result.put(("read", taken, torn, disorder, ring.lost, raw_torn, raw_tries))
    ring.close()


def test_a_writer_and_a_reader_flat_out_in_two_processes_never_see_a_torn_frame():
    ctx = mp.get_context("spawn")
    owner = FrameRing.create(ring_name("race"), 4, H, W)
    try:
        started, done, result = ctx.Event(), ctx.Event(), ctx.Queue()
        r = ctx.Process(target=_reader, args=(owner.name, started, done, result))
        w = ctx.Process(target=_writer, args=(owner.name, 4.0, started, result))
        r.start()
        w.start()
        first = result.get(timeout=120)
        done.set()
        second = result.get(timeout=60)
        w.join(10)
        r.join(10)
        written = first if first[0] == "written" else second
        read = second if first[0] == "written" else first
        _, n_written = written
        _, taken, torn, disorder, lost, raw_torn, raw_tries = read
        print(f"\n{n_written} frames put in 4 s ({n_written / 4:.0f}/s), {taken} taken, {lost} lost, "
              f"unguarded copies torn: {raw_torn} of {raw_tries}")
        assert torn == 0, f"{torn} torn frames returned"
        assert disorder == 0
        assert taken + lost == n_written, "every frame is either taken or counted as lost"
        assert taken > 200 and lost > 0, "the writer must have lapped the reader for this test to mean anything"
        assert raw_torn > 0, "the unguarded control copy never tore: the writer was not racing the reader"
    finally:
        owner.close()
    assert not Path(f"/dev/shm/{owner.name}").exists()
