"""c during a session: the classic detector relearns the player's skin colours from the box, with the song paused
meanwhile (live camera), saves them for the player, and goes on; the landmarks detector restarts its tracking."""
from __future__ import annotations

import json
import time

from game.settings import Settings
from vision.calibrate import BOX
from vision.handdraw import Painter
from visionkit import Session, press_key


def hand_in_the_box(width=640, height=480):
    """The room with the drawn hand filling the calibration box (what a player does when told to)."""
    x, y, w, h = BOX
    return Painter(width, height).paint((width * (x + w / 2), height * (y + h * 0.62), height * h * 0.5)).copy()


def run_with_key(tmp_path, xvfb, monkeypatch, mjpeg_server, detector: str, wait_for: str, seconds: float):
    monkeypatch.setenv("DISPLAY", xvfb.display)
    frame = hand_in_the_box()
    server = mjpeg_server(lambda i: frame, fps=30.0)
    settings = Settings(camera=server.url, window=True, detector=detector, player="Ada",
                        calibration_dir=str(tmp_path / "cal"))
    ses = Session(tmp_path, settings).spawn()
    messages = []
    try:
        ses.go()
        press_key(xvfb.display, ses.process.pid, "c")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not any(wait_for in str(m) for m in messages):
            messages += ses.messages()
        ses.stop()
        assert ses.process.exitcode == 0
    finally:
        ses.close()
    return messages


def test_c_recalibrates_the_classic_detector_with_the_song_paused(tmp_path, xvfb, monkeypatch, mjpeg_server):
    messages = run_with_key(tmp_path, xvfb, monkeypatch, mjpeg_server, "classic", "recalibrated", 15)
    texts = [str(m) for m in messages]
    assert ("pause", "vision", "recalibrating (c)") in messages, texts
    assert any("recalibrating: hold your open hand in the box" in t for t in texts), texts
    done = [t for t in texts if "recalibrated:" in t]
    assert done and "saved in" in done[0], texts
    assert ("pause", "vision", "recalibrated (c)") in messages, texts   # and the song plays on
    saved = json.loads((tmp_path / "cal" / "ada.json").read_text())
    assert saved["player"] == "Ada" and saved["source"] == "in session"


def test_c_restarts_landmarks_tracking(tmp_path, xvfb, monkeypatch, mjpeg_server):
    messages = run_with_key(tmp_path, xvfb, monkeypatch, mjpeg_server, "landmarks", "tracking restarted", 8)
    assert any("hand tracking restarted" in str(m) for m in messages), messages
    assert not [m for m in messages if m[0] == "pause"], "no pause for the landmarks detector"
