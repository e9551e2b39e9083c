"""--record-video through `python main.py`: session.mp4 (the annotated picture) and camera.mp4 (the camera's own) play
after every stop path, stay on the session clock, show the demo hand; the frame rings exist only with the option and
never stay in /dev/shm."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_app
from test_session import Running, _alive, _window_id, assert_reports, clean_shm, only_session  # noqa: F401

FPS = 30.0                       # the demo clip's rate (Settings.fps)
SKIN_BGR = (118, 158, 222)       # vision/handdraw.py's hand colour


def read_video(path: Path) -> tuple[int, float, float]:
    """(frames, largest share of skin-coloured pixels in a frame, mean brightness) of a video OpenCV can read."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path.name} does not open"
    frames, skin, brightness = 0, 0.0, []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if frames % 10 == 0:
            skin = max(skin, float((np.abs(frame.astype(np.int16) - SKIN_BGR).max(axis=2) < 40).mean()))
            brightness.append(float(frame.mean()))
        frames += 1
    cap.release()
    return frames, skin, float(np.mean(brightness)) if brightness else 0.0


def assert_on_session_clock(frames: int, seconds: float) -> None:
    """Video time matches session time: about one frame per 1/fps of the session."""
    expected = seconds * FPS
    assert abs(frames - expected) <= 0.1 * expected + 3, f"{frames} frames for {seconds:.2f} s at {FPS:g} fps"


def ring_path(launcher_pid: int, kind: str = "video") -> Path:
    return Path(f"/dev/shm/handtone-{launcher_pid}-{kind}")


def assert_both_videos(folder: Path, seconds: float | None, at_least: float = 0.0) -> int:
    """session.mp4 and camera.mp4 both play, show the hand and hold as many frames (one more or less where a kill
    fell between vision's two puts of a frame; on the session clock when ``seconds`` is given)."""
    frames, skin, _ = read_video(folder / "session.mp4")
    camera_frames, camera_skin, _ = read_video(folder / "camera.mp4")
    assert abs(camera_frames - frames) <= 1, (camera_frames, frames)
    if seconds is not None:
        assert_on_session_clock(frames, seconds)
    assert frames >= at_least
    assert skin > 0.02 and camera_skin > 0.02
    return frames


def stats(folder: Path, name: str) -> dict:
    return json.loads((folder / f"stats-{name}.json").read_text())


def test_demo_with_record_video_writes_the_annotated_session(no_audio_env, tmp_path, clean_shm):
    proc = run_app("demo", "--no-window", "--duration", "6", "--record-video", "--out", tmp_path,
                   env=no_audio_env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stderr, "trying codecs must not print OpenCV's errors"
    folder = only_session(tmp_path)
    info = assert_reports(folder)
    assert set(info["children"]) == {"vision", "synth", "music", "recorder", "videowriter"}
    assert all(c["exitcode"] == 0 for c in info["children"].values()), info["children"]
    frames, skin, brightness = read_video(folder / "session.mp4")
    assert_on_session_clock(frames, info["duration_s"])
    assert skin > 0.02, "the demo hand is in the video"
    assert brightness > 30, "not black frames"
    assert_both_videos(folder, info["duration_s"])
    writer = stats(folder, "videowriter")
    assert writer["frames_written"] == frames == writer["camera_frames_written"]
    assert writer["camera_file"] == "camera.mp4" and writer["camera_frames_lost"] == 0
    # camera.mp4 is the picture the detector saw: the demo clip's own frames, not the annotated ones
    clip = cv2.VideoCapture(str(folder / "camera.mp4"))
    annotated = cv2.VideoCapture(str(folder / "session.mp4"))
    for _ in range(int(2 * FPS)):
        ok_c, camera_frame = clip.read()
        ok_a, annotated_frame = annotated.read()
    clip.release()
    annotated.release()
    assert ok_c and ok_a
    assert np.abs(camera_frame.astype(int) - annotated_frame.astype(int)).mean() > 10, "the game is not drawn on it"
    assert writer["fourcc"] in ("avc1", "mp4v") and writer["fps"] == FPS
    vision = stats(folder, "vision")
    assert vision["video_frames_put"] == vision["frames"]
    assert writer["frames_taken"] + writer["frames_lost"] == vision["video_frames_put"], "every frame put counts"
    assert vision["video_picture"] in ("scene", "boxes")
    print(f"\nput {vision['video_put_ms_p50']}/{vision['video_put_ms_p95']} ms (p50/p95), "
          f"encode {writer['encode_ms_p50']}/{writer['encode_ms_p95']} ms, {writer['frames_lost']} lost, "
          f"{writer['frames_repeated']} repeated")
    report = json.loads((folder / "stats.json").read_text())
    assert not report["processes"]["videowriter"]["missing"]
    assert report["processes"]["videowriter"]["frames_written"] == frames


def test_without_record_video_there_is_no_fifth_child_and_no_ring(no_audio_env, tmp_path, clean_shm):
    run = Running(tmp_path, "demo", "--no-window", "--duration", "4", env=no_audio_env)
    run.wait_running()
    assert Path(f"/dev/shm/handtone-{run.proc.pid}-hand").exists(), "the check below looks in the right place"
    assert not ring_path(run.proc.pid).exists() and not ring_path(run.proc.pid, "camera").exists()
    code, out, err = run.finish()
    assert code == 0, out + err
    folder = only_session(tmp_path)
    info = assert_reports(folder)
    assert set(info["children"]) == {"vision", "synth", "music", "recorder"}
    assert not (folder / "session.mp4").exists() and not (folder / "stats-videowriter.json").exists()
    assert not (folder / "camera.mp4").exists()
    assert "videowriter" not in json.loads((folder / "stats.json").read_text())["processes"]
    assert "video_put_ms_p50" not in stats(folder, "vision")


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "synth SIGKILL", "vision SIGKILL"])
def test_every_stop_leaves_a_playable_video(no_audio_env, tmp_path, clean_shm, stop):
    run = Running(tmp_path, "demo", "--no-window", "--record-video", env=no_audio_env)
    info = run.wait_running()
    assert ring_path(run.proc.pid).exists() and ring_path(run.proc.pid, "camera").exists()
    time.sleep(3)
    if stop.endswith("SIGKILL"):   # vision: perhaps in the middle of a put, leaving that slot half filled
        os.kill(info["children"][stop.split()[0]]["pid"], signal.SIGKILL)
    else:
        run.proc.send_signal(getattr(signal, stop))
    code, out, err = run.finish()
    assert code == (1 if "SIGKILL" in stop else 0), out + err
    folder = only_session(tmp_path)
    info = assert_reports(folder)
    assert info["children"]["videowriter"]["exitcode"] == 0
    assert_both_videos(folder, info["duration_s"])


