"""The landmarks detector: our decoding of MediaPipe's palm detector, the crops, tracking, and the real models on
real photographs (OpenCV's samples) and on a drawn hand pasted over them."""
from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

import handclips as hc
import standins
from game.pitchmap import PitchMap
from vision import palm as palm_mod
from vision.detector import Hand, assign_roles

W, H = hc.W, hc.H


def settings(**kw):
    from game.settings import Settings
    base = dict(models_dir="", landmark_model="lite", width=W, height=H, pitch_hand="right", camera="clip.mp4",
                calibration_dir="/nonexistent/handtone-test", window=False)
    base.update(kw)
    return Settings(**base)


@pytest.fixture(scope="module")
def detector_factory():
    from vision.detector import DetectorUnavailable
    from vision.landmarks import LandmarkDetector

    def make(**kw):
        try:
            return LandmarkDetector.from_settings(settings(**kw))
        except DetectorUnavailable as e:
            standins.missing(f"landmarks detector: {e}")
    make()
    return make


@pytest.fixture(scope="module")
def photos():
    return hc.photos()


# ---- decoding, without the models ------------------------------------------------------------------------------
def test_anchor_layout_is_mediapipes():
    a = palm_mod.ssd_anchors()
    assert a.shape == (2016, 2)
    # 24x24 cells, 2 anchors each, row by row; then 12x12 cells, 6 anchors each
    assert np.allclose(a[0], [0.5 / 24, 0.5 / 24]) and np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 24, 0.5 / 24])
    assert np.allclose(a[1151], [23.5 / 24, 23.5 / 24])
    assert np.allclose(a[1152:1158], [0.5 / 12, 0.5 / 12])
    assert np.allclose(a[-1], [11.5 / 12, 11.5 / 12])


def test_weighted_nms_averages_overlapping_boxes_and_keeps_separate_ones():
    boxes = np.array([[0.5, 0.5, 0.2, 0.2], [0.52, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]], np.float32)
    kps = np.repeat(boxes[:, None, :2], 7, axis=1)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    out = palm_mod.weighted_nms(scores, boxes, kps, max_out=5)
    assert [round(p.score, 2) for p in out] == [0.9, 0.7]
    assert out[0].box[0] == pytest.approx((0.5 * 0.9 + 0.52 * 0.6) / 1.5)   # score-weighted mean
    assert np.allclose(out[1].box, boxes[2])
    assert len(palm_mod.weighted_nms(scores, boxes, kps, max_out=1)) == 1


@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.0, math.pi])
def test_crop_and_back_are_inverse(rotation):
    roi = palm_mod.Roi(300.0, 200.0, 150.0, rotation)
    m = cv2.getAffineTransform(roi.corners(), np.array([[0, 0], [224, 0], [0, 224]], np.float32))
    crop_pts = np.array([[10, 20], [112, 112], [200, 50]], np.float32)
    image_pts = roi.to_image(crop_pts, 224)
    back = (m[:, :2] @ image_pts.T).T + m[:, 2]
    assert np.allclose(back, crop_pts, atol=1e-3)


def test_rotation_points_fingers_up():
    assert palm_mod.rotation_between(100, 200, 100, 100) == pytest.approx(0.0)          # fingers already up
    assert palm_mod.rotation_between(100, 100, 200, 100) == pytest.approx(math.pi / 2)  # fingers to the right
    assert abs(palm_mod.rotation_between(100, 100, 100, 200)) == pytest.approx(math.pi)


def test_roles_by_handedness_then_by_place():
    r = Hand(0.05, 0.8, 0.5, (0, 0, 1, 1), 1.0, "right")
    l = Hand(0.05, 0.2, 0.5, (0, 0, 1, 1), 1.0, "left")
    assert assign_roles([l, r], "right") == [r, l]
    assert assign_roles([r, l], "left") == [l, r]
    a = Hand(0.05, 0.3, 0.5, (0, 0, 1, 1), 1.0)
    b = Hand(0.05, 0.7, 0.5, (0, 0, 1, 1), 1.0)
    assert assign_roles([a, b], "right") == [b, a]      # unknown handedness: the player's right side plays pitch
    assert assign_roles([a, b], "left") == [a, b]
    assert assign_roles([a], "left") == [a]             # one hand alone always plays


