"""The game window on a real X display (Xvfb): a real screenshot shows the mirrored picture and the green box."""
from __future__ import annotations

import time

import cv2
import numpy as np

from game.settings import Settings
from game.song import load, note_name
from vision import window as win
from vision.classic import ClassicDetector
from vision.handdraw import Painter


def grab(display: str) -> np.ndarray:
    from PIL import ImageGrab
    return cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=display)), cv2.COLOR_RGB2BGR)


def find(screen: np.ndarray, picture: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Best match of ``picture`` in ``screen``: (score 0..1, top-left)."""
    res = cv2.matchTemplate(screen, picture, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    return score, loc


def text_line(text: str) -> np.ndarray:
    """The line as the window should draw it: white Hershey simplex 0.65 on black, alone, 3 px margin (grey)."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, win.FONT_SCALE, 1)
    img = np.zeros((th + base + 6, tw + 6), np.uint8)
    cv2.putText(img, text, (3, 3 + th), cv2.FONT_HERSHEY_SIMPLEX, win.FONT_SCALE, 255, 1, cv2.LINE_AA)
    return img


def text_readable(screen: np.ndarray, origin, text: str) -> float:
    """How well the rendered line matches the window's top-left text area (1.0 = exactly as drawn alone)."""
    ox, oy = origin
    area = cv2.cvtColor(screen[oy:oy + 130, ox:ox + 330], cv2.COLOR_BGR2GRAY)
    return find(area, text_line(text))[0]


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
            assert w.show(frame, detection, 3.0, 30.0)
            screen = grab(xvfb.display)
            part = (slice(150, settings.height), slice(0, 340))  # below the text, left of the (mirrored) hand
            score, (ox, oy) = find(screen, cv2.flip(frame, 1)[part])
            if score > 0.9 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert score > 0.9, f"mirrored picture not on screen (best match {score:.2f})"
        oy -= 150
        unmirrored, _ = find(screen, frame[part])
        assert unmirrored < score - 0.05, "the picture is not mirrored"
        assert green_box_found(screen, (ox, oy), detection.hand.box, settings.width)
        # nothing green where there is no box: the room's top-right corner in the mirrored view is plain wall/shelf
        assert not green_box_found(screen, (ox, oy), (20, 200, 100, 100), settings.width)
        # the text is crisp: each line matches the same line rendered alone (a misaligned outline ghosts it)
        song = load(settings.song)
        target = win.shown_target(song, 3.0)
        for text in ("playing -", f"target  {note_name(target.midi + settings.transpose)}", "30.0 fps"):
            score = text_readable(screen, (ox, oy), text)
            assert score > 0.9, f"{text!r} is not readable on screen (match {score:.2f})"
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
    assert not win.display_available()


def test_score_estimate():
    s = win.ScoreEstimate(tolerance=1.0)
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
    assert b.start - a.end < win.NEXT_WITHIN and song.note_at(t) is None
    assert win.shown_target(song, t) is b
    assert win.shown_target(song, a.start + 0.01) is a


def test_count_in_text():
    assert win.count_in_text(None) == "starting..."
    assert win.count_in_text(2.4) == "get ready: 3"
    assert win.count_in_text(0.2) == "get ready: 1"