def test_the_song_ending_leaves_a_playable_video(no_audio_env, tmp_path, clean_shm):
    song = tmp_path / "short.toml"
    song.write_text('title = "Short"\nbpm = 120\nlead_in_beats = 2\nlines = ["E4 F4 G4 A4 G4 F4"]\n')
    out = tmp_path / "sessions"
    proc = run_app("demo", "--song", song, "--no-window", "--record-video", "--out", out, env=no_audio_env,
                   timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = only_session(out)
    info = assert_reports(folder)
    assert info["stop_reason"] == "song ended"
    frames, skin, _ = read_video(folder / "session.mp4")
    assert_on_session_clock(frames, info["duration_s"])
    assert skin > 0.02


def test_a_killed_video_writer_is_named_and_its_video_rebuilt(no_audio_env, tmp_path, clean_shm):
    run = Running(tmp_path, "demo", "--no-window", "--record-video", env=no_audio_env)
    info = run.wait_running()
    # 8 s: FFmpeg writes each file 256 KB at a time, about 1 s of session.mp4 and 3 s of camera.mp4 (the bare
    # camera picture compresses better): a video killed before its first write has nothing to rebuild
    time.sleep(8)
    os.kill(info["children"]["videowriter"]["pid"], signal.SIGKILL)
    code, out, err = run.finish()
    assert code == 1, out + err
    assert "videowriter process died: killed by SIGKILL" in out
    assert "videowriter: session.mp4 was not finished (killed by SIGKILL): rebuilt with" in out
    assert "videowriter: camera.mp4 was not finished (killed by SIGKILL): rebuilt with" in out
    folder = only_session(tmp_path)
    info = assert_reports(folder)
    assert any(n.startswith("videowriter: session.mp4 was not finished") for n in info["notices"])
    assert any(n.startswith("videowriter: camera.mp4 was not finished") for n in info["notices"])
    for name in ("session.mp4", "camera.mp4"):
        frames, skin, _ = read_video(folder / name)
        # what the killed encoder still held in memory is lost (about a second, see tests/vision/test_videowriter.py)
        assert 1.5 * FPS <= frames <= info["duration_s"] * FPS + 3, name
        assert skin > 0.02, name
    report = json.loads((folder / "stats.json").read_text())
    assert report["processes"]["videowriter"]["missing"], "it left no stats: the report says so"
    assert "videowriter" in report["summary"]["missing"]


def test_a_killed_launcher_still_leaves_a_playable_video(no_audio_env, tmp_path, clean_shm):
    run = Running(tmp_path, "demo", "--no-window", "--record-video", env=no_audio_env)
    info = run.wait_running()
    time.sleep(3)
    run.proc.kill()
    run.finish()
    pids = [c["pid"] for c in info["children"].values()]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), "children outlived their launcher"
    folder = only_session(tmp_path)
    assert_both_videos(folder, None, at_least=2 * FPS)


def test_q_in_the_window_leaves_the_windows_picture_as_video(no_audio_env, xvfb, tmp_path, clean_shm):
    from standins import require_tool
    require_tool("xdotool")
    env = no_audio_env | {"DISPLAY": xvfb.display}
    run = Running(tmp_path, "demo", "--record-video", env=env)
    run.wait_running()
    wid = _window_id(env)
    time.sleep(3)
    subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, check=True, timeout=10)
    subprocess.run(["xdotool", "key", "q"], env=env, check=True, timeout=10)
    code, out, err = run.finish()
    assert code == 0, out + err
    folder = only_session(tmp_path)
    info = assert_reports(folder)
    assert info["stop_reason"].startswith("player quit"), info["stop_reason"]
    assert stats(folder, "vision")["video_picture"] == "window"
    frames, skin, _ = read_video(folder / "session.mp4")
    assert_on_session_clock(frames, info["duration_s"])
    assert skin > 0.02