# ---- the real models ---------------------------------------------------------------------------------------------
# Messi's two hands in OpenCV's messi5.jpg (640x480 crop), boxed by eye: his right hand is on the picture's left
MESSI_RIGHT = (25, 112, 102, 158)
MESSI_LEFT = (405, 205, 478, 262)


def inside(xy, box) -> bool:
    x0, y0, x1, y1 = box
    return bool(np.all((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)))


def test_landmarks_fall_on_real_hands_in_a_photograph(detector_factory, photos):
    det = detector_factory()
    for _ in range(3):
        found = det.detect(photos["messi5"])
    assert len(found.hands) == 2
    by_side = sorted(found.hands, key=lambda h: h.box[0])
    assert inside(by_side[0].landmarks, MESSI_RIGHT), by_side[0].landmarks
    assert inside(by_side[1].landmarks, MESSI_LEFT), by_side[1].landmarks
    assert [h.handedness for h in by_side] == ["right", "left"]
    assert found.hand is by_side[0]       # pitch_hand=right: his right hand plays pitch, the left one volume
    assert all(h.confidence > 0.9 for h in found.hands)


def test_nothing_on_photographs_without_hands(detector_factory, photos):
    det = detector_factory()
    for name, photo in photos.items():
        if name == "messi5":
            continue
        det.reset()
        assert det.detect(photo).hands == [], name


def test_landmarks_fall_on_a_pasted_hand(detector_factory, photos):
    det = detector_factory()
    for name in ("building", "baboon", "stuff"):
        for (cx, cy, scale) in ((200, 280, 80), (420, 250, 140)):
            frame = photos[name].copy()
            mask = hc.hand_mask(cx, cy, scale)
            hc.paste_hand(frame, mask)
            det.reset()
            hand = det.detect(frame).hand
            assert hand is not None, (name, cx, cy, scale)
            near = cv2.dilate(mask, np.ones((9, 9), np.uint8))
            xs = np.clip(hand.landmarks[:, 0].round().astype(int), 0, W - 1)
            ys = np.clip(hand.landmarks[:, 1].round().astype(int), 0, H - 1)
            assert np.count_nonzero(near[ys, xs]) >= 20, (name, cx, cy, scale)   # 21 landmarks on the hand
            # the wrist is the lowest landmark, fingertips (4, 8, 12, 16, 20) above the palm
            assert hand.landmarks[0, 1] > hand.landmarks[[8, 12, 16], 1].max()
            assert abs(hand.cx - (1.0 - cx / W)) < 0.08 and abs(hand.cy - cy / H) < 0.12


def test_spreading_the_fingers_does_not_change_the_note(detector_factory, photos):
    """The pitch size comes from the palm: fingers closed or fanned out play the same note (within 0.75 semitone,
    single frames, model jitter included), while the size still follows distance."""
    det = detector_factory()
    pm = PitchMap(60.0, 84.0, 0.01, 0.16)
    mean_note = {}
    for name in ("stuff", "leuvenA"):
        for scale in (90, 150):
            notes = []
            for spread in (0.0, 0.5, 1.0):
                frame = photos[name].copy()
                hc.paste_hand(frame, hc.hand_mask(320, 280, scale, spread))
                det.reset()
                hand = det.detect(frame).hand
                assert hand is not None, (name, scale, spread)
                notes.append(pm.midi(hand.area))
            assert max(notes) - min(notes) < 0.75, (name, scale, notes)
            mean_note[name, scale] = sum(notes) / len(notes)
        assert mean_note[name, 150] - mean_note[name, 90] > 6.0   # 2.8x the area: ~8.6 semitones on this map


