"""Vision's side of --record-video: each frame's annotated picture into the shared-memory frame ring, and the camera's
own picture into a second ring (camera.mp4, what the detector saw).

Why here and this way: the picture is drawn in the vision process anyway (the window); copying it into the ring
costs a memcpy (well under a millisecond at 640x480), and the put never waits for the video writer. With a window
the video gets the picture the window shows; headless, the game's Scene draws the same picture (vision/scene.py),
or, without it, the mirrored camera frame with the hands' boxes. The time each put and each headless drawing costs
is kept for stats-vision.json.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from game.figures import percentile as pct

PITCH_BOX_BGR = (0, 255, 0)      # the window's colours: pitch hand green, volume hand orange
VOLUME_BOX_BGR = (255, 160, 0)
BOX_PX = 3


def headless_renderer(settings, song, voice_rec):
    """``Scene(...).render`` when vision/scene.py is there, else None (VideoFeed draws the boxes itself)."""
    try:
        from vision.scene import Scene
    except ModuleNotFoundError as e:
        if e.name != "vision.scene":
            raise
        return None
    return Scene(settings, song, voice_rec).render


def video_feed(ring, window, settings, song, voice_rec, camera_ring=None) -> "VideoFeed":
    """The feed for this session: the window's picture when there is a window, else one drawn for the video."""
    if window is not None:
        return VideoFeed(ring, kind="window", camera_ring=camera_ring)
    render = headless_renderer(settings, song, voice_rec)
    return VideoFeed(ring, render, "scene" if render is not None else "boxes", camera_ring)


class VideoFeed:
    def __init__(self, ring, render=None, kind: str = "boxes", camera_ring=None):
        """render: ``Scene.render``-like (frame, detection, t, fps, latency_ms) -> picture, for headless sessions;
        kind: what the video shows (window, scene, boxes), for the stats; camera_ring: where the camera's own
        picture goes (camera.mp4: what the detector saw, for `python main.py analyze`)."""
        self.ring = ring
        self.camera_ring = camera_ring
        self.render = render
        self.scene = getattr(render, "__self__", None)   # the headless Scene: vision sets its pause overlay
        self.kind = kind
        self.view = np.zeros(ring.shape, np.uint8)      # the headless picture
        self.fitted = np.zeros(ring.shape, np.uint8)    # a picture of another size, scaled to the ring's
        self.put_ms: list[float] = []
        self.draw_ms: list[float] = []

    def draw(self, frame, detection, t: float, fps: float, latency_ms: float | None = None) -> np.ndarray:
        """The headless picture: the Scene's, or the mirrored frame with the hands' boxes."""
        start = time.perf_counter()
        picture = self.render(frame, detection, t, fps, latency_ms) if self.render else self.boxes(frame, detection)
        self.draw_ms.append((time.perf_counter() - start) * 1000.0)
        return picture

    def boxes(self, frame, detection) -> np.ndarray:
        """The mirrored frame with the hands' boxes (pitch hand green, volume hand orange)."""
        view = self.view
        if frame.shape == view.shape:
            cv2.flip(frame, 1, dst=view)
        else:
            cv2.flip(cv2.resize(frame, (view.shape[1], view.shape[0]), interpolation=cv2.INTER_AREA), 1, dst=view)
        sx, sy = view.shape[1] / frame.shape[1], view.shape[0] / frame.shape[0]
        w = view.shape[1]
        for i, hand in enumerate(detection.hands if detection is not None else ()):
            x, y, bw, bh = (int(round(v * s)) for v, s in zip(hand.box, (sx, sy, sx, sy)))
            x = w - x - bw  # mirrored
            cv2.rectangle(view, (x, y), (x + bw - 1, y + bh - 1), PITCH_BOX_BGR if i == 0 else VOLUME_BOX_BGR,
                          BOX_PX)
        return view

    def put(self, picture: np.ndarray, t: float, camera: np.ndarray | None = None) -> None:
        """Copy ``picture`` (stamped with session time ``t``) into the ring, scaled first if its size differs, and
        the camera's own frame into the camera ring (frames are the session's size: vision/sources.py fits them)."""
        start = time.perf_counter()
        if picture.shape != self.fitted.shape:
            cv2.resize(picture, (self.fitted.shape[1], self.fitted.shape[0]), dst=self.fitted,
                       interpolation=cv2.INTER_AREA)
            picture = self.fitted
        self.ring.put(picture, t)
        if self.camera_ring is not None and camera is not None and camera.shape == self.camera_ring.shape:
            self.camera_ring.put(camera, t)
        self.put_ms.append((time.perf_counter() - start) * 1000.0)

    def stats(self) -> dict:
        return {"video_picture": self.kind, "video_frames_put": len(self.put_ms),
                "video_put_ms_p50": pct(self.put_ms, 50), "video_put_ms_p95": pct(self.put_ms, 95),
                "video_put_ms_max": round(max(self.put_ms), 3) if self.put_ms else None,
                "video_draw_ms_p50": pct(self.draw_ms, 50), "video_draw_ms_p95": pct(self.draw_ms, 95)}
