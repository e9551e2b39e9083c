"""The game window: shows the picture vision/scene.py draws (mirrored camera, hands, note lane, score) and reads keys.

OpenCV's highgui (Qt in our wheel) is imported only here and only when a window is really opened, so a headless
session never touches a display. The window lives in the vision process because that is where the pictures are.
"""
from __future__ import annotations

import os
from collections import deque

from vision.display import display_problem

TITLE = "handtone"
QUIT_KEYS = (ord("q"), ord("Q"), 27)
REQUEST_KEYS = {ord("p"): "pause", ord("P"): "pause", ord("c"): "recalibrate", ord("C"): "recalibrate"}


class GameWindow:
    """Shows what the Scene draws and reads the player's keys.

    q/Esc quit (show/count_in/pump return False from then on). p and c are requests the window only records, in
    order, for whoever runs the session to act on: ``take_request()`` -> 'pause' | 'recalibrate' | None.
    ``paused = True`` puts the pause overlay on the picture.
    """

    def __init__(self, settings, song, voice=None, scene=None):
        # With Qt's MIT-SHM backing store, 3 of 9 sessions on Xvfb kept a black window for their whole length (mapped,
        # never painted); without it 2 of 36 still did (cause not found yet; tests/vision/test_play_window.py).
        # Plain X puts of a 640x480 picture at 30 fps cost little.
        os.environ.setdefault("QT_X11_NO_MITSHM", "1")
        import cv2  # only when a window is really wanted
        from vision.scene import Scene
        self.cv2 = cv2
        self.settings = settings
        self.scene = scene if scene is not None else Scene(settings, song, voice)
        self.quit = False
        self.requests: deque[str] = deque(maxlen=8)
        cv2.namedWindow(TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        self.scene.view[:] = 0
        cv2.imshow(TITLE, self.scene.view)
        self.pump()

    @property
    def view(self):
        """The picture last shown (the Scene's buffer, reused every frame)."""
        return self.scene.view

    @property
    def paused(self) -> bool:
        return self.scene.paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self.scene.paused = bool(value)

    def show(self, frame, detection, t: float, fps: float, latency_ms: float | None = None) -> bool:
        """Draw and show one frame; returns False once the player asked to quit."""
        return self.present(self.scene.render(frame, detection, t, fps, latency_ms))

    def count_in(self, frame, seconds_left: float | None) -> bool:
        """Before t0: the mirrored first picture with the count-in on it; False once the player asked to quit."""
        return self.present(self.scene.count_in(frame, seconds_left))

    def present(self, picture) -> bool:
        """Show a picture already drawn (Scene.render's, when it is also recorded); False once quit was asked."""
        self.cv2.imshow(TITLE, picture)
        return self.pump()

    def pump(self) -> bool:
        """Let the window breathe and read keys. Returns False once quit was asked."""
        key = self.cv2.waitKey(1)
        if key != -1:
            key &= 0xFF
            if key in QUIT_KEYS:
                self.quit = True
            elif key in REQUEST_KEYS:
                self.requests.append(REQUEST_KEYS[key])
        return not self.quit

    def take_request(self) -> str | None:
        """The oldest key request not yet taken ('pause' or 'recalibrate'), or None."""
        return self.requests.popleft() if self.requests else None

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(TITLE)
            for _ in range(3):
                self.cv2.waitKey(1)
        except self.cv2.error:
            pass


def open_window(settings, song, voice=None, notice=None, scene=None) -> GameWindow | None:
    """The window if settings.window and a display exist; otherwise None (headless), with a notice why.

    ``scene``: a Scene to show (one shared with the session video), else the window makes its own."""
    if not settings.window:
        return None
    problem = display_problem()
    if problem:
        if notice:
            notice(f"{problem}: running without a window")
        return None
    try:
        return GameWindow(settings, song, voice, scene)
    except Exception as e:  # noqa: BLE001 - a broken display must not stop the game
        if notice:
            notice(f"cannot open the window ({type(e).__name__}: {e}): running without a window")
        return None