def test_tracking_runs_the_palm_detector_only_when_the_hand_is_lost(detector_factory, photos):
    det = detector_factory()
    frames = list(hc.clip_with_hand(photos["building"], 68, seed=3, lead_in=8))
    seen = 0
    for frame, truth in frames:
        if det.detect(frame).present:
            seen += 1
    # 8 empty frames search every frame; then one search finds the hand, re-searches for a second hand every 10
    assert det.palm_runs <= 8 + 1 + 60 // 10 + 2, det.palm_runs
    assert seen >= 57
    runs = det.palm_runs
    for frame in hc.clip_without_hand(photos["building"], 5, seed=4):
        assert not det.detect(frame).present
    assert det.palm_runs == runs + 5


def test_two_hands_are_tracked_and_given_roles(detector_factory, photos):
    det = detector_factory()
    frame = photos["stuff"].copy()
    hc.paste_hand(frame, hc.hand_mask(170, 280, 90, mirror=True))
    hc.paste_hand(frame, hc.hand_mask(470, 280, 100), tone=hc.TONES["olive"])
    for _ in range(2):
        found = det.detect(frame)
    assert len(found.hands) == 2
    xs = sorted(h.box[0] + h.box[2] / 2 for h in found.hands)
    assert xs[0] < 250 < 400 < xs[1]
    if found.hand.handedness != found.second.handedness:
        assert found.hand.handedness == "right"           # the player's right hand plays pitch
    else:
        assert found.hand.cx > found.second.cx            # otherwise the hand on the player's right
    one = photos["stuff"].copy()
    hc.paste_hand(one, hc.hand_mask(470, 280, 100), tone=hc.TONES["olive"])
    det.reset()
    alone = det.detect(one)
    assert len(alone.hands) == 1 and alone.hand is not None   # one hand alone plays pitch


def test_auto_picks_landmarks_and_says_so(detector_factory):
    from vision.detector import make_detector
    told = []
    det = make_detector(settings(detector="auto"), told.append)
    assert det.name == "landmarks" and told == ["detector: landmarks (lite models on LiteRT)"]


def test_auto_falls_back_to_classic_without_models_and_landmarks_refuses(tmp_path):
    from vision.detector import DetectorUnavailable, make_detector
    told = []
    det = make_detector(settings(detector="auto", models_dir=str(tmp_path)), told.append)
    assert det.name == "classic"
    assert told and told[0].startswith("detector: classic (the landmarks models are not in ")
    with pytest.raises(DetectorUnavailable, match=r"run `make setup`.*or use --detector classic"):
        make_detector(settings(detector="landmarks", models_dir=str(tmp_path)))


def test_a_hand_that_jumps_is_followed_in_its_own_frame_without_the_palm_search(detector_factory):
    """bench latency's clip: the hand jumps between two sizes every 15 frames. At each jump the tracker must read
    the new size in that very frame (a lost crop retried larger, rough landmarks refitted) and mostly without the
    ~9 ms palm search; the size it reads then is near the one it settles on."""
    from game import song as song_mod
    from vision import landmarks
    from vision.jumpclip import jump_clip_path
    s = settings()
    path, plan = jump_clip_path(song_mod.load_for(s), s)
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < plan.frames:
        ok, frame = cap.read()
        assert ok, f"{path} ends at frame {len(frames)} of {plan.frames}"
        frames.append(frame)
    cap.release()
    det = detector_factory()
    for frame in frames:               # a first loop, so the second starts from a tracked hand
        det.detect(frame)
    areas, palm_at = [], []
    for frame in frames:
        runs = det.palm_runs
        hand = det.detect(frame).hand
        areas.append(hand.area if hand else 0.0)
        palm_at.append(det.palm_runs > runs)
    jumps = [i for i in range(1, plan.frames - 3) if plan.is_jump(i)]
    assert len(jumps) >= 15
    half = (plan.low_area + plan.high_area) / 2
    for i in jumps:
        assert (areas[i] > half) != (areas[i - 1] > half), f"jump at frame {i} not read in its frame: {areas[i-1:i+2]}"
        assert abs(areas[i] / areas[i + 3] - 1) < 0.35, f"frame {i}: {areas[i]:.4f}, settles at {areas[i + 3]:.4f}"
    # the periodic search for a second hand (every REDETECT_EVERY frames) still falls on some jump frames
    assert sum(palm_at[i] for i in jumps) <= len(jumps) * (1 - 1 / 3), [i for i in jumps if palm_at[i]]
    assert landmarks.REGROW > 1 and landmarks.REFIT > 1


