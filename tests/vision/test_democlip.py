"""The demo clip plays the song: the area the detector measures maps to the target notes; it is cached."""
from __future__ import annotations

import time

import cv2
import pytest

from game.pitchmap import PitchMap
from game.settings import Settings
from game.song import load
from vision import democlip
from vision.classic import ClassicDetector


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "handtone"


@pytest.mark.parametrize("song", ["ode_to_joy", "twinkle"])
def test_clip_plays_the_song(cache, song):
    settings = Settings(song=song)
    path = democlip.demo_clip_path(settings)
    assert path.parent == cache and path.suffix == ".avi"
    s = load(song)
    pm = PitchMap.for_song(s, settings)
    script = democlip.HandScript(s, settings)
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    det = ClassicDetector(settings.width, settings.height)
    inside = good = early = n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (settings.height, settings.width, 3)
        r = det.detect(frame)
        t = n / democlip.CLIP_FPS
        note = s.note_at(t)
        if note is not None:
            inside += 1
            if r.present and abs(pm.midi(r.hand.area) - note.midi) <= 0.5:
                good += 1
        if t < script.appear and r.present:
            early += 1
        n += 1
    cap.release()
    assert n == pytest.approx((s.duration + settings.tail + 1.0) * 30, abs=1)
    assert script.appear >= min(1.5, s.notes[0].start - 0.5)
    assert early == 0, "a hand before the lead-in"
    assert inside > 300 and good / inside >= 0.90, f"{good}/{inside} frames on pitch"


def test_cache_reused_and_keyed(cache):
    settings = Settings(song="frere_jacques")
    t = time.monotonic()
    first = democlip.demo_clip_path(settings)
    made = time.monotonic() - t
    mtime = first.stat().st_mtime_ns
    t = time.monotonic()
    again = democlip.demo_clip_path(settings)
    assert again == first and time.monotonic() - t < 0.1 < made
    assert first.stat().st_mtime_ns == mtime
    other = democlip.demo_clip_path(settings.replace(area_near=0.2))
    assert other != first and other.is_file()
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, other.name])  # no temp files left
