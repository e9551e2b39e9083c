"""The improved classic detector: a calibrated skin model, faces left out, presence hysteresis, size smoothing, and a
saved calibration found again for its player only.

The face is a real photograph: Grace Hopper's portrait, which matplotlib (already a dependency, for the PDF report)
ships as sample data; the face cascade needs a real face, a drawn oval is not one.
"""
from __future__ import annotations

import dataclasses
import json
import math

import cv2
import numpy as np
import pytest

from game.settings import Settings
from vision import calibration
from vision.calibrate import IN_SESSION, PHASES, CalibrationRun, demo_frames, hand_box
from vision.classic import ClassicDetector
from vision.detector import Hand, make_detector
from vision.faces import detect_faces
from vision.handdraw import SKIN_BGR, Painter
from vision.skin import DEFAULT_HI, DEFAULT_LO
from vision.steady import OFF_FRAMES, ON_FRAMES, Steadier

W, H = 640, 480
# skin tones the fixed YCrCb range misses: a hand under a warm (tungsten) lamp (Cr above, Cb below the range), and
# dark skin in a dim room (luma below the range's floor)
WARM_LAMP = (60, 150, 230)
DIM_DARK = (24, 32, 52)


def tinted_painter(tone) -> Painter:
    p = Painter(W, H)
    ratio = np.array(tone, np.float32) / np.array(SKIN_BGR, np.float32)
    p.skin = np.clip(p.skin.astype(np.float32) * ratio, 0, 255).astype(np.uint8)
    return p


def noisy(frame, rng, sigma=2.0):
    return np.clip(frame.astype(np.float32) + rng.normal(0.0, sigma, frame.shape), 0, 255).astype(np.uint8)


def calibrate_on_demo(tone, player="Zoë") -> calibration.Calibration:
    run = CalibrationRun(W, H, player, source="test")
    for frame, t in demo_frames(W, H, tone_bgr=tone):
        if run.feed(frame, t):
            break
    run.finish()
    assert run.error is None, run.error
    return run.result


@pytest.fixture(scope="module")
def warm_calibration():
    return calibrate_on_demo(WARM_LAMP)


# ---- the skin model ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tone", [WARM_LAMP, DIM_DARK], ids=["warm-lamp", "dim-dark"])
def test_calibration_learns_a_skin_tone_the_fixed_range_misses(tone):
    ycc = cv2.cvtColor(np.uint8([[tone]]), cv2.COLOR_BGR2YCrCb)[0, 0]
    assert np.any(ycc < DEFAULT_LO) or np.any(ycc > DEFAULT_HI), "the tone must be outside the fixed range"
    cal = calibrate_on_demo(tone)
    assert cal.facts["room_taken_as_skin"] < 0.02 and cal.facts["hand_taken_as_skin"] > 0.95, cal.facts
    painter = tinted_painter(tone)
    rng = np.random.default_rng(1)
    room = noisy(painter.paint(None), rng)
    hand = noisy(painter.paint((300.0, 290.0, 95.0)), rng)
    truth = cv2.countNonZero(painter.mask) / (W * H)
    fixed = ClassicDetector(W, H)
    fixed.detect(room)
    assert not fixed.detect(hand).present, "the fixed range should not see this hand"
    learned = ClassicDetector(W, H, skin_model=cal.skin_model())
    assert not learned.detect(room).present
    r = learned.detect(hand)
    assert r.present and r.hand.area == pytest.approx(truth, rel=0.03)


def test_calibration_measures_the_hand_near_and_far(warm_calibration):
    """area_near / area_far are what the detector measures of the demo player's near and far hands."""
    cal = warm_calibration
    frames = {key: [] for key in ("near", "far")}
    starts = {"near": 7.0, "far": 10.0}
    for frame, t in demo_frames(W, H, tone_bgr=WARM_LAMP):
        for key, t0 in starts.items():
            if t0 + 2.2 <= t < t0 + 2.8:
                frames[key].append(frame)
    det = ClassicDetector(W, H, skin_model=cal.skin_model(), faces=False)
    for key, attr in (("near", "area_near"), ("far", "area_far")):
        det.reset()
        det.set_background(tinted_painter(WARM_LAMP).paint(None))
        areas = [det.detect(f).hand.area for f in frames[key]]
        assert getattr(cal, attr) == pytest.approx(float(np.median(areas)), rel=0.03)
    assert 0.0 < cal.area_far < cal.area_near / 4


