"""The vision child: frames in, HandState out (shared memory), plus frames.csv, the window and stats-vision.json.

Timing: paced sources (a video file, the demo clip) put frame i at t0 + i/fps on the session clock; we wait for it,
and when we are late we skip frames (counted as dropped) rather than fall behind the music. Live sources (webcam,
stream) always hand us their newest frame. Each frame is published the moment detection is done; the window is
drawn after that, so drawing never delays what the synth hears.

Pauses (game/pause.py): p in the window is sent to the launcher, which alone pauses the song. A paced source follows
song time (frame i is due when the song reaches i/fps), so it stops while the song is held and the demo hand stays
with the music; meanwhile its last picture is shown again at its frame rate with the pause overlay (and recorded,
with --record-video). A live camera keeps sending: the hand state stays live, the lane stands still. The window and
the lane get song time; frames.csv stays on the session clock.
"""
from __future__ import annotations

import time

import numpy as np

from game.child import ChildFailure
from game.framering import FrameRing
from game.handstate import HAND_FIELDS, attach_hand, attach_voice
from game.logfiles import FRAME_COLUMNS
from game.pause import PAUSED, PLAYING, RESUMING, SongClock
from game.sessionlog import CsvLog

FLUSH_EVERY = 0.5   # seconds between frames.csv flushes
POLL_S = 0.05       # a paced source waiting headless looks at the pause record this often


def run(ctx) -> None:
    from vision.detector import DetectorUnavailable, make_detector
    from vision.sources import open_source
    from vision.videofeed import video_feed
    from vision.window import open_window

    s = ctx.settings
    hand_rec = attach_hand(ctx.link.shm["hand"])
    voice_rec = attach_voice(ctx.link.shm["voice"])
    ring = FrameRing.attach(ctx.link.shm["video"]) if "video" in ctx.link.shm else None  # --record-video
    camera_ring = FrameRing.attach(ctx.link.shm["camera"]) if "camera" in ctx.link.shm else None
    clock = SongClock.attach(ctx.link.shm, s)
    source = window = log = detector = None
    loop = None
    try:
        source = open_source(s.camera, s, stop=ctx.stopped, notice=ctx.notice)
        try:
            detector = make_detector(s, ctx.notice, live=True, info=ctx.info)
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
        if s.window and window is None:
            ctx.headless()
        log = CsvLog(ctx.session_dir / "frames.csv", FRAME_COLUMNS)
        loop = VisionLoop(ctx, source, detector, hand_rec, log, window, first, clock)
        if ring is not None:
            for r in (ring, camera_ring):
                if r is not None:
                    r.prefault()
                    r.set_fps(source.fps)   # the video writer waits for it: the video runs at the camera's rate
            loop.video = video_feed(ring, window, s, song, voice_rec, camera_ring)
        ctx.ready()
        t0 = None
        while not ctx.stopped.is_set():
            t0 = ctx.wait_go(timeout=0.03)
            if t0 is not None:
                break
            if window is not None and not window.count_in(first, None):  # the first picture, "starting..."
                ctx.end_session("player quit (q)")
                break
            if window is not None:
                loop.forward_requests()
        if t0 is not None:
            loop.run(t0)
    finally:
        stats = loop.stats() if loop is not None else {"frames": 0}
        stats.update({"source": source.describe() if source is not None else s.camera,
                      "detector": getattr(detector, "name", s.detector) if detector is not None else s.detector,
                      "window": window is not None})
        if getattr(detector, "name", None) == "landmarks":
            stats["landmark_threads"] = detector.threads
        if loop is not None and loop.video is not None:
            stats.update(loop.video.stats())
        if log is not None:
            log.close()
        ctx.write_stats(stats)  # before closing the source: a stalled stream's close() may wait (launcher SIGTERMs)
        if window is not None:
            window.close()
        if source is not None:
            source.close()
        if hasattr(detector, "close"):
            detector.close()
        hand_rec.close()
        voice_rec.close()
        clock.close()
        for r in (ring, camera_ring):
            if r is not None:
                r.close()


