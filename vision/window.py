"""The game window: the mirrored camera picture, the hand's box, what is played, what should be, score, fps.

OpenCV's highgui (Qt in our wheel) is imported only here and only when a window is really opened, so a headless
session never touches a display. The window lives in the vision process because that is where the pictures are.
"""
from __future__ import annotations

import math
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
FONT_SCALE = 0.65
LINE_PX = 24
PANEL_KEEP = 0.3               # share of the picture left under the text panel: dark enough for white text
NEXT_WITHIN = 0.3              # a gap this short before the next note still shows that note as the target


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


def shown_target(song, t: float):
    """The note to show as target at time t: the sounding one, or in a short gap the next one (no '-' flicker)."""
    note = song.note_at(t)
    if note is None:
        nxt = song.next_note(t)
        if nxt is not None and nxt.start - t < NEXT_WITHIN:
            return nxt
    return note


def count_in_text(seconds_left: float | None) -> str:
    """What the count-in overlay says: 'starting...' before go, then whole seconds until the song starts."""
    if seconds_left is None:
        return "starting..."
    return f"get ready: {max(1, math.ceil(seconds_left - 1e-6))}"


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
        # With Qt's MIT-SHM backing store, 3 of 9 sessions on Xvfb kept a black window for their whole length (mapped,
        # never painted); without it 2 of 36 still did (cause not found yet; tests/vision/test_play_window.py).
        # Plain X puts of a 640x480 picture at 30 fps cost little.
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
        shown = shown_target(self.song, t)
        shown_midi = None if shown is None or shown.kind == "freestyle" else shown.midi + self.settings.transpose
        lines = [
            f"playing {note_name(midi) if amp > AUDIBLE else '-'}",
            f"target  {note_name(shown_midi) if shown_midi is not None else '-'}"
            + (f"  {ascii_text(shown.lyric)}" if shown is not None and shown.lyric else ""),
            f"score   {self.score.score}",
            f"{fps:4.1f} fps",
        ]
        self.draw_lines(lines)
        if t < 0:  # a live camera's pictures before t0: still the count-in
            self.draw_count_in(-t)
        cv2.imshow(TITLE, self.view)
        return self.pump()

    def draw_lines(self, lines) -> None:
        """White text in one pass on a dark translucent panel: crisp whatever the picture behind it.

        (An outline drawn thicker under the text does not line up: in OpenCV 5 thickness changes glyph advance.)"""
        cv2 = self.cv2
        widths = [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)[0][0] for text in lines]
        x1 = min(self.settings.width, 10 + max(widths) + 10)
        y1 = min(self.settings.height, 26 + LINE_PX * (len(lines) - 1) + 10)
        self.darken(0, 0, x1, y1)
        for i, text in enumerate(lines):
            cv2.putText(self.view, text, (10, 26 + LINE_PX * i), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE,
                        (255, 255, 255), 1, cv2.LINE_AA)

    def darken(self, x0: int, y0: int, x1: int, y1: int) -> None:
        part = self.view[y0:y1, x0:x1]
        self.cv2.convertScaleAbs(part, dst=part, alpha=PANEL_KEEP)

    def draw_count_in(self, seconds_left: float | None) -> None:
        """A centred panel saying 'starting...' (before go) or 'get ready: N' (whole seconds until t0)."""
        cv2 = self.cv2
        text = count_in_text(seconds_left)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.2, 2)
        w, h = self.settings.width, self.settings.height
        x, y = (w - tw) // 2, (h + th) // 2
        self.darken(max(0, x - 20), max(0, y - th - 20), min(w, x + tw + 20), min(h, y + base + 20))
        cv2.putText(self.view, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2, cv2.LINE_AA)

    def count_in(self, frame, seconds_left: float | None) -> bool:
        """Before t0: the mirrored first picture with the count-in on it; False once the player asked to quit."""
        self.cv2.flip(frame, 1, dst=self.view)
        self.draw_count_in(seconds_left)
        self.cv2.imshow(TITLE, self.view)
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