def test_calibration_without_a_hand_in_the_box_says_what_to_do():
    painter = Painter(W, H)
    rng = np.random.default_rng(0)
    room = [noisy(painter.paint(None), rng) for _ in range(6)]
    with pytest.raises(calibration.CalibrationError, match="hold your open hand inside the box"):
        calibration.learn_calibration(room, room, hand_box(W, H))


# ---- faces ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def portrait():
    import matplotlib.cbook
    img = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert img is not None
    return img


def test_face_cascade_finds_the_face_at_many_sizes_and_no_face_in_a_hand(portrait):
    grey = cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY)
    for scale in (1.0, 0.5, 0.3):
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = detect_faces(small, min_size=30)
        assert len(faces) == 1, (scale, faces)
        x, y, w, h = faces[0]
        # her eyes (about (265, 200) in the full picture) are inside, the box is face-sized
        assert x < 265 * scale < x + w and y < 200 * scale < y + h and 100 * scale < w < 220 * scale
    painter = Painter(W, H)
    for s in (60.0, 110.0, 170.0):
        frame = painter.paint((320.0, 280.0, s))
        assert detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), painter.mask, min_size=30) == []


def face_scene(portrait):
    """Frames of the room with Grace Hopper's head (face, neck and collar: a skin blob larger than the hand) swaying
    a little, and a hand; yields (frame, head box, hand mask)."""
    head = cv2.resize(portrait[120:420, 120:400], None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    hh, hw = head.shape[:2]
    oval = np.zeros((hh, hw), np.uint8)
    cv2.ellipse(oval, (hw // 2, hh // 2), (hw // 2 - 2, hh // 2 - 2), 0, 0, 360, 255, -1)
    painter = Painter(W, H)
    yield painter.paint(None).copy(), None, None
    for i in range(1, 60):
        frame = painter.paint((470.0, 330.0, 70.0)).copy()
        x, y = 60 + int(round(4 * math.sin(i / 3))), 60 + int(round(3 * math.cos(i / 4)))
        cv2.copyTo(head, oval, frame[y:y + hh, x:x + hw])
        yield frame, (x, y, hw, hh), painter.mask.copy()


def overlaps(box, head) -> bool:
    x, y, w, h = box
    hx, hy, hw, hh = head
    return x < hx + hw and hx < x + w and y < hy + hh and hy < y + h


def test_a_face_is_not_taken_as_the_hand(portrait):
    without, with_faces = ClassicDetector(W, H, faces=False), ClassicDetector(W, H)
    face_as_hand = clean = 0
    for i, (frame, head, hand) in enumerate(face_scene(portrait)):
        a, b = without.detect(frame), with_faces.detect(frame)
        if head is None:
            continue
        face_as_hand += overlaps(a.hand.box, head)
        # from the first frame on: a new blob is looked at at once
        truth = cv2.countNonZero(hand) / (W * H)
        assert len(b.hands) == 1 and not overlaps(b.hand.box, head), (i, b.hands)
        assert b.hand.area == pytest.approx(truth, rel=0.03)
        clean += 1
    assert face_as_hand == 59, "without face exclusion the face (the largest skin blob) should be the hand"
    assert clean == 59 and 4 <= with_faces.face_looks <= 6   # then every 15 frames
    (box, _), = with_faces.faces
    assert overlaps(box, head)


# ---- hysteresis and smoothing ----------------------------------------------------------------------------------------
def hand(area=0.05, cx=0.5, cy=0.5) -> Hand:
    return Hand(area=area, cx=cx, cy=cy, box=(0, 0, 10, 10), confidence=1.0)


def test_hysteresis_stops_one_frame_flicker():
    s = Steadier(30.0)
    assert ON_FRAMES == 2 and OFF_FRAMES == 3
    assert s([hand()]) == []                 # a one-frame speck ...
    assert s([]) == []                       # ... never counts
    assert s([hand()]) == []
    assert len(s([hand()])) == 1             # seen twice running: a hand
    assert len(s([])) == 1                   # one frame lost: still there (held)
    assert len(s([hand()])) == 1
    assert len(s([])) == 1 and len(s([])) == 1
    assert s([]) == []                       # missing three frames running: gone


def test_detector_hysteresis_on_frames():
    painter = Painter(W, H)
    room = painter.paint(None).copy()
    with_hand = painter.paint((320.0, 300.0, 90.0)).copy()
    det = ClassicDetector(W, H, steady=True)
    seen = [det.detect(f).present for f in (room, room, with_hand, room, room, with_hand, with_hand, room, room,
                                            room, room)]
    assert seen == [False, False, False, False, False, False, True, True, True, False, False]


def still_hand_areas(det, rng, frames=90):
    """(raw, smoothed) areas of a hand that holds still but whose outline the camera renders a little differently
    every frame (1% size jitter, sensor noise)."""
    painter = Painter(W, H)
    det.detect(painter.paint(None).copy())
    raw, smooth = [], []
    for i in range(frames):
        frame = noisy(painter.paint((320.0 + rng.normal(0, 1.0), 300.0, 100.0 * (1 + rng.normal(0, 0.01)))), rng,
                      3.0)
        r = det.detect_raw(frame)
        out = det.steadier(r.hands)
        if i >= 10:
            raw.append(r.hand.area)
            smooth.append(out[0].area)
    return np.array(raw), np.array(smooth)


def test_smoothing_steadies_a_still_hand_and_follows_a_move():
    rng = np.random.default_rng(5)
    raw, smooth = still_hand_areas(ClassicDetector(W, H, steady=True), rng)
    factor = raw.std() / smooth.std()
    print(f"\narea jitter of a still hand: raw {raw.std() / raw.mean() * 100:.2f}%, smoothed "
          f"{smooth.std() / smooth.mean() * 100:.2f}% (x{factor:.1f} less)")
    assert factor >= 2.0
    assert smooth.mean() == pytest.approx(raw.mean(), rel=0.01)
    painter = Painter(W, H)
    for new_scale in (120.0, 60.0):   # the hand moves nearer (area x2.25) or farther (x0.56) in one frame
        det = ClassicDetector(W, H, steady=True)
        det.detect(painter.paint(None).copy())
        for _ in range(20):
            det.detect(noisy(painter.paint((320.0, 300.0, 80.0)), rng))
        frames = [noisy(painter.paint((320.0, 300.0, new_scale)), rng) for _ in range(6)]
        truth = np.median([ClassicDetector(W, H, background=False).detect(f).hand.area for f in frames])
        followed = [det.detect(f).hand.area / truth for f in frames]
        lag = next(i for i, v in enumerate(followed) if abs(v - 1) < 0.05)
        print(f"step to scale {new_scale:g}: within 5% after {lag + 1} frame(s): "
              + ", ".join(f"{v:.3f}" for v in followed))
        assert lag <= 1   # the second frame after the move is within 5% (33 ms at 30 fps)


# ---- saved and found again ---------------------------------------------------------------------------------------
def settings_for(tmp_path, **kw) -> Settings:
    base = dict(detector="classic", camera="clip.mp4", calibration_dir=str(tmp_path), player="Zoë", window=False)
    base.update(kw)
    return Settings(**base)


def test_saved_calibration_is_used_for_its_player_only(tmp_path, warm_calibration):
    path = calibration.save(warm_calibration, settings_for(tmp_path))
    assert path == tmp_path / "zoë.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == calibration.VERSION and data["player"] == "Zoë"

    told = []
    det = make_detector(settings_for(tmp_path), told.append)
    assert det.skin_model.calibrated and det.steadier is not None
    assert told == [f"classic detector: skin colours from Zoë's calibration from {path}"]
    painter = tinted_painter(WARM_LAMP)
    det.detect(painter.paint(None).copy())
    for _ in range(ON_FRAMES):
        r = det.detect(painter.paint((300.0, 290.0, 95.0)).copy())
    assert r.present

    told.clear()
    other = make_detector(settings_for(tmp_path, player="Ada"), told.append)
    assert not other.skin_model.calibrated
    assert told == ["classic detector: no calibration for Ada, fixed skin range "
                    "(`python main.py calibrate --player NAME` learns yours)"]
    told.clear()
    demo = make_detector(settings_for(tmp_path, camera="demo"), told.append)
    assert not demo.skin_model.calibrated and told == []  # the demo clip's drawn hand is made for the fixed range


def test_recalibration_during_a_session():
    """What `c` can do in a session: the player stays in the picture, the detector's background stands for the empty
    room, the routine runs on the session's frames from the box on, and the running detector switches."""
    painter = tinted_painter(WARM_LAMP)
    det = ClassicDetector(W, H, steady=True)
    rng = np.random.default_rng(2)
    for _ in range(5):
        det.detect(noisy(painter.paint(None), rng))
    frame = painter.paint((300.0, 290.0, 95.0)).copy()
    assert not any(det.detect(frame).present for _ in range(3))
    run = CalibrationRun(W, H, "Zoë", phases=IN_SESSION, room_frames=[det.background_picture()])
    start = PHASES[0].seconds   # the demo player's routine from the box on
    for f, t in demo_frames(W, H, tone_bgr=WARM_LAMP):
        if t >= start and run.feed(f, t):
            break
    assert run.error is None and run.result.area_far < run.result.area_near, run.error
    det.use_calibration(run.result)
    assert [det.detect(frame).present for _ in range(2)] == [False, True]
    assert "Zoë's calibration" in det.describe()


def test_calibrated_pitch_range_unless_set(tmp_path, warm_calibration):
    calibration.save(warm_calibration, settings_for(tmp_path))
    told = []
    s = calibration.session_settings(settings_for(tmp_path), told.append)
    assert (s.area_near, s.area_far) == (warm_calibration.area_near, warm_calibration.area_far)
    assert told and "pitch range from Zoë's calibration" in told[0]
    explicit = settings_for(tmp_path, area_near=0.2)
    assert calibration.session_settings(explicit) is explicit
    assert calibration.session_settings(settings_for(tmp_path, player="Ada")).area_near == Settings().area_near
    assert calibration.session_settings(settings_for(tmp_path, camera="demo")).area_near == Settings().area_near
    assert calibration.session_settings(settings_for(tmp_path, detector="landmarks")).area_near == Settings().area_near


def test_file_names_and_unusable_files(tmp_path, warm_calibration):
    assert calibration.file_name("Zoë") == "zoë.json"
    assert calibration.file_name("../../etc/passwd") == "etc_passwd.json"
    assert calibration.file_name("  ") == "player.json"
    assert calibration.file_name("CON") == "con_.json" and calibration.file_name("com1") == "com1_.json"
    assert calibration.file_name("Connie") == "connie.json" and calibration.file_name("nul.x") == "nul.x_.json"
    s = settings_for(tmp_path)
    path = calibration.save(warm_calibration, s)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["version"] = 99
    path.write_text(json.dumps(data), encoding="utf-8")
    told = []
    assert calibration.load(s, told.append) is None
    assert told and "calibration version 99, expected 1" in told[0] and "python main.py calibrate" in told[0]
    path.write_text("{not json", encoding="utf-8")
    assert calibration.load(s, told.append) is None
    # a player called Con whose calibration was saved as con.json, before reserved names got their '_'
    con = settings_for(tmp_path, player="Con")
    saved = calibration.save(dataclasses.replace(warm_calibration, player="Con"), con)
    assert saved.name == "con_.json"
    saved.rename(saved.with_name("con.json"))
    assert calibration.load(con) is not None and calibration.load(con).player == "Con"


def test_default_calibration_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert calibration.calibration_path(Settings(player="Ada")) == tmp_path / "handtone" / "calibration" / "ada.json"


def test_landmarks_sessions_get_the_range_the_landmarks_detector_measured(tmp_path, warm_calibration):
    """The landmarks detector's palm-based size is not the classic whole-hand area: each detector gets the near/far
    sizes it measured itself at calibration."""
    import dataclasses
    cal = dataclasses.replace(warm_calibration, landmarks_near=0.12, landmarks_far=0.02)
    calibration.save(cal, settings_for(tmp_path))
    again = calibration.load(settings_for(tmp_path))
    assert (again.landmarks_near, again.landmarks_far) == (0.12, 0.02)
    s = calibration.session_settings(settings_for(tmp_path, detector="landmarks"))
    assert (s.area_near, s.area_far) == (0.12, 0.02)
    s = calibration.session_settings(settings_for(tmp_path, detector="classic"))
    assert (s.area_near, s.area_far) == (cal.area_near, cal.area_far)


def test_calibrate_measures_the_landmarks_range_too(tmp_path):
    """`calibrate --camera demo` headless: both detectors' near/far sizes are saved (the drawn hand's agree)."""
    import subprocess
    import sys

    from conftest import ROOT
    env = dict(__import__("os").environ, HANDTONE_CALIBRATION_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "main.py", "calibrate", "--camera", "demo", "--no-window", "--player",
                          "Lin"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "calibrate: landmarks detector: hand size near " in out.stdout
    data = json.loads((tmp_path / "lin.json").read_text())
    assert 0 < data["landmarks_far"] < data["landmarks_near"]
    assert data["landmarks_near"] == pytest.approx(data["area_near"], rel=0.15)
    assert data["landmarks_far"] == pytest.approx(data["area_far"], rel=0.15)
