"""`python main.py play --camera demo` with a real X display: the live window shows the mirrored demo room and the
hand's green box while the session runs (real screenshots of the Xvfb screen)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from standins import require_tool
from vision.handdraw import room

ROOT = Path(__file__).resolve().parents[2]


def grab(display: str) -> np.ndarray:
    from PIL import ImageGrab
    return cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=display)), cv2.COLOR_RGB2BGR)


def green_box(screen: np.ndarray):
    """Bounding box (x, y, w, h) of the largest pure-green outline on screen, or None."""
    b, g, r = cv2.split(screen.astype(np.int16))
    mask = ((g >= 235) & (b <= 30) & (r <= 30)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = stats[best]
    return (int(x), int(y), int(w), int(h)) if w > 30 and h > 30 and area > 2 * (w + h) * 2 else None


def play_and_watch(xvfb, out_dir):
    """One `play --camera demo --duration 6` session with screenshots: (picture, box, screens)."""
    xdotool = require_tool("xdotool")
    env = os.environ | {"DISPLAY": xvfb.display, "PYTHONUNBUFFERED": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "play", "--camera", "demo", "--duration", "6",
                             "--out", str(out_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            found = subprocess.run([xdotool, "search", "--name", "^handtone$"], env=env, capture_output=True, text=True)
            if found.stdout.strip():
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"the game ended before its window showed:\n{proc.stdout.read()}"
        assert found.stdout.strip(), "no window titled handtone"
        wall = cv2.flip(room(640, 480), 1)[150:380, 0:140]   # the mirrored room, left of where the hand moves
        box = picture = None
        screens = []
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline and proc.poll() is None and box is None:
            screen = grab(xvfb.display)
            screens.append(screen)
            res = cv2.matchTemplate(screen, wall, cv2.TM_CCOEFF_NORMED)
            _, score, _, loc = cv2.minMaxLoc(res)
            if score > 0.8:
                picture = (loc[0], loc[1] - 150)
                box = green_box(screen)
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return picture, box, screens, proc.returncode, out


def test_play_demo_live_window(xvfb, tmp_path):
    # Known, not understood: on Xvfb about 1 session in 10 the window stays black for its whole length (mapped and
    # viewable, Qt never paints it; the window's own pixels are black). A black session is retried, at most 3 in
    # all, and reported; the test fails when no session paints, or when one paints wrongly.
    black = 0
    for attempt in range(3):
        session_dir = tmp_path / f"attempt{attempt}"
        picture, box, screens, code, out = play_and_watch(xvfb, session_dir)
        if picture is not None or any(s.mean() > 0 for s in screens):
            break
        black += 1
        print(f"attempt {attempt + 1}: the window stayed black for the whole session (known Qt/Xvfb fault)")
    assert picture is not None, "the mirrored demo room never appeared on screen"
    assert box is not None, "no green hand box drawn in the live window"
    x, y, w, h = box
    px, py = picture
    assert px <= x and x + w <= px + 640 and py <= y and y + h <= py + 480, "the box is outside the picture"
    wall = cv2.flip(room(640, 480), 1)[150:380, 0:140]
    patch = screens[-1][py + 150:py + 380, px:px + 140].astype(np.float32)
    mirrored_diff = np.abs(patch - wall).mean()
    plain_diff = np.abs(patch - room(640, 480)[150:380, 0:140]).mean()
    assert mirrored_diff < 8 and plain_diff > 3 * mirrored_diff, "the picture is not mirrored"
    assert code == 0, out
    session = next(p for p in session_dir.iterdir() if p.is_dir())
    stats = json.loads((session / "stats-vision.json").read_text())
    assert stats["window"] is True and stats["frames"] >= 150 and "demo" in stats["source"]
