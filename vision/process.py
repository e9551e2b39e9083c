"""The vision child: frames in, HandState out (shared memory), plus frames.csv, the window and stats-vision.json.

Timing: paced sources (a video file, the demo clip) put frame i at t0 + i/fps on the session clock; we wait for it,
and when we are late we skip frames (counted as dropped) rather than fall behind the music. Live sources (webcam,
stream) always hand us their newest frame. Each frame is published the moment detection is done; the window is
drawn after that, so drawing never delays what the synth hears.
"""
from __future__ import annotations

import time

import numpy as np

from game.child import ChildFailure
from game.framering import FrameRing
from game.handstate import HAND_FIELDS, attach_hand, attach_voice
from game.logfiles import FRAME_COLUMNS
from game.sessionlog import CsvLog

FLUSH_EVERY = 0.5   # seconds between frames.csv flushes


def run(ctx) -> None:
    from vision.detector import DetectorUnavailable, make_detector
    from vision.sources import open_source
    from vision.videofeed import video_feed
    from vision.window import open_window

    s = ctx.settings
    hand_rec = attach_hand(ctx.link.shm["hand"])
    voice_rec = attach_voice(ctx.link.shm["voice"])
    ring = FrameRing.attach(ctx.link.shm["video"]) if "video" in ctx.link.shm else None  # --record-video
    source = window = log = detector = None
    loop = None
    try:
        source = open_source(s.camera, s, stop=ctx.stopped, notice=ctx.notice)
        try:
            detector = make_detector(s, ctx.notice)
        except DetectorUnavailable as e:
            raise ChildFailure(str(e)) from None
        song = ctx.song()
        ok, first, _t = source.read()
        if not ok and ctx.stopped.is_set():
            return  # stopped while waiting for the first picture: just the stats (finally)
        if not ok:
            raise ChildFailure(f"{source.describe()} gave no picture: check it, or try --camera demo")
        detector.detect(first)  # warm up (first call allocates) and learn the background from the first picture
        window = open_window(s, song, voice_rec, ctx.notice)
        log = CsvLog(ctx.session_dir / "frames.csv", FRAME_COLUMNS)
        loop = VisionLoop(ctx, source, detector, hand_rec, log, window, first)
        if ring is not None:
            ring.prefault()
            ring.set_fps(source.fps)   # the video writer waits for it: the video runs at the camera's rate
            loop.video = video_feed(ring, window, s, song, voice_rec)
        ctx.ready()
        t0 = None
        while not ctx.stopped.is_set():
            t0 = ctx.wait_go(timeout=0.03)
            if t0 is not None:
                break
            if window is not None and not window.count_in(first, None):  # the first picture, "starting..."
                ctx.end_session("player quit (q)")
                break
        if t0 is not None:
            loop.run(t0)
    finally:
        stats = loop.stats() if loop is not None else {"frames": 0}
        stats.update({"source": source.describe() if source is not None else s.camera,
                      "detector": getattr(detector, "name", s.detector) if detector is not None else s.detector,
                      "window": window is not None})
        if loop is not None and loop.video is not None:
            stats.update(loop.video.stats())
        if log is not None:
            log.close()
        ctx.write_stats(stats)  # before closing the source: a stalled stream's close() may wait (launcher SIGTERMs)
        if window is not None:
            window.close()
        if source is not None:
            source.close()
        hand_rec.close()
        voice_rec.close()
        if ring is not None:
            ring.close()


