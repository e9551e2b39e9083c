"""The video writer child (--record-video): annotated pictures from the shared-memory ring -> session.mp4, and the
camera's own pictures from a second ring -> camera.mp4.

Why two files: session.mp4 is the session as the player saw it, with the lane, the lyrics and the hand's skeleton
drawn over the picture, and that drawing hides the hand from the detector (`python main.py analyze` found no hand in
any frame of it). camera.mp4 holds what the detector saw, on the same session clock, so an analysis of a session
gives the notes the live session played (about one more millisecond of encoding a frame).

Why a process of its own: encoding costs a millisecond or more a frame and can stall on the disk; in the vision
process that would delay detection. Vision copies each picture into the ring (game/framering.py) and never waits
for us; if we fall a whole ring behind, frames are lost (counted), not queued.

Session clock: video frame k shows session time k / fps (fps: the camera's, which vision puts in the ring). Each
picture carries its session time. A gap (frames lost in the ring or dropped by vision, a stalled camera) is filled
by repeating the last picture, so the video stays in step with the song and the logs; a picture whose place in the
video is already taken is skipped.

Codec: H.264 ('avc1') when OpenCV's FFmpeg can encode it; else MPEG-4 Part 2 ('mp4v'). The opencv-python 5.0
wheel has only FFmpeg's V4L2 hardware H.264 encoder, which finds no device here, so it is 'mp4v' on these machines.

Stopping: every stop (song end, q, Ctrl-C, SIGTERM, another child dying, the launcher dying) sets ``ctx.stopped``;
we take what is left in the ring and close the file, which writes the mp4 index. Only a SIGKILL of this process
leaves an mp4 without its index; the launcher then rebuilds it from the frames on disk (vision/videosalvage.py).
"""
from __future__ import annotations

import math
import time

import numpy as np

from game.child import ChildFailure
from game.framering import FrameRing
from game.quiet import quiet_ffmpeg

FILE_NAME = "session.mp4"
CAMERA_FILE = "camera.mp4"
FOURCCS = ("avc1", "mp4v")   # first that opens wins


def open_writer(cv2, path, fps: float, width: int, height: int):
    """A cv2.VideoWriter for ``path`` with the first fourcc that opens; (writer, fourcc) or (None, None).

    A fourcc that does not open makes OpenCV log errors; we say which one we chose instead (stats), so OpenCV's log
    is silenced while we try (FFmpeg's own messages: OPENCV_FFMPEG_LOGLEVEL, set in ``run``)."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        for fourcc in FOURCCS:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
            if writer.isOpened():
                return writer, fourcc
            writer.release()
        return None, None
    finally:
        logging.setLogLevel(level)


class ClockedVideo:
    """Writes pictures so that video frame k shows session time k / fps (see the module docstring)."""

    def __init__(self, writer, fps: float, shape):
        self.writer, self.fps = writer, fps
        self.buffers = [np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)]  # take into one, repeat the other
        self.current = 0
        self.last = None          # the buffer holding the last picture written
        self.index = 0            # next video frame to write
        self.taken = self.written = self.repeated = self.skipped = 0
        self.encode_ms: list[float] = []

    @property
    def free_buffer(self) -> np.ndarray:
        return self.buffers[self.current]

    def add(self, t: float) -> None:
        """The picture just taken into ``free_buffer`` at session time ``t`` goes to video frame round(t * fps)."""
        self.taken += 1
        picture = self.buffers[self.current]
        index = math.floor(t * self.fps + 0.5) if math.isfinite(t) else -1
        if index < self.index:
            self.skipped += 1   # its place is taken (two pictures within one video frame), or before t0
            return
        filler = self.last if self.last is not None else picture   # before the first picture: the first one
        while self.index < index:
            self._write(filler)
            self.repeated += 1
        self._write(picture)
        self.last = picture
        self.current ^= 1

    def _write(self, picture) -> None:
        t = time.perf_counter()
        self.writer.write(picture)
        self.encode_ms.append((time.perf_counter() - t) * 1000.0)
        self.written += 1
        self.index += 1

    def pump(self, ring: FrameRing) -> int:
        """Take and write every picture waiting in the ring; returns how many were taken."""
        n = 0
        while True:
            got = ring.take(self.free_buffer)
            if got is None:
                return n
            self.add(got[1])
            n += 1

    def stats(self) -> dict:
        from game.figures import percentile as pct
        return {"frames_written": self.written, "frames_taken": self.taken, "frames_repeated": self.repeated,
                "frames_skipped": self.skipped, "video_s": round(self.written / self.fps, 3) if self.fps else None,
                "encode_ms_p50": pct(self.encode_ms, 50), "encode_ms_p95": pct(self.encode_ms, 95)}


def video_fps(ring: FrameRing, settings) -> float:
    """The camera's fps as vision put it in the ring, else the requested one (the launcher's rebuild uses this too)."""
    fps = ring.fps
    return fps if fps > 0 and math.isfinite(fps) else float(settings.fps)


AFTER_STOP_QUIET = 0.3    # after the stop, keep taking until vision has put nothing for this long...
AFTER_STOP_MAX = 1.5      # ...but no longer than this (vision finishes its frame within a frame time)


def pump_all(videos) -> int:
    """Every (ClockedVideo, ring) pair's waiting pictures written; how many were taken."""
    return sum(video.pump(ring) for video, ring in videos)