def test_live_detector_looks_for_a_second_hand_in_its_worker_thread(photos):
    """The vision child's detector (make_detector(live=True)) runs the periodic search for a second hand on a copy
    of the frame in its worker thread, so that search is not on the frame's path; a second hand coming in is still
    found within a search or two, the first one (no hand tracked) is searched in line, and close() ends the thread."""
    import threading
    import time
    from vision.detector import DetectorUnavailable, make_detector
    from vision.landmarks import REDETECT_EVERY
    try:
        det = make_detector(settings(detector="landmarks"), live=True)
    except DetectorUnavailable as e:
        standins.missing(f"landmarks detector: {e}")
    threads = []
    search = det.palm.detect

    def watched(frame, max_palms=2):
        threads.append(threading.current_thread().name)
        return search(frame, max_palms)

    det.palm.detect = watched
    one = photos["stuff"].copy()
    hc.paste_hand(one, hc.hand_mask(470, 280, 100), tone=hc.TONES["olive"])
    two = one.copy()
    hc.paste_hand(two, hc.hand_mask(170, 280, 90, mirror=True))
    try:
        assert len(det.detect(one).hands) == 1
        assert threads == [threading.current_thread().name]        # nothing tracked yet: searched in line
        for _ in range(3 * REDETECT_EVERY):
            assert len(det.detect(one).hands) == 1
        counts = []
        for _ in range(3 * REDETECT_EVERY):   # frames as a 30 fps camera gives them: the search has a frame's time
            counts.append(len(det.detect(two).hands))
            time.sleep(1 / 30)
        assert threads[1:] and all(name.startswith("palm-search") for name in threads[1:]), threads
        first_two = counts.index(2) if 2 in counts else None
        assert first_two is not None and first_two <= 2 * REDETECT_EVERY, counts
        assert counts[first_two:] == [2] * (len(counts) - first_two), counts
    finally:
        det.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("palm-search")]


def test_live_landmark_model_runs_on_session_threads_and_finds_the_same_hands(photos, monkeypatch):
    """The vision child runs the landmark model on vision/landmarks.session_threads (2 where the process may use 2
    cores: a frame's hand state is out ~1 ms sooner), the palm detector on 1; analysis and calibration keep one
    thread. XNNPACK's threads split the work, not the sums: the hands found are the same to the bit, so `analyze` of
    a recorded session still reads what the live session read."""
    from vision.detector import DetectorUnavailable, make_detector
    from vision.landmarks import LandmarkDetector, session_threads
    assert session_threads(settings(landmark_threads=3)) == 3
    monkeypatch.setattr("game.cputime.cores", lambda: 1)
    assert session_threads(settings()) == 1
    monkeypatch.setattr("game.cputime.cores", lambda: 8)
    assert session_threads(settings()) == 2
    try:
        live = make_detector(settings(detector="landmarks"), live=True)
        offline = make_detector(settings(detector="landmarks"))
        # the same tracker, in line, on 2 threads and on 1: only the threads differ
        two = LandmarkDetector.from_settings(settings(), landmark_threads=2)
        one = LandmarkDetector.from_settings(settings())
    except DetectorUnavailable as e:
        standins.missing(f"landmarks detector: {e}")
    try:
        assert (live.threads, offline.threads, two.threads, one.threads) == (2, 1, 2, 1)
        assert live.background_search and not offline.background_search
        assert live.describe() == "landmarks (lite models on LiteRT, 2 threads)"
        assert offline.describe() == "landmarks (lite models on LiteRT)"
        frames = [f for f, t in hc.clip_with_hand(photos["building"], 30, seed=5) if t is not None]
        found = 0
        for frame in frames:
            a, b = two.detect(frame).hand, one.detect(frame).hand
            assert (a is None) == (b is None)
            if a is not None:
                found += 1
                assert np.array_equal(a.landmarks, b.landmarks) and a.area == b.area
        assert found >= 0.9 * len(frames)
    finally:
        for det in (live, offline, two, one):
            det.close()


