"""The game window: the mirrored camera picture, the hand's box, what is played, what should be, score, fps.

OpenCV's highgui (Qt in our wheel) is imported only here and only when a window is really opened, so a headless
session never touches a display. The window lives in the vision process because that is where the pictures are.
"""
from __future__ import annotations

import os
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

from game.song import note_name

TITLE = "handtone"
BOX_BGR = (0, 255, 0)          # pure green, 3 px: easy to see and to find in a screenshot
BOX_PX = 3
AUDIBLE = 0.05                 # voice amplitude above which we call the voice "playing"


def display_available() -> bool:
    """On Linux a window needs X11 or Wayland; other systems always have a desktop."""
    if sys.platform.startswith("linux"):
        if os.environ.get("WAYLAND_DISPLAY"):
            return True
        display = os.environ.get("DISPLAY", "")
        local = re.fullmatch(r":(\d+)(\.\d+)?", display)
        if local:  # Qt aborts the process on a dead display: check the local X socket first
            return Path(f"/tmp/.X11-unix/X{local.group(1)}").exists()
        return bool(display)
    return True


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: 'schö-' -> 'scho-'."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


class ScoreEstimate:
    """Running score shown to the player: share of target-note time so far with the voice within tolerance."""

    def __init__(self, tolerance: float):
        self.tolerance = tolerance
        self.target_s = 0.0
        self.hit_s = 0.0

    def update(self, dt: float, target_midi: float | None, voice_midi: float, amplitude: float) -> None:
        if target_midi is None or dt <= 0 or dt > 0.5:
            return
        self.target_s += dt
        if amplitude > AUDIBLE and abs(voice_midi - target_midi) <= self.tolerance:
            self.hit_s += dt

    @property
    def score(self) -> int:
        return int(round(10000 * self.hit_s / self.target_s)) if self.target_s > 0 else 0


class GameWindow:
    def __init__(self, settings, song, voice=None):
        # Qt's MIT-SHM backing store sometimes never reaches the screen: on Xvfb 2 of 5 sessions kept a black window
        # for their whole length, 0 of 6 without it. Plain X puts of a 640x480 picture at 30 fps cost little.
        os.environ.setdefault("QT_X11_NO_MITSHM", "1")
        import cv2  # only when a window is really wanted
        self.cv2 = cv2
        self.settings = settings
        self.song = song
        self.voice = voice
        self.voice_buf = np.zeros(4, np.float64)
        self.view = np.empty((settings.height, settings.width, 3), np.uint8)
        self.score = ScoreEstimate(settings.tolerance)
        self._last_t = None
        self.quit = False
        cv2.namedWindow(TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        self.view[:] = 0
        cv2.imshow(TITLE, self.view)
        self.pump()

    def voice_state(self) -> tuple[float, float]:
        """(midi, amplitude) the synth is sounding now; (0, 0) before the synth has written anything."""
        if self.voice is None or not self.voice.read_into(self.voice_buf):
            return 0.0, 0.0
        return float(self.voice_buf[1]), float(self.voice_buf[2])

    def show(self, frame, detection, t: float, fps: float) -> bool:
        """Draw one frame; returns False once the player asked to quit."""
        cv2 = self.cv2
        w = self.settings.width
        cv2.flip(frame, 1, dst=self.view)
        for i, hand in enumerate(detection.hands if detection is not None else ()):
            x, y, bw, bh = hand.box
            x = w - x - bw  # mirrored
            colour = BOX_BGR if i == 0 else (255, 160, 0)
            cv2.rectangle(self.view, (x, y), (x + bw - 1, y + bh - 1), colour, BOX_PX)
        midi, amp = self.voice_state()
        target = self.song.note_at(t)
        target_midi = None if target is None or target.kind == "freestyle" else target.midi + self.settings.transpose
        if self._last_t is not None:
            self.score.update(t - self._last_t, target_midi, midi, amp)
        self._last_t = t
        lines = [
            f"playing {note_name(midi) if amp > AUDIBLE else '-'}",
            f"target  {note_name(target_midi) if target_midi is not None else '-'}"
            + (f"  {ascii_text(target.lyric)}" if target is not None and target.lyric else ""),
            f"score   {self.score.score}",
            f"{fps:4.1f} fps",
        ]
        for i, text in enumerate(lines):
            org = (10, 26 + 24 * i)
            cv2.putText(self.view, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.65, (0, 0, 0), 4, cv2.LINE_AA)
            cv2.putText(self.view, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.65, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.imshow(TITLE, self.view)
        return self.pump()

    def pump(self) -> bool:
        """Let the window breathe and read keys: q or Esc quits. Returns False once quit was asked."""
        key = self.cv2.waitKey(1)
        if key != -1 and (key & 0xFF) in (ord("q"), ord("Q"), 27):
            self.quit = True
        return not self.quit

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(TITLE)
            for _ in range(3):
                self.cv2.waitKey(1)
        except self.cv2.error:
            pass


def open_window(settings, song, voice=None, notice=None) -> GameWindow | None:
    """The window if settings.window and a display exist; otherwise None (headless), with a notice why."""
    if not settings.window:
        return None
    if not display_available():
        if notice:
            notice("no display (DISPLAY/WAYLAND_DISPLAY unset): running without a window")
        return None
    try:
        return GameWindow(settings, song, voice)
    except Exception as e:  # noqa: BLE001 - a broken display must not stop the game
        if notice:
            notice(f"cannot open the window ({type(e).__name__}: {e}): running without a window")
        return None
