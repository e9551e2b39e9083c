"""The game window on a real X display (Xvfb): a real screenshot shows the mirrored picture, the green box and the
game's text; keys p and c are recorded as requests, q quits."""
from __future__ import annotations

import os
import subprocess
import time

import cv2
import numpy as np

from game.settings import Settings
from game.song import load, note_name
from standins import require_tool
from vision import scene as sc
from vision import window as win
from vision.classic import ClassicDetector
from vision.detector import Detection
from vision.handdraw import Painter


def grab(display: str) -> np.ndarray:
    from PIL import ImageGrab
    return cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=display)), cv2.COLOR_RGB2BGR)


def find(screen: np.ndarray, picture: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Best match of ``picture`` in ``screen``: (score 0..1, top-left)."""
    res = cv2.matchTemplate(screen, picture, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    return score, loc


def text_picture(text: str, size: int, weight: int) -> np.ndarray:
    """The text as the scene draws it (OpenCV 5's sans font), white on black, alone, with a margin."""
    font = cv2.FontFace("sans")
    _, _, tw, _ = cv2.getTextSize((0, 0), text, (0, 0), font, size, weight)
    img = np.zeros((size + 16, tw + 16), np.uint8)
    cv2.putText(img, text, (8, 8 + size - 4), 255, font, size, weight)
    return img


def text_readable(screen: np.ndarray, text: str, size: int, weight: int) -> float:
    """How well the text matches somewhere on screen (1.0 = exactly as drawn alone)."""
    return find(cv2.cvtColor(screen, cv2.COLOR_BGR2GRAY), text_picture(text, size, weight))[0]


def green_box_found(screen, origin, box, width) -> bool:
    """Every side of the (mirrored) box is drawn in pure green, 3 px."""
    ox, oy = origin
    x, y, w, h = box
    x = width - x - w
    sides = [screen[oy + y:oy + y + 3, ox + x + 5:ox + x + w - 5],            # top
             screen[oy + y + h - 3:oy + y + h, ox + x + 5:ox + x + w - 5],    # bottom
             screen[oy + y + 5:oy + y + h - 5, ox + x:ox + x + 3],            # left
             screen[oy + y + 5:oy + y + h - 5, ox + x + w - 3:ox + x + w]]    # right
    return all(np.all(np.abs(s.astype(int) - (0, 255, 0)).max(axis=-1) <= 2) for s in sides)


def test_window_shows_mirrored_picture_and_box(xvfb, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvfb.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    settings = Settings(camera="demo", window=True)
    painter = Painter(settings.width, settings.height)
    det = ClassicDetector(settings.width, settings.height)
    det.detect(painter.paint(None).copy())
    frame = painter.paint((200.0, 290.0, 90.0)).copy()
    detection = det.detect(frame)
    assert detection.present
    notices = []
    w = win.open_window(settings, load(settings.song), None, notices.append)
    assert w is not None, notices
    try:
        deadline = time.monotonic() + 10
        while True:
            assert w.show(frame, detection, 3.0, 30.0, 1.9)
            screen = grab(xvfb.display)
            # below the lane and the note tag, above the bottom bar, left of the hand: plain wall and the floor's edge,
            # so only the exact place (the picture as drawn, pixel for pixel) matches better than 0.98
            part = (slice(225, 410), slice(0, 300))
            score, (ox, oy) = find(screen, cv2.flip(frame, 1)[part])
            if score > 0.98 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert score > 0.98, f"mirrored picture not on screen (best match {score:.2f})"
        oy -= 225
        unmirrored, _ = find(screen, frame[part])
        assert unmirrored < score - 0.05, "the picture is not mirrored"
        assert green_box_found(screen, (ox, oy), detection.hand.box, settings.width)
        # nothing green where there is no box: the room's top-right corner in the mirrored view is plain wall/shelf
        assert not green_box_found(screen, (ox, oy), (20, 200, 100, 100), settings.width)
        # the text is crisp: each piece matches the same text drawn alone
        song = load(settings.song)
        target = sc.shown_target(song, 3.0)
        for text, size, weight in ((note_name(target.midi + settings.transpose), sc.BIG_PX, 700),
                                   ("0", sc.BIG_PX, 700), ("30 fps · capture→hand 1.9 ms", sc.SMALL_PX, 400)):
            match = text_readable(screen, text, size, weight)
            assert match > 0.85, f"{text!r} is not readable on screen (match {match:.2f})"
    finally:
        w.close()


def test_window_keys_pause_recalibrate_quit(xvfb, monkeypatch):
    """p and c are recorded as requests, in order, for the session to act on; q still quits."""
    xdotool = require_tool("xdotool")
    monkeypatch.setenv("DISPLAY", xvfb.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    env = os.environ | {"DISPLAY": xvfb.display}
    settings = Settings(camera="demo", window=True)
    frame = Painter(settings.width, settings.height).paint(None).copy()
    w = win.open_window(settings, load(settings.song), None)
    assert w is not None
    try:
        for _ in range(5):
            assert w.show(frame, Detection([]), 1.0, 30.0)
        wid = subprocess.run([xdotool, "search", "--name", "^handtone$"], env=env, capture_output=True,
                             text=True, timeout=10).stdout.split()[0]
        subprocess.run([xdotool, "windowfocus", "--sync", wid], env=env, capture_output=True, timeout=10)

        def press(key, until, seconds=5.0):
            subprocess.run([xdotool, "key", "--window", wid, key], env=env, check=True, timeout=10)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                alive = w.show(frame, Detection([]), 1.0, 30.0)
                if until(alive):
                    return True
                time.sleep(0.02)
            return False

        assert press("p", lambda alive: len(w.requests) >= 1), "p was not recorded"
        assert press("c", lambda alive: len(w.requests) >= 2), "c was not recorded"
        assert w.take_request() == "pause" and w.take_request() == "recalibrate" and w.take_request() is None
        w.paused = True
        assert w.scene.paused and w.show(frame, Detection([]), 1.0, 30.0)
        assert press("q", lambda alive: not alive), "q did not quit"
        assert not w.pump() and w.take_request() is None
    finally:
        w.close()


def test_headless_without_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    notices = []
    assert win.open_window(Settings(window=True), load("twinkle"), None, notices.append) is None
    assert notices and "no display" in notices[0]
    assert win.open_window(Settings(window=False), load("twinkle"), None, notices.append) is None
    monkeypatch.setenv("DISPLAY", ":4242")  # no such X server: must not reach Qt (which would abort)
    notices.clear()
    assert win.open_window(Settings(window=True), load("twinkle"), None, notices.append) is None
    assert notices == ["no X server answers at DISPLAY=:4242 (nothing listens at /tmp/.X11-unix/X4242): running "
                       "without a window"]


def test_score_estimate():
    s = sc.ScoreEstimate(tolerance=1.0)
    s.update(0.5, 64, 64.4, 0.8)    # hit
    s.update(0.5, 64, 66.0, 0.8)    # miss: 2 semitones off
    s.update(0.5, None, 64.0, 0.8)  # no target: does not count
    s.update(0.5, 64, 64.0, 0.0)    # silent: miss
    assert s.score == round(10000 * 0.5 / 1.5)


def test_target_kept_through_short_gaps():
    """Between two notes (a gap of ~0.05 s) the window keeps showing a target instead of flickering to '-'."""
    song = load("twinkle")
    a, b = song.notes[0], song.notes[1]
    t = (a.end + b.start) / 2
    assert b.start - a.end < sc.NEXT_WITHIN and song.note_at(t) is None
    assert sc.shown_target(song, t) is b
    assert sc.shown_target(song, a.start + 0.01) is a


def test_count_in_text():
    assert sc.count_in_text(None) == "starting..."
    assert sc.count_in_text(2.4) == "get ready: 3"
    assert sc.count_in_text(0.2) == "get ready: 1"