class VisionLoop:
    def __init__(self, ctx, source, detector, hand_rec, log, window, first, clock=None):
        self.ctx, self.source, self.detector = ctx, source, detector
        self.hand_rec, self.log, self.window = hand_rec, log, window
        self.first = first
        self.clock = clock if clock is not None else SongClock(None, 0.0)   # game/pause.py: song time, pauses
        self.last_frame = None      # the picture shown again while a paced source is held by a pause
        self.held_s = 0.0           # time a paced source spent held (left out of its frame rate)
        self.values = np.zeros(len(HAND_FIELDS), np.float64)
        hand_rec.bind(self.values, writes=True)   # every frame's state goes out through this array
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
        self.recal = None   # a CalibrationRun while the player recalibrates (c)
        self.recal_paused = False   # we paused the song for it, and play on when it is done

    # ---- the loop ---------------------------------------------------------------------------------------------
    def run(self, t0: float) -> None:
        ctx, src = self.ctx, self.source
        self.t0 = t0
        fps = src.fps
        index = 0
        # a paced source's next frame, decoded ahead while the loop waits for it to be due (frame 0 before ready),
        # as a camera hands over a frame already in memory at its capture time: decoding after it was due added
        # ~0.4 ms (MJPG 640x480) to every frame's capture-to-hand-state time
        pending = self.first if src.is_file else None
        ended = False        # the read-ahead found the end of the file: the session ends when the next frame was due
        last_flush = time.monotonic()
        while not ctx.stopped.is_set():
            if src.is_file:   # frame i belongs to song time i / fps: due when the song gets there
                if not self.wait_until(lambda: t0 + self.clock.session_time(index / fps)):
                    break
                if ended:
                    ctx.end_session("video ended")
                    break
                # whole frames we are late by, in song time (a pause since the last frame is not lateness)
                behind = int((self.clock.song_time(time.monotonic() - t0) - index / fps) * fps)
                if behind >= 1:  # frames index .. index+behind-1 are stale: drop them, show the one due now
                    if pending is not None:  # the frame decoded ahead is the first stale one: dropped unseen
                        pending, behind = None, behind - 1
                        index += 1
                        self.dropped += 1
                    skipped = src.skip(behind)
                    index += skipped
                    self.dropped += skipped
                due = t0 + self.clock.session_time(index / fps)
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
                        if self.window is not None:
                            alive = self.window.pump()
                            self.forward_requests()
                            if not alive:
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
            self.last_frame = frame
            if not self.draw(frame, t_in - t0, t_capture - t0):
                ctx.end_session("player quit (q)")
                break
            if src.is_file:   # FrameFitter's two buffers: this frame stays valid while the next is decoded
                ok, pending, _ = src.read()
                ended = not ok
        self.flush()
        if not src.is_file:
            self.dropped = src.missed

    def draw(self, frame, t: float, t_picture: float) -> bool:
        """Show (and record) the picture of this frame: the lane at song time, the pause overlay when the song is
        held. t: session time now; t_picture: the frame's session time. False once the player quit."""
        self.sync_pause(t)
        clock = self.clock
        latency = self.total_ms[-1] if self.total_ms else None
        shown = True
        if self.recal is not None:   # recalibrating: the box, the prompt and the countdown instead of the game
            picture = self.recal.draw(frame)
            if self.window is not None:
                shown = self.window.present(picture)
                self.forward_requests()
            if self.video is not None:
                self.video.put(picture, t_picture, frame)
            return shown
        if self.window is not None:
            shown = self.window.show(frame, self.detection, clock.song_time(t), self.shown_fps, latency)
            self.forward_requests()
        if self.video is not None:   # the hand state is out: now the picture the window shows, or one drawn
            picture = (self.window.view if self.window is not None else
                       self.video.draw(frame, self.detection, clock.song_time(t_picture), self.shown_fps, latency))
            self.video.put(picture, t_picture, frame)
        return shown

    def sync_pause(self, t: float) -> None:
        """Put the song's state at session time t on the pictures: paused, or the count-in before it plays on."""
        self.clock.refresh()
        state = self.clock.state(t)
        for scene in (getattr(self.window, "scene", None), getattr(self.video, "scene", None)):
            if scene is not None:
                scene.paused = state == PAUSED
                scene.resume_in = self.clock.resume_in(t) if state == RESUMING else None

    def forward_requests(self) -> None:
        """Keys the window recorded: p asks the launcher to pause or play on (it alone writes the pause record)."""
        while (request := self.window.take_request()) is not None:
            if request == "pause":
                self.ctx.toggle_pause("p key")
            elif request == "recalibrate":
                self.start_recalibration()

    # ---- c: recalibrate during the session ----------------------------------------------------------------
    def start_recalibration(self) -> None:
        """The classic detector relearns the player's skin colours from the box (4 s; the song pauses meanwhile with
        a live camera); the landmarks detector has no colours to learn: its tracking restarts."""
        det, ctx = self.detector, self.ctx
        if self.recal is not None:
            return
        if not hasattr(det, "use_calibration"):
            det.reset()
            ctx.notice("c: the landmarks detector needs no colour calibration; hand tracking restarted "
                       "(your pitch range: python main.py calibrate)")
            return
        from vision.calibrate import IN_SESSION, CalibrationRun
        s = ctx.settings
        self.recal = CalibrationRun(s.width, s.height, s.player, source="in session", phases=IN_SESSION[:1],
                                    room_frames=[det.background_picture()])
        playing = self.t0 is not None and self.clock.state(time.monotonic() - self.t0) == PLAYING
        # a video file or the demo clip is held by a pause (no new pictures to learn from): it plays on
        self.recal_paused = playing and not self.source.is_file
        if self.recal_paused:
            ctx.toggle_pause("recalibrating (c)")
        ctx.notice("recalibrating: hold your open hand in the box, palm to the camera")

    def feed_recalibration(self, frame, t: float) -> None:
        run = self.recal
        try:
            if not run.feed(frame, t):
                return
        except Exception as e:  # noqa: BLE001 - a failed recalibration must not end the session
            run.error = f"{type(e).__name__}: {e}"
        self.recal = None
        if run.error:
            self.ctx.notice(f"recalibration failed ({run.error}): the colours stay as they were")
        else:
            from vision import calibration
            cal = run.result
            old = calibration.load(self.ctx.settings)
            if old is not None:   # the box gives colours only: keep the sizes measured by `calibrate`
                cal.area_near, cal.area_far = old.area_near, old.area_far
                cal.landmarks_near, cal.landmarks_far = old.landmarks_near, old.landmarks_far
            self.detector.use_calibration(cal)
            try:
                where = f", saved in {calibration.save(cal, self.ctx.settings)}"
            except OSError as e:
                where = f" (not saved: {e})"
            self.ctx.notice(f"recalibrated: {cal.summary()}{where}")
        if self.recal_paused:
            self.recal_paused = False
            self.ctx.toggle_pause("recalibrated (c)")

    def wait_until(self, due_at) -> bool:
        """Sleep until ``due_at()`` (monotonic; inf while a pause holds the song before it), keeping the window
        alive: the count-in on the first picture before t0; while the song is held, the last picture again at the
        source's rate with the pause overlay. False when the session stopped or the player quit."""
        while True:
            self.clock.refresh()
            now = time.monotonic()
            wait = due_at() - now
            if wait <= 0:
                return True
            if (self.t0 is not None and self.last_frame is not None
                    and self.clock.state(now - self.t0) != PLAYING):
                if self.ctx.stopped.wait(min(wait, 1.0 / self.source.fps)):
                    return False
                t = time.monotonic()
                self.held_s += t - now
                if not self.draw(self.last_frame, t - self.t0, t - self.t0):
                    self.ctx.end_session("player quit (q)")
                    return False
                continue
            if self.window is not None and wait > 0.05:
                if self.ctx.stopped.wait(0.03):
                    return False
                now = time.monotonic()
                if self.t0 is not None and now < self.t0:
                    alive = self.window.count_in(self.first, self.t0 - now)
                else:
                    alive = self.window.pump()
                self.forward_requests()
                if not alive:
                    self.ctx.end_session("player quit (q)")
                    return False
            elif self.ctx.stopped.wait(min(wait, POLL_S)):
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
        if self.recal is not None:
            self.feed_recalibration(frame, t_in)
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
        span = (self.t_last - self.t_first - self.held_s) if self.frames > 1 else 0.0
        return {
            "frames": self.frames,
            "fps": round((self.frames - 1) / span, 2) if span > 0 else None,
            "source_fps": self.source.fps,
            "capture_ms_p50": pct(self.capture_ms, 50), "capture_ms_p95": pct(self.capture_ms, 95),
            "detect_ms_p50": pct(self.detect_ms, 50), "detect_ms_p95": pct(self.detect_ms, 95),
            "total_ms_p50": pct(self.total_ms, 50), "total_ms_p95": pct(self.total_ms, 95),
            "dropped_frames": self.dropped,
            **{k: getattr(self.detector, k) for k in ("palm_runs", "landmark_runs") if hasattr(self.detector, k)},
            **self.source.health(self.t0),   # a stream's reconnects and outages
        }
