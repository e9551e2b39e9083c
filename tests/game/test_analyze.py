"""python main.py analyze VIDEO: the same frames, notes and score whatever --workers and --mode, the reports of a
live session, a session.mp4 on its session's clock, and one-line errors.

The clip: 8 s of the demo clip's hand playing "Ode to Joy" from the song's start (vision/pipelinebench.write_clip,
the demo renderer), re-encoded as MPEG-4 Part 2 like a session.mp4, so seeking to a segment goes through key frames.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_app
from game.analyze import VOICE_FIELDS, voice_from_session

SONG = "ode_to_joy"
FRAMES = 240            # 8 s at 30 fps: 3 segments of 90 frames
RESULT = ("frame_index", "t_capture", "present", "area", "cx", "cy")   # frames.csv without its timings


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from vision.pipelinebench import write_clip
    d = tmp_path_factory.mktemp("analyze-clip")
    mjpg = write_clip(d / "clip.avi", FRAMES, 0.0)
    cap = cv2.VideoCapture(str(mjpg))
    out = d / "clip.mp4"
    w = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        w.write(frame)
        n += 1
    w.release()
    cap.release()
    assert n == FRAMES
    return out


def analyze(video, out: Path, *args, env=None):
    proc = run_app("analyze", video, "--song", SONG, "--out", out, "--json", *args, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout)
    folder = Path(result["folder"])
    assert folder.parent == out and folder.name.endswith("-analysis")
    return result, folder


def result_columns(folder: Path) -> list[tuple]:
    with open(folder / "frames.csv", newline="", encoding="utf-8") as f:
        return [tuple(row[c] for c in RESULT) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def runs(clip, tmp_path_factory):
    """One sequential run and parallel runs with 2 threads and 2 processes (the threads one compares itself with a
    sequential run too)."""
    base = tmp_path_factory.mktemp("analyze-runs")
    out = {}
    for name, args in (("sequential", ("--workers", "1", "--no-compare")),
                       ("threads", ("--workers", "2", "--mode", "threads")),
                       ("processes", ("--workers", "2", "--mode", "processes", "--no-compare"))):
        (base / name).mkdir()
        out[name] = analyze(clip, base / name, *args)
    return out


def test_same_frames_notes_and_score_whatever_the_workers_and_mode(runs):
    (seq, seq_dir) = runs["sequential"]
    frames = result_columns(seq_dir)
    assert len(frames) == FRAMES
    assert sum(float(r[2]) for r in frames) > FRAMES / 2, "the demo hand is seen in most frames"
    score = json.loads((seq_dir / "score.json").read_text())
    for name in ("threads", "processes"):
        result, folder = runs[name]
        assert result["run"]["workers"] == 2 and result["run"]["mode"] == name
        assert result_columns(folder) == frames, f"{name}: other hands than the sequential run"
        assert (folder / "notes.csv").read_bytes() == (seq_dir / "notes.csv").read_bytes()
        assert (folder / "synth.csv").read_bytes() == (seq_dir / "synth.csv").read_bytes()
        assert json.loads((folder / "score.json").read_text()) == score
        assert result["score"] == seq["score"] == score["total"]
    threads = runs["threads"][0]
    assert threads["identical"] is True and threads["sequential"]["mode"] == "sequential"


def test_the_reports_of_a_session_and_the_score_of_game_scoring(runs):
    from game.scoring import score as score_track
    from game.settings import build
    from game.song import load_for
    from reports.track import max_gap, played_track
    result, folder = runs["sequential"]
    for name in ("notes.csv", "score.json", "report.pdf", "stats.json", "frames.csv", "synth.csv", "synth.wav",
                 "session.json", "stats-analysis.json"):
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    # the score again, from the synth log, by game/scoring: as the reports do it
    settings = build({"song": SONG})
    song = load_for(settings)
    with open(folder / "synth.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    synth = {c: np.array([float(r[c]) if r[c] != "" else np.nan for r in rows]) for c in ("t_dac", "midi", "amplitude")}
    stats = json.loads((folder / "stats-synth.json").read_text())
    track = played_track(synth, song.duration, gap=max_gap(stats))
    again = score_track(track, song, tolerance=settings.tolerance, transpose=0, difficulty=settings.difficulty,
                        octave_fold=settings.octave_fold, delay=settings.delay)
    saved = json.loads((folder / "score.json").read_text())
    assert again["total"] == saved["total"] == result["score"]
    # the demo hand plays the song's first 8 s: those notes are hit, the rest of the song is missed
    first = [n["hit_fraction"] for n in saved["notes"] if n["start"] + n["duration"] < 7.5]
    later = [n["hit_fraction"] for n in saved["notes"] if n["start"] > 8.5]
    assert len(first) >= 5 and np.mean(first) > 0.8, first
    assert later and max(later) == 0.0
    # synth blocks cover the video, and the tone sounds while the hand is there
    assert synth["t_dac"][0] == 0.0 and synth["t_dac"][-1] == pytest.approx(FRAMES / 30.0, abs=0.01)
    assert (synth["amplitude"] > 0.05).mean() > 0.4


def test_figures_are_sane(runs):
    result, _folder = runs["threads"]
    run, seq = result["run"], result["sequential"]
    assert result["frames"] == run["frames"] == seq["frames"] == FRAMES
    assert result["segments"] == 3
    for f in (run, seq):
        assert 0 < f["frame_ms_p50"] <= f["frame_ms_p95"]
        assert f["fps"] == pytest.approx(FRAMES / f["total_s"], rel=0.02)
        assert 0 < f["cpu_utilisation"] <= 1.05
    assert result["speedup"] == pytest.approx(seq["total_s"] / run["total_s"], rel=0.02)
    assert seq["seeks"] == 0 and seq["warmup_frames"] == 1 + 2 * 15   # one worker in order never seeks


def test_printed_figures(clip, tmp_path):
    proc = run_app("analyze", clip, "--song", SONG, "--out", tmp_path, "--workers", "2", "--detector", "classic",
                   timeout=180)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    text = proc.stdout
    for words in ("threads x2", "sequential", "frame ms p50", "CPU", "speedup", "results identical", "score:",
                  "reports in"):
        assert words in text, text


def test_a_session_mp4_is_on_its_sessions_clock_with_its_pauses(clip, tmp_path):
    session = tmp_path / "20260101-120000-ode-to-joy"
    session.mkdir()
    shutil.copy(clip, session / "session.mp4")
    (session / "session.json").write_text(json.dumps({"song": "Ode to Joy", "pauses": [[3.0, 5.0]]}))
    (session / "stats-videowriter.json").write_text(json.dumps({"fps": 30.0, "frames_written": FRAMES}))
    result, folder = analyze(session / "session.mp4", tmp_path, "--workers", "1", "--detector", "classic")
    assert "session clock" in result["frame_clock"] and "1 pause" in result["frame_clock"]
    record = json.loads((folder / "session.json").read_text())
    assert record["pauses"] == [[3.0, 5.0]]
    assert record["duration_s"] == pytest.approx(FRAMES / 30.0 - 2.0, abs=0.02)
    with open(folder / "synth.csv", newline="") as f:
        rows = [(float(r["t_dac"]), float(r["amplitude"])) for r in csv.DictReader(f)]
    held = [a for t, a in rows if 3.2 <= t < 4.0]        # paused (the count-in before 5.0 plays the hand again)
    assert held and max(held) == 0.0
    assert max(a for t, a in rows if t < 3.0) > 0.1


def test_errors_say_what_to_do(tmp_path, clip):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    proc = run_app("analyze", junk, "--out", tmp_path)
    assert proc.returncode == 2
    assert "cannot open video file" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr

    empty = tmp_path / "empty.avi"
    w = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    w.release()
    proc = run_app("analyze", empty, "--out", tmp_path)
    assert proc.returncode == 2
    assert "has no frames" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr

    env = dict(os.environ, HANDTONE_MODELS_DIR=str(tmp_path / "no-models"))
    proc = run_app("analyze", clip, "--out", tmp_path, "--detector", "landmarks", env=env)
    assert proc.returncode == 2
    assert "cannot load" in proc.stderr and "--detector classic" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr

    proc = run_app("analyze", tmp_path / "missing.mp4", "--out", tmp_path)
    assert proc.returncode == 2 and "no video at" in proc.stderr
    assert not list(tmp_path.glob("*-analysis")), "no folder is made for an analysis that cannot run"


def test_segments_do_not_depend_on_the_workers_and_classic_state_stays_identical(clip):
    """The classic detector learns a background and smooths: threads and processes still give its very frames."""
    from game.settings import Settings
    from vision import videoscan
    plan = videoscan.plan(FRAMES)
    assert [(s.start, s.stop, s.warm) for s in plan] == [(0, 90, 0), (90, 180, 75), (180, None, 165)]
    settings = Settings(camera=str(clip), song=SONG, detector="classic", window=False)
    one = videoscan.scan(clip, settings, FRAMES, 1)
    for mode in ("threads", "processes"):
        two = videoscan.scan(clip, settings, FRAMES, 2, mode)
        assert two.workers == 2 and two.frames == FRAMES
        assert two.hands.tobytes() == one.hands.tobytes(), mode
    assert one.hands[:, 0].mean() > 0.5


def test_a_second_analysis_in_the_same_second_keeps_its_suffix(tmp_path, monkeypatch):
    """Two folders named in the same second: the second gets -2 before the suffix, not instead of it."""
    from datetime import datetime
    from types import SimpleNamespace

    from game import analyze, launcher

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 22, 12, 0, 0)

    monkeypatch.setattr(launcher, "datetime", Frozen)
    settings = SimpleNamespace(out_dir=str(tmp_path))
    song = SimpleNamespace(title="Frère Jacques")
    first, second = analyze.new_folder(settings, song), analyze.new_folder(settings, song)
    assert first.name == "20261122-120000-frere-jacques-analysis"
    assert second.name == "20261122-120000-frere-jacques-2-analysis"
    assert launcher.new_session_dir(tmp_path, song).name == "20261122-120000-frere-jacques"
    assert launcher.new_session_dir(tmp_path, song).name == "20261122-120000-frere-jacques-2"


def test_a_recorded_session_is_analysed_from_its_camera_video_as_it_was_played(no_audio_env, tmp_path):
    """`analyze SESSION/session.mp4` (or the folder): session.mp4 has the game drawn over the hand, which hid it from
    the detector (score 0); the camera's own pictures beside it (camera.mp4) give the notes and the score the live
    session had, judged with the session's own song and settings (no --song given)."""
    proc = run_app("demo", "--no-window", "--record-video", "--duration", "8", "--difficulty", "hard",
                   "--snap", "chromatic", "--snap-strength", "0.9", "--vibrato", "20",
                   "--out", tmp_path / "sessions", env=no_audio_env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (session,) = (tmp_path / "sessions").iterdir()
    live = json.loads((session / "score.json").read_text())
    for target, args in ((session / "session.mp4", ("--workers", "2")), (session, ("--no-compare",))):
        out = tmp_path / f"analysis-{target.name}"
        proc = run_app("analyze", target, "--out", out, "--json", *args, env=no_audio_env, timeout=180)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        result = json.loads(proc.stdout)
        assert Path(result["video"]) == session / "camera.mp4"
        assert "detecting in camera.mp4" in proc.stderr or target.is_dir(), proc.stderr
        assert "scored as" in proc.stderr and "hard" in proc.stderr, proc.stderr
        assert "session clock" in result["frame_clock"]
        folder = Path(result["folder"])
        with open(folder / "frames.csv", newline="", encoding="utf-8") as f:
            present = [float(r["present"]) for r in csv.DictReader(f)]
        assert sum(present) > 0.8 * len(present), "the hand is found in the camera's pictures"
        score = json.loads((folder / "score.json").read_text())
        assert score["difficulty"] == "hard" and score["song"] == live["song"]
        assert abs(score["total"] - live["total"]) <= 300, (score["total"], live["total"])
        # the hand tone replayed as it sounded: the session's snapping, vibrato, block, pitch range and detector
        played, analysed = (json.loads((d / "session.json").read_text()) for d in (session, folder))
        for group, fields in VOICE_FIELDS.items():
            assert {f: analysed[group][f] for f in fields} == {f: played[group][f] for f in fields}, group
        assert played["sound"]["snap"] == "chromatic" and played["sound"]["vibrato_cents"] == 20
        assert (json.loads((folder / "stats-vision.json").read_text())["detector"]
                == json.loads((session / "stats-vision.json").read_text())["detector"])


def test_the_voice_and_detector_come_from_the_session_unless_given(tmp_path):
    """voice_from_session: what session.json kept (an older one keeps less) and the detector stats-vision.json says
    ran, less what the command line gives."""
    session = {"sound": {"block": 256, "snap": "scale", "snap_strength": 0.3, "vibrato_cents": 10.0,
                         "glide_ms": 50.0, "latency": "high"},
               "pitch": {"area_far": 0.02, "area_near": 0.2, "pitch_margin": 1.0},
               "hands": {"pitch_hand": "left", "landmark_model": "full"}}
    (tmp_path / "stats-vision.json").write_text(json.dumps({"detector": "classic"}))
    got = voice_from_session(session, tmp_path, given=set())
    assert got == {"block": 256, "snap": "scale", "snap_strength": 0.3, "vibrato_cents": 10.0, "glide_ms": 50.0,
                   "area_far": 0.02, "area_near": 0.2, "pitch_margin": 1.0, "pitch_hand": "left",
                   "landmark_model": "full", "detector": "classic"}
    got = voice_from_session(session, tmp_path, given={"snap", "detector", "area_far"})
    assert "snap" not in got and "detector" not in got and "area_far" not in got and got["block"] == 256
    (tmp_path / "stats-vision.json").unlink()
    assert voice_from_session({"sound": {"block": 64}}, tmp_path, set()) == {"block": 64}


def test_another_detector_given_takes_its_own_pitch_range_not_the_sessions(tmp_path):
    """The calibration keeps a range per detector (they measure hands differently): a session that ran landmarks,
    analysed with --detector classic, must not be scored with the landmarks' hand sizes."""
    session = {"pitch": {"area_far": 0.02, "area_near": 0.2, "pitch_margin": 1.0}}
    (tmp_path / "stats-vision.json").write_text(json.dumps({"detector": "landmarks"}))
    for other in ("classic", "auto", None):
        got = voice_from_session(session, tmp_path, given={"detector"}, detector=other)
        assert "area_far" not in got and "area_near" not in got and got["pitch_margin"] == 1.0, other
    assert voice_from_session(session, tmp_path, given=set())["area_far"] == 0.02
    # the detector the session ran, named on the command line: the session's range still holds
    same = voice_from_session(session, tmp_path, given={"detector"}, detector="landmarks")
    assert (same["area_far"], same["area_near"]) == (0.02, 0.2) and "detector" not in same
