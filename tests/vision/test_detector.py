"""The classic detector on drawn frames: the area it measures is the drawn hand's, and an empty room has no hand."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.classic import ClassicDetector
from vision.handdraw import Painter

W, H = 640, 480


@pytest.fixture(scope="module")
def painter():
    return Painter(W, H)


def fresh(painter) -> ClassicDetector:
    d = ClassicDetector(W, H)
    assert not d.detect(painter.paint(None).copy()).present  # learns the empty room
    return d


@pytest.mark.parametrize("cx,cy,scale", [(320.0, 300.0, 45.0), (200.5, 280.25, 80.0), (450.0, 300.0, 120.0),
                                         (320.0, 290.0, 170.0)])
def test_area_matches_drawn_hand(painter, cx, cy, scale):
    d = fresh(painter)
    frame = painter.paint((cx, cy, scale)).copy()
    truth = cv2.countNonZero(painter.mask) / (W * H)
    r = d.detect(frame)
    assert r.present and len(r.hands) == 1
    assert r.hand.area == pytest.approx(truth, rel=0.03)
    ys, xs = np.nonzero(painter.mask)
    x, y, w, h = r.hand.box
    assert abs(x - xs.min()) <= 2 and abs(y - ys.min()) <= 2
    assert abs(x + w - 1 - xs.max()) <= 2 and abs(y + h - 1 - ys.max()) <= 2
    assert r.hand.cx == pytest.approx(1.0 - xs.mean() / W, abs=0.01)  # mirrored view
    assert r.hand.cy == pytest.approx(ys.mean() / H, abs=0.01)
    assert 0.5 < r.hand.confidence <= 1.0


def test_no_hand_in_empty_room(painter):
    d = fresh(painter)
    room = painter.paint(None).copy()
    for _ in range(5):
        assert not d.detect(room).present
    assert d.detect(painter.paint((320.0, 300.0, 90.0)).copy()).present
    for _ in range(3):  # the hand left again
        r = d.detect(room)
        assert not r.present and r.hand is None


def test_still_hand_stays_detected(painter):
    """Background learning must not swallow a hand that holds still (a long note)."""
    d = fresh(painter)
    frame = painter.paint((300.0, 300.0, 100.0)).copy()
    truth = cv2.countNonZero(painter.mask) / (W * H)
    for _ in range(150):
        r = d.detect(frame)
    assert r.present and r.hand.area == pytest.approx(truth, rel=0.03)


def test_static_skin_coloured_thing_is_not_a_hand(painter):
    """A skin-coloured patch that was there from the start (a wooden door) is background."""
    room = painter.paint(None).copy()
    cv2.rectangle(room, (20, 300), (140, 460), (118, 158, 222), -1)
    d = ClassicDetector(W, H)
    for _ in range(3):
        assert not d.detect(room).present


def test_second_hand(painter):
    d = fresh(painter)
    frame = painter.paint((180.0, 300.0, 100.0)).copy()
    big = cv2.countNonZero(painter.mask)
    m = painter.mask.copy()
    painter.paint((500.0, 260.0, 60.0))
    frame2 = frame.copy()
    cv2.copyTo(painter.skin, painter.mask, frame2)
    r = d.detect(frame2)
    assert len(r.hands) == 2
    assert r.hand.area == pytest.approx(big / (W * H), rel=0.03)
    assert r.second.cx < r.hand.cx  # the second hand is on the camera's right: the mirrored view's left
    assert not np.any(m & painter.mask)


def test_unknown_detector_says_what_to_use():
    from types import SimpleNamespace

    from vision.detector import DetectorUnavailable, make_detector
    with pytest.raises(DetectorUnavailable, match=r"^unknown detector 'hog': use one of auto, landmarks, classic$"):
        make_detector(SimpleNamespace(detector="hog", width=640, height=480, pitch_hand="right"))
