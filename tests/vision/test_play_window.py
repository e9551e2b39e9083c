"""`python main.py play --camera demo` with a real X display: the live window shows the mirrored demo room and the
hand's green box while the session runs, and the game on it: the note lane with the song's bars, the marker at the
pitch the synth is playing, the score (real screenshots of the Xvfb screen)."""
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
from vision import scene as sc
from vision.handdraw import room

ROOT = Path(__file__).resolve().parents[2]
WALL = (slice(225, 410), slice(0, 140))   # plain room between the note tag and the bottom bar, and the floor's edge
MIRROR = (slice(168, 216), slice(0, 90))  # plain wall there; the unmirrored room has its window there


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
        wall = cv2.flip(room(640, 480), 1)[WALL]   # the mirrored room, left of where the hand moves
        box = picture = None
        screens = []
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline and proc.poll() is None and box is None:
            screen = grab(xvfb.display)
            screens.append(screen)
            res = cv2.matchTemplate(screen, wall, cv2.TM_CCOEFF_NORMED)
            _, score, _, loc = cv2.minMaxLoc(res)
            if score > 0.8:
                picture = (loc[0], loc[1] - WALL[0].start)
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
    rows, cols = MIRROR
    patch = screens[-1][py + rows.start:py + rows.stop, px + cols.start:px + cols.stop].astype(np.float32)
    mirrored_diff = np.abs(patch - cv2.flip(room(640, 480), 1)[MIRROR]).mean()
    plain_diff = np.abs(patch - room(640, 480)[MIRROR]).mean()
    assert mirrored_diff < 8 and plain_diff > 3 * mirrored_diff, "the picture is not mirrored"
    assert code == 0, out
    session = next(p for p in session_dir.iterdir() if p.is_dir())
    stats = json.loads((session / "stats-vision.json").read_text())
    assert stats["window"] is True and "demo" in stats["source"]
    # about 180 frames were due; some are dropped when the machine stalls (how many is a benchmark's figure)
    assert stats["frames"] + stats["dropped_frames"] >= 150 and stats["frames"] >= 100, stats


# ---- the game on the picture: lane, marker, score ------------------------------------------------------------------
def window_geometry(xdotool: str, env: dict, wid: str) -> tuple[int, int, int, int]:
    out = subprocess.run([xdotool, "getwindowgeometry", "--shell", wid], env=env, capture_output=True, text=True,
                         timeout=10).stdout
    g = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])


def colour_mask(img: np.ndarray, colour, tol: int = 0) -> np.ndarray:
    return np.abs(img.astype(np.int16) - np.array(colour, np.int16)).max(axis=-1) <= tol