def drain_after_stop(videos) -> None:
    """Take what vision put before it stopped: it sees the same stop flag and may still be finishing a frame."""
    now = time.monotonic()
    quiet_until, deadline = now + AFTER_STOP_QUIET, now + AFTER_STOP_MAX
    while now < deadline:
        if pump_all(videos):
            quiet_until = time.monotonic() + AFTER_STOP_QUIET
        elif now >= quiet_until:
            return
        time.sleep(0.01)
        now = time.monotonic()


def run(ctx) -> None:
    # FFmpeg's log level is read once, when OpenCV first uses FFmpeg: quiet (-8) for this process, or trying 'avc1'
    # on a wheel without an H.264 encoder prints its errors (see open_writer)
    quiet_ffmpeg()
    import cv2

    rings = {FILE_NAME: FrameRing.attach(ctx.link.shm["video"])}
    if "camera" in ctx.link.shm:
        rings[CAMERA_FILE] = FrameRing.attach(ctx.link.shm["camera"])
    ring = rings[FILE_NAME]
    writers: dict[str, cv2.VideoWriter] = {}
    videos: dict[str, ClockedVideo] = {}
    fourcc = None
    fps = float(ctx.settings.fps)
    try:
        while ring.fps <= 0 and not ctx.stopped.is_set():  # vision sets it once its camera is open
            ctx.stopped.wait(0.02)
        if ctx.stopped.is_set():
            return
        fps = video_fps(ring, ctx.settings)
        for name, r in rings.items():
            writer, fourcc = open_writer(cv2, ctx.session_dir / name, fps, r.width, r.height)
            if writer is None:
                raise ChildFailure(f"cannot write {name}: this OpenCV has no mp4 encoder ({'/'.join(FOURCCS)}); "
                                   "play without --record-video")
            writers[name] = writer
            videos[name] = ClockedVideo(writer, fps, r.shape)
        pairs = [(videos[name], rings[name]) for name in videos]
        ctx.ready()
        if ctx.wait_go() is None:
            return
        idle = min(0.01, 0.5 / fps)
        while not ctx.stopped.is_set():
            if not pump_all(pairs):
                ctx.stopped.wait(idle)
        drain_after_stop(pairs)
    finally:
        for writer in writers.values():
            writer.release()   # writes the mp4 index: first, before anything else can fail
        video = videos.get(FILE_NAME)
        stats = video.stats() if video is not None else {"frames_written": 0}
        stats.update({"file": FILE_NAME if FILE_NAME in writers else None, "fourcc": fourcc, "fps": fps,
                      "width": ring.width, "height": ring.height, "ring_slots": ring.slots,
                      "frames_lost": ring.lost})
        if CAMERA_FILE in rings:   # camera.mp4's figures, prefixed (the stats stay one flat table)
            camera = videos.get(CAMERA_FILE)
            stats.update({f"camera_{k}": v for k, v in
                          (camera.stats() if camera is not None else {"frames_written": 0}).items()})
            stats.update({"camera_file": CAMERA_FILE if CAMERA_FILE in writers else None,
                          "camera_frames_lost": rings[CAMERA_FILE].lost})
        ctx.write_stats(stats)
        for r in rings.values():
            r.close()