def test_a_copy_of_a_hand_nested_inside_it_is_one_hand_and_two_hands_side_by_side_are_two():
    """A palm found on a hand's fingers gives a second, squashed set of landmarks inside the first (a small hand over
    an orange: it read 0.0002-0.007 of the frame for 0.013, with the other handedness, and took the pitch); their
    crops differ so much in size that their IoU (0.28) did not tell. The larger is kept, even when the copy is more
    present; hands side by side stay two, the more present first."""
    from vision import landmarks
    rng = np.random.default_rng(1)

    def hand(x0, y0, w, h, presence=0.9):
        xy = np.column_stack([rng.uniform(x0, x0 + w, 21), rng.uniform(y0, y0 + h, 21)]).astype(np.float32)
        xy[0], xy[1] = (x0, y0), (x0 + w, y0 + h)
        return (presence, xy, 0.5, landmarks.roi_from_landmarks(xy))
    real, copy = hand(195, 246, 53, 87, 0.91), hand(196, 243, 34, 47, 0.97)
    assert landmarks._overlap(real[3], copy[3]) <= landmarks.SAME_HAND_IOU
    assert landmarks._distinct_hands([copy, real]) == [real] and landmarks._distinct_hands([real, copy]) == [real]
    left, right = hand(120, 200, 60, 100, 0.8), hand(400, 210, 60, 100, 0.95)
    assert landmarks._distinct_hands([left, right, copy, real]) == [right, real, left]
    again = hand(123, 203, 60, 100, 0.99)                  # the same hand a few pixels on: by IoU, the more present
    assert landmarks._distinct_hands([left, again]) == [again]


def test_a_tracked_crop_follows_the_hands_change_of_size(detector_factory, photos):
    """The next crop goes on with half the hand's last change of size when it changed the same way the frame before
    too (a hand moving away or nearer); not after a jump (a change over MAX_GROWTH), nor when it turned, nor without
    two frames of history. A tracked hand's crop carries its past sizes."""
    from vision import landmarks

    def roi(*sizes):
        return palm_mod.Roi(300.0, 200.0, sizes[-1], 0.0, past=sizes[:-1])
    assert landmarks._growth(roi(100.0, 90.0, 81.0)) == pytest.approx(0.9 ** 0.5)       # moving away
    assert landmarks._growth(roi(100.0, 110.0, 121.0)) == pytest.approx(1.1 ** 0.5)     # coming nearer
    assert landmarks._growth(roi(300.0, 100.0, 90.0)) == 1.0      # settling after a jump
    assert landmarks._growth(roi(100.0, 90.0, 99.0)) == 1.0       # turned
    assert landmarks._growth(roi(90.0, 81.0)) == landmarks._growth(roi(81.0)) == 1.0
    det = detector_factory()
    frame = photos["home"].copy()
    hc.paste_hand(frame, hc.hand_mask(320, 260, 120), hc.TONES["medium"], 3)
    det.detect(frame)                            # found by the palm search: no past
    assert det.rois and det.rois[0].past == ()
    first = det.rois[0].size
    det.detect(frame)
    second = det.rois[0].size
    det.detect(frame)
    assert det.rois[0].past == (first, second)
    sizes = []
    model_run = det.model.run
    det.model.run = lambda f, crop: sizes.append(crop.size) or model_run(f, crop)
    det.rois = [roi(100.0, 90.0, 81.0)]
    det.detect(frame)
    assert sizes[0] == pytest.approx(81.0 * 0.9 ** 0.5)           # the crop used is the grown one