def digit_shapes(size: int) -> dict:
    """Each digit as the scene draws the score (OpenCV 5 sans, bold), as a binary picture cropped to its ink."""
    font = cv2.FontFace("sans")
    shapes = {}
    for d in "0123456789":
        img = np.zeros((size * 2, size * 2), np.uint8)
        cv2.putText(img, d, (size // 2, size + size // 2), 255, font, size, 700)
        ys, xs = np.nonzero(img > 200)
        shapes[d] = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1] > 200
    return shapes


def read_score(picture: np.ndarray, scene, shapes: dict) -> int | None:
    """The score the picture shows, read glyph by glyph (white ink in the bottom bar's right part)."""
    bar = scene.px(sc.BAR_PX)
    part = picture[picture.shape[0] - bar:, picture.shape[1] - scene.px(sc.SCORE_W) + 4:]
    ink = cv2.cvtColor(part, cv2.COLOR_BGR2GRAY) > 200
    cols = np.flatnonzero(ink.any(axis=0))
    if not len(cols):
        return None
    groups = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    digits = ""
    for g in groups:
        glyph = ink[:, g[0]:g[-1] + 1]
        ys = np.flatnonzero(glyph.any(axis=1))
        glyph = glyph[ys[0]:ys[-1] + 1]
        best, best_iou = None, 0.0
        for d, shape in shapes.items():
            fitted = cv2.resize(shape.astype(np.uint8), (glyph.shape[1], glyph.shape[0]),
                                interpolation=cv2.INTER_NEAREST) > 0
            iou = (fitted & glyph).sum() / max(1, (fitted | glyph).sum())
            if iou > best_iou:
                best, best_iou = d, iou
        if best_iou < 0.75:
            return None
        digits += best
    return int(digits)


def marker_y(picture: np.ndarray, lane) -> float | None:
    """Centre height of the marker on the now line (its fill colours and white ring), beside the line itself."""
    band = picture[lane.y0:lane.y0 + lane.height, lane.now_x - 14:lane.now_x + 15]
    fill = np.zeros(band.shape[:2], bool)
    for colour in (sc.NOTE_HIT, sc.GOLD_HIT, sc.MARKER_OFF, sc.WHITE):
        fill |= colour_mask(band, colour)
    fill[:, 12:17] = False         # the now line (white, 2 px) and its neighbours
    ys, _ = np.nonzero(fill)
    return lane.y0 + float(ys.mean()) if len(ys) >= 30 else None


def bar_rows(picture: np.ndarray, lane) -> list[float]:
    """Centre heights of the note bars still to come (light blue shapes right of the now line)."""
    ahead = colour_mask(picture[lane.y0:lane.y0 + lane.height, lane.now_x + 4:], sc.NOTE_AHEAD).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(ahead)
    return [lane.y0 + float(centroids[i][1]) for i in range(1, n)
            if stats[i, cv2.CC_STAT_WIDTH] > 20 and stats[i, cv2.CC_STAT_HEIGHT] >= lane.bar_px - 2]


def watch_the_game(xvfb, out_dir):
    """A `play --camera demo` session; screenshots of its window, each with the voice state read around it."""
    from game import handstate
    xdotool = require_tool("xdotool")
    env = os.environ | {"DISPLAY": xvfb.display, "PYTHONUNBUFFERED": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "play", "--camera", "demo", "--duration", "9",
                             "--out", str(out_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    voice = None
    shots = []
    try:
        deadline = time.monotonic() + 60
        wid = ""
        while time.monotonic() < deadline and proc.poll() is None and not wid:
            found = subprocess.run([xdotool, "search", "--name", "^handtone$"], env=env, capture_output=True,
                                   text=True)
            wid = found.stdout.split()[0] if found.stdout.split() else ""
            time.sleep(0.1)
        assert wid, f"no window titled handtone:\n{proc.stdout.read() if proc.poll() is not None else ''}"
        x, y, w, h = window_geometry(xdotool, env, wid)
        assert (w, h) == (640, 480)
        name = handstate.segment_names(str(proc.pid))["voice"]
        while voice is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                voice = handstate.attach_voice(name)
            except FileNotFoundError:
                time.sleep(0.05)
        assert voice is not None, "the session's voice state never appeared"
        buf = np.zeros(4)

        def pitch():
            voice.read_into(buf)
            return float(buf[1]), float(buf[2]), float(buf[0])
        while proc.poll() is None:
            before = pitch()
            time.sleep(0.04)
            around = [before, pitch()]
            screen = grab(xvfb.display)
            around.append(pitch())
            shots.append((screen[y:y + h, x:x + w].copy(), around))
            time.sleep(0.15)
        out, _ = proc.communicate(timeout=60)
    finally:
        if voice is not None:
            voice.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return shots, proc.returncode, out


def test_live_window_draws_lane_marker_and_score(xvfb, tmp_path):
    from game.settings import Settings
    from game.song import load
    settings = Settings(camera="demo")
    song = load(settings.song)
    scene = sc.Scene(settings, song, None)     # the geometry the game uses for this song and picture size
    lane = scene.lane
    pitches = [lane.y_of(m) for m in scene.notes.midi]
    shapes = digit_shapes(scene.px(sc.BIG_PX))
    for attempt in range(3):   # the known Qt/Xvfb black window (see above): at most 3 sessions
        shots, code, out = watch_the_game(xvfb, tmp_path / f"attempt{attempt}")
        if any(picture.mean() > 10 for picture, _ in shots):
            break
        print(f"attempt {attempt + 1}: the window stayed black for the whole session (known Qt/Xvfb fault)")
    assert code == 0, out
    lanes = markers = lit = 0
    scores = []
    for i, (picture, around) in enumerate(shots):
        rows = bar_rows(picture, lane)
        for r in rows:      # every bar sits at the height of one of the song's pitches
            assert min(abs(r - p) for p in pitches) <= 1.5, f"shot {i}: a bar at y={r:.1f}, no song pitch there"
        if len(rows) >= 2:
            tint = picture[lane.y0 + 2:lane.y0 + lane.height - 2, lane.now_x + 4:].reshape(-1, 3).astype(int)
            assert np.median(tint[:, 0] - tint[:, 2]) > 5, "the lane's navy tint is missing"
            lanes += 1
        midis = [m for m, _, _ in around]
        audible = all(a > sc.AUDIBLE for _, a, _ in around)
        synth_running = around[-1][2] > around[0][2]      # its clock moved: the session is not over
        now_line = colour_mask(picture[lane.y0:lane.y0 + lane.height, lane.now_x], sc.WHITE).mean() > 0.5
        y = marker_y(picture, lane)
        if now_line and synth_running and audible and max(midis) - min(midis) < 0.25:
            # a steady, sounding pitch on a live window: the marker must be there
            assert y is not None, f"shot {i}: no marker while the synth plays MIDI {midis[-1]:.2f}"
            assert abs(y - lane.y_of(midis[1])) <= 2.5, \
                f"shot {i}: marker at y={y:.1f}, the pitch {midis[1]:.2f} is at y={lane.y_of(midis[1]):.1f}"
            markers += 1
        past = picture[lane.y0:lane.y0 + lane.height, :lane.now_x - 3]
        lit += colour_mask(past, sc.NOTE_HIT).sum() > 20 * lane.bar_px    # notes played on pitch, lit up
        value = read_score(picture, scene, shapes)
        if value is not None:
            scores.append(value)
    print(f"{len(shots)} screenshots: lane in {lanes}, marker checked in {markers}, lit notes in {lit}, "
          f"scores read {scores}")
    assert lanes >= 5, f"the lane with its bars was seen in only {lanes} of {len(shots)} screenshots"
    assert markers >= 5, f"the marker was checked in only {markers} of {len(shots)} screenshots"
    assert lit >= 5, f"lit (hit) notes seen in only {lit} of {len(shots)} screenshots"
    assert len(scores) >= len(shots) // 2 and all(0 <= v <= 10000 for v in scores), scores
    assert scores[0] == 0 and max(scores) > 2000, f"the score never grew: {scores}"