class VisionLoop:
    def __init__(self, ctx, source, detector, hand_rec, log, window, first):
        self.ctx, self.source, self.detector = ctx, source, detector
        self.hand_rec, self.log, self.window = hand_rec, log, window
        self.first = first
        self.values = np.zeros(len(HAND_FIELDS), np.float64)
        self.rows: list = []
        self.capture_ms: list = []
        self.detect_ms: list = []
        self.total_ms: list = []
        self.frames = 0
        self.dropped = 0
        self.t_first = self.t_last = None
        self.shown_fps = 0.0
        self.detection = None
        self.t0 = None
        self.video = None   # a VideoFeed with --record-video

    # ---- the loop ---------------------------------------------------------------------------------------------
    def run(self, t0: float) -> None:
        ctx, src = self.ctx, self.source
        self.t0 = t0
        fps = src.fps
        index = 0
        pending = self.first if src.is_file else None   # a paced source's frame 0, read before ready
        last_flush = time.monotonic()
        while not ctx.stopped.is_set():
            if src.is_file:
                due = t0 + index / fps
                if not self.wait_until(due):
                    break
                behind = int((time.monotonic() - due) * fps)  # whole frames we are late by
                if behind >= 1:  # frames index .. index+behind-1 are stale: drop them, show the one due now
                    if pending is not None:  # frame 0 was decoded before ready; dropping it costs nothing
                        pending, behind = None, behind - 1
                        index += 1
                        self.dropped += 1
                    skipped = src.skip(behind)
                    index += skipped
                    self.dropped += skipped
                    due = t0 + index / fps
                if pending is not None:
                    frame, pending = pending, None
                else:
                    ok, frame, _ = src.read()
                    if not ok:
                        ctx.end_session("video ended")
                        break
                t_capture = due
            else:
                ok, frame, t_capture = src.read()
                if not ok:
                    if ctx.stopped.is_set():
                        break
                    if src.lost:   # a stream reconnecting (sources.py): no hand meanwhile, keys still work
                        self.hand_gone(t0)
                        if self.window is not None and not self.window.pump():
                            ctx.end_session("player quit (q)")
                            break
                        continue
                    ctx.end_session(f"{src.describe()} stopped sending pictures")
                    break
            t_in = time.monotonic()
            self.process(index, frame, t_capture, t_in, t0)
            index += 1
            if t_in - last_flush >= FLUSH_EVERY:
                self.flush()
                last_flush = t_in
            shown = self.window is None or self.window.show(frame, self.detection, t_in - t0, self.shown_fps,
                                                            self.total_ms[-1])
            if self.video is not None:   # the hand state is out: now the picture the window shows, or one drawn
                picture = (self.window.view if self.window is not None else
                           self.video.draw(frame, self.detection, t_capture - t0, self.shown_fps, self.total_ms[-1]))
                self.video.put(picture, t_capture - t0)
            if not shown:
                ctx.end_session("player quit (q)")
                break
        self.flush()
        if not src.is_file:
            self.dropped = src.missed

    def wait_until(self, due: float) -> bool:
        """Sleep until ``due`` (keeping the window alive, with the count-in on the first picture before t0);
        False when the session stopped or the player quit."""
        while True:
            now = time.monotonic()
            wait = due - now
            if wait <= 0:
                return True
            if self.window is not None and wait > 0.05:
                if self.ctx.stopped.wait(0.03):
                    return False
                now = time.monotonic()
                if self.t0 is not None and now < self.t0:
                    alive = self.window.count_in(self.first, self.t0 - now)
                else:
                    alive = self.window.pump()
                if not alive:
                    self.ctx.end_session("player quit (q)")
                    return False
            elif self.ctx.stopped.wait(wait):
                return False

    def hand_gone(self, t0: float) -> None:
        """The camera lost its picture: publish "no hand" once (the synth releases the note) with the last frame's
        index and capture time, so nothing counts it as a new frame."""
        v = self.values
        if v[2] or v[7]:
            v[2:9] = 0.0
            v[9] = time.monotonic() - t0
            self.hand_rec.write(v)

    def process(self, index: int, frame, t_capture: float, t_in: float, t0: float) -> None:
        det = self.detector.detect(frame)
        t_det = time.monotonic()
        v = self.values
        v[0] = index
        v[1] = t_capture - t0
        h, h2 = det.hand, det.second
        if h is not None:
            v[2], v[3], v[4], v[5], v[6] = 1.0, h.area, h.cx, h.cy, h.confidence
        else:
            v[2:7] = 0.0
        if h2 is not None:
            v[7], v[8] = 1.0, h2.cy
        else:
            v[7] = v[8] = 0.0
        t_pub = time.monotonic()
        v[9] = t_pub - t0
        self.hand_rec.write(v)
        self.detection = det
        capture_ms = (t_in - t_capture) * 1000.0
        detect_ms = (t_det - t_in) * 1000.0
        total_ms = (t_pub - t_capture) * 1000.0
        self.capture_ms.append(capture_ms)
        self.detect_ms.append(detect_ms)
        self.total_ms.append(total_ms)
        self.rows.append((index, v[1], capture_ms, detect_ms, total_ms, int(v[2]), v[3], v[4], v[5]))
        self.frames += 1
        if self.t_last is not None:
            dt = t_capture - self.t_last
            if dt > 0:
                self.shown_fps = 1.0 / dt if self.shown_fps == 0 else 0.9 * self.shown_fps + 0.1 / dt
        if self.t_first is None:
            self.t_first = t_capture
        self.t_last = t_capture

    def flush(self) -> None:
        if self.rows:
            self.log.write_many(self.rows)
            self.rows = []

    def stats(self) -> dict:
        from game.figures import percentile as pct
        span = (self.t_last - self.t_first) if self.frames > 1 else 0.0
        return {
            "frames": self.frames,
            "fps": round((self.frames - 1) / span, 2) if span > 0 else None,
            "source_fps": self.source.fps,
            "capture_ms_p50": pct(self.capture_ms, 50), "capture_ms_p95": pct(self.capture_ms, 95),
            "detect_ms_p50": pct(self.detect_ms, 50), "detect_ms_p95": pct(self.detect_ms, 95),
            "total_ms_p50": pct(self.total_ms, 50), "total_ms_p95": pct(self.total_ms, 95),
            "dropped_frames": self.dropped,
            **self.source.health(self.t0),   # a stream's reconnects and outages
        }
