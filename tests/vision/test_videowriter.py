"""The video writer's session clock (gaps repeat the last picture, doubles are skipped), its codec choice, and the
rebuild of an mp4 whose writer was SIGKILLed."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from game.framering import FrameRing
from vision.videosalvage import rebuild
from vision.videowriter import ClockedVideo, open_writer

ROOT = Path(__file__).resolve().parents[2]
H, W, FPS = 120, 160, 30.0


def read_frames(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def shade(frame) -> int:
    return int(round(float(frame.mean())))


def close(shades, expected, tolerance=4) -> bool:
    """mp4v is lossy: a flat grey comes back within a few levels."""
    return len(shades) == len(expected) and all(abs(a - b) <= tolerance for a, b in zip(shades, expected))


def test_open_writer_picks_an_mp4_codec_that_opens(tmp_path):
    writer, fourcc = open_writer(cv2, tmp_path / "v.mp4", FPS, W, H)
    assert writer is not None and fourcc in ("avc1", "mp4v")
    writer.write(np.zeros((H, W, 3), np.uint8))
    writer.release()
    assert len(read_frames(tmp_path / "v.mp4")) == 1


def test_video_time_follows_session_time(tmp_path):
    """Pictures at 0, 1, (gap) 5, 5.2 (same video frame as 5), 6 frame periods: 7 video frames, 3 of them repeats."""
    path = tmp_path / "clock.mp4"
    writer, _ = open_writer(cv2, path, FPS, W, H)
    video = ClockedVideo(writer, FPS, (H, W, 3))
    for shade_value, frame_time in ((40, 0), (80, 1), (120, 5), (160, 5.2), (200, 6)):
        video.free_buffer[:] = shade_value
        video.add(frame_time / FPS)
    writer.release()
    assert (video.taken, video.written, video.repeated, video.skipped) == (5, 7, 3, 1)
    shades = [shade(f) for f in read_frames(path)]
    assert close(shades, [40, 80, 80, 80, 80, 120, 200])


def test_the_first_picture_stands_in_for_the_moments_before_it(tmp_path):
    path = tmp_path / "late.mp4"
    writer, _ = open_writer(cv2, path, FPS, W, H)
    video = ClockedVideo(writer, FPS, (H, W, 3))
    video.free_buffer[:] = 90
    video.add(3 / FPS)
    video.free_buffer[:] = 10
    video.add(-1.0)        # a picture from before t0 that comes late: its place is gone
    writer.release()
    assert (video.written, video.repeated, video.skipped) == (4, 3, 1)
    assert close([shade(f) for f in read_frames(path)], [90, 90, 90, 90])


def test_pump_takes_every_waiting_picture_from_the_ring(tmp_path):
    ring = FrameRing.create(f"handtone-test{os.getpid()}-pump", 8, H, W)
    reader = FrameRing.attach(ring.name)
    try:
        path = tmp_path / "pump.mp4"
        writer, _ = open_writer(cv2, path, FPS, W, H)
        video = ClockedVideo(writer, FPS, ring.shape)
        for k in range(5):
            ring.put(np.full(ring.shape, 30 * k + 20, np.uint8), k / FPS)
        assert video.pump(reader) == 5 and video.pump(reader) == 0
        writer.release()
        assert close([shade(f) for f in read_frames(path)], [20, 50, 80, 110, 140])
    finally:
        reader.close()
        ring.close()


# ---- a writer killed before it closed its file --------------------------------------------------------------------
KILLED_WRITER = """
import os, signal, sys, time
import cv2, numpy as np
w = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (160, 120))
rng = np.random.default_rng(1)
for k in range(150):
    frame = rng.integers(0, 90, (120, 160, 3), dtype=np.uint8)   # noise: frames too big to stay in FFmpeg's buffer
    frame[:, k % 160] = 255            # a white column that moves one pixel a frame
    w.write(frame)
    time.sleep(0.002)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_mp4_whose_writer_was_sigkilled_is_rebuilt_from_its_frames(tmp_path):
    path = tmp_path / "killed.mp4"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert path.stat().st_size > 0
    assert read_frames(path) == [], "an mp4 without its index does not play (else there is nothing to rebuild)"
    frames, what = rebuild(path, FPS, W, H)
    print(f"\n{what} of 150 written")
    assert frames > 50, what
    assert what.startswith(f"rebuilt with {frames} frames")
    got = read_frames(path)
    assert len(got) == frames
    columns = [int(np.argmax(f.mean(axis=(0, 2)))) for f in got]
    assert columns == list(range(frames)), "the frames are the writer's, in order"
    assert not list(tmp_path.glob("*.rebuilt.*"))


def test_a_finished_mp4_is_left_alone(tmp_path):
    path = tmp_path / "fine.mp4"
    writer, _ = open_writer(cv2, path, FPS, W, H)
    writer.write(np.zeros((H, W, 3), np.uint8))
    writer.release()
    before = path.read_bytes()
    assert rebuild(path, FPS, W, H)[0] == -1
    assert path.read_bytes() == before


@pytest.mark.parametrize("content,why", [(b"", "is empty"), (b"\x00\x00\x00\x08junk" * 10, "holds no whole frame")])
def test_what_cannot_be_rebuilt_is_said(tmp_path, content, why):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    frames, what = rebuild(path, FPS, W, H)
    assert frames == 0 and why in what
    assert rebuild(tmp_path / "none.mp4", FPS, W, H) == (0, "none.mp4 was not written")
