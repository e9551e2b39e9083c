"""`python main.py analyze VIDEO`: hand detection over a recorded video in parallel, then the notes, score and
scorecard a live session of --song would have given, and how fast it went against a sequential run.

What it does, and why each way:
- detection: vision/videoscan.py, the session's own detector (make_detector, settings as a live session, the search
  for a second hand in line) over every frame, in fixed segments that make the result the same for any --workers
  and --mode;
- frame times: a session's session.mp4 shows session time k / fps at frame k (vision/videowriter.py fills gaps by
  repeating pictures), so next to its session.json the times are k / fps with the writer's fps
  (stats-videowriter.json) and the session's pauses apply; any other video: k / fps from its container;
- the played pitch: game/handreplay.py renders the live synth voice over those hand states (synth.csv, synth.wav);
- the reports: an analysis folder (out dir, `<date>-<song>-analysis`) gets frames.csv, stats-vision.json,
  session.json and the synth's files in the live formats, and reports/build.build_reports makes notes.csv,
  score.json, stats.json, report.pdf and a summary.eml draft from them, as for a session. Nothing is emailed; the
  builder records the folder in the history like any rebuilt session (in --data-dir).
Timing: per-frame read+detect time p50/p95, total time, CPU utilisation (CPU of this process and its worker processes
over wall time and cores), frames per second, and with --compare (default) a sequential run of the same segments
whose results must be byte-identical (said either way; exit 1 when they differ).
"""
from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from game.child import write_json
from game.launcher import REPLAYED_HANDS, REPLAYED_PITCH, REPLAYED_SOUND
from game.cputime import cores
from game.quiet import quiet_ffmpeg
from vision import videoscan
from vision.videowriter import CAMERA_FILE as CAMERA_VIDEO, FILE_NAME as SESSION_VIDEO   # a session's two videos

FOLDER_SUFFIX = "-analysis"


class AnalyzeError(RuntimeError):
    """The analysis cannot run; the message is one line saying what to do."""


# ---- the video ----------------------------------------------------------------------------------------------------


def choose_video(video: Path, say) -> Path:
    """The file to detect in: a session's camera.mp4 (the camera's own pictures) when given its session.mp4 (the
    game drawn over the hand hides it from the detector) or its folder; else the file given."""
    if video.is_dir():
        for name in (CAMERA_VIDEO, SESSION_VIDEO):
            if (video / name).is_file():
                video = video / name
                break
        else:
            raise AnalyzeError(f"no {CAMERA_VIDEO} or {SESSION_VIDEO} in {video}: record a session with "
                               "--record-video, or give a video file")
    if video.name == SESSION_VIDEO and (video.parent / CAMERA_VIDEO).is_file():
        say(f"detecting in {CAMERA_VIDEO} beside it: the camera's own pictures on the same clock ({SESSION_VIDEO} "
            "has the game drawn over the hand)")
        return video.parent / CAMERA_VIDEO
    if not video.exists():
        hint = (f": a session has one only when it was played with --record-video"
                if video.name in (SESSION_VIDEO, CAMERA_VIDEO) else "")
        raise AnalyzeError(f"no video at {video}{hint}; give a video file, e.g. sessions/<session>/{CAMERA_VIDEO}")
    return video


def session_of(video: Path) -> dict | None:
    """session.json beside a session's own video (session.mp4 or camera.mp4), or None (another video, or the folder
    of an analysis)."""
    if video.name not in (SESSION_VIDEO, CAMERA_VIDEO):
        return None
    session = _json(video.parent / "session.json")
    return session if session is not None and "analysis" not in session else None


#: session.json -> the settings field that plays the same song (game/launcher.session_fields)
SONG_FIELDS = {"song_path": "song", "voice": "voice", "track": "track", "tempo": "tempo"}


def song_from_session(session: dict, given: set) -> dict:
    """The settings that load the session's song as it was played (its file, voice, track, tempo), less those the
    command line gives (``given``: settings field names)."""
    out = {}
    for key, field in SONG_FIELDS.items():
        value = session.get(key)
        if field in given or value is None:
            continue
        if field == "song" and not Path(str(value)).is_file():
            continue                     # a song file that has moved since: the command line's song
        out[field] = value
    return out


#: session.json's groups -> the settings fields the live voice and detector ran with (game/launcher.session_fields)
VOICE_FIELDS = {"sound": ("block", "snap", "snap_strength", "vibrato_cents", *REPLAYED_SOUND),
                "pitch": REPLAYED_PITCH, "hands": REPLAYED_HANDS}


def voice_from_session(session: dict, session_dir: Path, given: set, detector: str | None = None) -> dict:
    """The settings the session's voice and detector ran with, less those the command line gives (``given``):
    block, snapping, vibrato, glide, envelope, volume, the pitch range (as calibrated then), the pitch hand, the
    landmark model, and the detector that ran (stats-vision.json). A session from before these were kept gives
    what it has; the rest stay as now. ``detector``: the one the command line gives, when it does."""
    out = {}
    for group, fields in VOICE_FIELDS.items():
        recorded = session.get(group)
        if not isinstance(recorded, dict):
            continue
        out |= {f: recorded[f] for f in fields if f not in given and recorded.get(f) is not None}
    ran = (_json(session_dir / "stats-vision.json") or {}).get("detector")
    if "detector" not in given and ran in ("landmarks", "classic"):
        out["detector"] = ran
    elif "detector" in given and ran is not None and detector != ran:
        # another detector measures other hand sizes: its own calibrated range, not the session's (the caller
        # falls back to the player's calibration for the detector that will run); "auto" counts as another
        out.pop("area_far", None)
        out.pop("area_near", None)
    return out


def probe(video: Path, settings) -> tuple[int, float, str]:
    """(frames, fps, description) of a video the session's reader can decode; AnalyzeError otherwise."""
    import cv2

    from game.child import ChildFailure
    from vision.sources import FileSource
    try:
        src = FileSource(video, settings.replace(loop_video=False))
    except ChildFailure:
        raise AnalyzeError(f"cannot open video file {video} (not a video OpenCV can read): give a video file, "
                           "e.g. a session's session.mp4") from None
    try:
        ok, _frame, _t = src.read()
        if not ok:
            raise AnalyzeError(f"{video} has no frames OpenCV can decode: give a video with pictures in it "
                               "(e.g. a session recorded with --record-video)")
        frames = src.frames
        if frames < 1:   # the container does not say: count them
            frames = 1
            while src.cap.grab():
                frames += 1
        cap_fps = src.cap.get(cv2.CAP_PROP_FPS)
        return frames, src.fps, src.describe() if cap_fps else f"{src.describe()}, no frame rate in the file"
    finally:
        src.close()


def video_clock(video: Path, frames: int, fps: float) -> tuple[np.ndarray, list, str]:
    """(session time of each frame, the session's pauses, how the times were found)."""
    folder = video.parent
    session = session_of(video)
    writer = _json(folder / "stats-videowriter.json") if session is not None else None
    wfps = writer.get("fps") if writer else None
    if session is not None and isinstance(wfps, (int, float)) and math.isfinite(wfps) and wfps > 0:
        from game.pause import spans_from
        pauses = [list(p) for p in spans_from(session)]
        return (np.arange(frames) / float(wfps), pauses,
                f"session clock of {folder.name} (frame k at k / {wfps:g} s, stats-videowriter.json; "
                f"{len(pauses)} pause(s) from session.json)")
    return np.arange(frames) / fps, [], f"the video's {fps:g} fps (frame k at k / {fps:g} s)"


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def resolve_detector(settings, notice):
    """settings naming the detector that will run (auto decided once, here), or AnalyzeError saying what to do."""
    from vision.detector import DetectorUnavailable, make_detector
    try:
        det = make_detector(settings, notice)
    except DetectorUnavailable as e:
        raise AnalyzeError(f"the {settings.detector} detector cannot load ({e}); or try --detector classic") from None
    return settings.replace(detector=det.name), det.describe()


# ---- figures ------------------------------------------------------------------------------------------------------
def figures(scan: videoscan.Scan) -> dict:
    from game.figures import percentile as pct
    frame_ms = scan.read_ms + scan.detect_ms
    n_cores = cores()
    return {"mode": scan.mode, "workers": scan.workers, "frames": scan.frames, "total_s": round(scan.wall_s, 3),
            "fps": round(scan.frames / scan.wall_s, 1) if scan.wall_s > 0 else None,
            "frame_ms_p50": pct(frame_ms, 50), "frame_ms_p95": pct(frame_ms, 95),
            "detect_ms_p50": pct(scan.detect_ms, 50), "detect_ms_p95": pct(scan.detect_ms, 95),
            "cpu_s": round(scan.cpu_s, 3),
            "cpu_utilisation": round(scan.cpu_s / scan.wall_s / n_cores, 3) if scan.wall_s > 0 else None,
            "warmup_frames": scan.warmup_frames, "seeks": scan.seeks}


def identical(a: videoscan.Scan, b: videoscan.Scan) -> bool:
    return a.hands.shape == b.hands.shape and a.hands.tobytes() == b.hands.tobytes()


# ---- the analysis folder ------------------------------------------------------------------------------------------
def new_folder(settings, song) -> Path:
    from game.launcher import new_session_dir
    try:
        return new_session_dir(Path(settings.out_dir).expanduser(), song, FOLDER_SUFFIX)
    except OSError as e:
        raise AnalyzeError(f"cannot make a folder in {settings.out_dir} ({e.strerror or e}): give --out a folder "
                           "you can write to") from None


def write_frames(folder: Path, times: np.ndarray, scan: videoscan.Scan) -> Path:
    """frames.csv in the vision child's columns; capture_ms is the frame's decoding here, total_ms decoding and
    detecting (no camera wait offline)."""
    from game.logfiles import FRAME_COLUMNS
    from game.sessionlog import CsvLog
    log = CsvLog(folder / "frames.csv", FRAME_COLUMNS)
    cols = {c: i for i, c in enumerate(videoscan.RESULT_COLUMNS)}
    h = scan.hands
    try:
        log.write_many((i, float(times[i]), float(scan.read_ms[i]), float(scan.detect_ms[i]),
                        float(scan.read_ms[i] + scan.detect_ms[i]), int(h[i, cols["present"]]),
                        float(h[i, cols["area"]]), float(h[i, cols["cx"]]), float(h[i, cols["cy"]]))
                       for i in range(scan.frames))
    finally:
        log.close()
    return log.path


def session_record(settings, song, video: Path, clock_note: str, pauses: list, played_s: float,
                   analysis: dict) -> dict:
    """session.json as the launcher writes it, for the reports (song, player, judging), plus the analysis."""
    from game.launcher import session_fields
    from game.pause import paused_total
    return session_fields(settings, song) | {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "stop_reason": "video analysed", "duration_s": round(played_s, 3), "count_in_s": 0.0, "camera": str(video),
        "pauses": pauses, "paused_s": round(paused_total(pauses), 3),
        # what ran: the reports expect no backing, microphone or launcher stats from an analysis
        "children": {name: {"pid": None, "exitcode": 0, "startup_s": None, "error": None}
                     for name in ("vision", "synth")},
        "notices": [f"analysis of {video} (python main.py analyze): detection offline, the live synth voice "
                    "replayed without latency; no backing or microphone"],
        "frame_clock": clock_note, "analysis": analysis,
    }


# ---- the command --------------------------------------------------------------------------------------------------
def run_command(settings, song, video: Path, *, workers: int | None = None, mode: str = "threads",
                compare: bool = True, as_json: bool = False) -> int:
    say = (lambda text: print(f"handtone: {text}", file=sys.stderr, flush=True)) if as_json else \
        (lambda text: print(f"handtone: {text}", flush=True))
    # FFmpeg's own lines about a broken file ("moov atom not found") would come before ours: quiet, as the video
    # writer does (read once, when OpenCV first opens a file; the worker processes inherit it)
    quiet_ffmpeg()
    video = Path(video)   # the file itself (choose_video picks a session's camera.mp4)
    settings = settings.replace(camera=str(video), window=False, loop_video=False)
    frames, fps, described = probe(video, settings)
    settings, detector_text = resolve_detector(settings, say)
    times, pauses, clock_note = video_clock(video, frames, fps)
    workers = workers or cores()
    say(f"analysing {described}: {frames} frames, {detector_text}, {workers} {mode}")
    try:
        run = videoscan.scan(video, settings, frames, workers, mode)
        seq = videoscan.scan(video, settings, frames, 1) if compare and run.workers > 1 else None
    except videoscan.ScanError as e:
        raise AnalyzeError(str(e)) from None
    if run.frames < frames:   # the container promised more frames than it holds
        times = times[:run.frames]
    if run.frames == 0:
        raise AnalyzeError(f"{video} has no frames OpenCV can decode: give another video")
    same = identical(run, seq) if seq is not None else None
    result = {"video": str(video), "frames": run.frames, "video_fps": fps, "frame_clock": clock_note,
              "detector": settings.detector, "segments": run.segments, "segment_frames": videoscan.SEGMENT_FRAMES,
              "warmup_frames_per_segment": videoscan.WARMUP_FRAMES, "cores": cores(),
              "run": figures(run), "sequential": figures(seq) if seq is not None else None,
              "speedup": round(seq.wall_s / run.wall_s, 2) if seq is not None and run.wall_s > 0 else None,
              "identical": same}
    folder = new_folder(settings, song)
    result["folder"] = str(folder)
    summary = write_analysis(folder, settings, song, video, times, pauses, clock_note, run, described, result)
    result.update({"score": summary.total, "rating": summary.rating, "files": sorted(summary.files),
                   "warnings": summary.warnings})
    write_json(folder / "stats-analysis.json", result)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for line in table(result):
            print(line)
    if same is False:
        say("the parallel run's hands differ from the sequential run's: please report this (the video's seeking "
            "may not be frame-exact); the folder holds the parallel run's")
        return 1
    return 0 if summary.total is not None else 1


def write_analysis(folder: Path, settings, song, video: Path, times, pauses, clock_note: str, run, described: str,
                   result: dict):
    """frames.csv, stats-vision.json, the synth's files and session.json, then the reports' own builder."""
    from game.handreplay import replay
    from game.pause import paused_total
    from reports.build import build_reports
    write_frames(folder, times, run)
    ft = result["run"]      # figures(run), as printed
    write_json(folder / "stats-vision.json", {
        "process": "vision (python main.py analyze)", "source": described, "detector": settings.detector,
        "frames": run.frames, "fps": round(1.0 / (times[1] - times[0]), 3) if len(times) > 1 else None,
        "dropped_frames": 0, "cpu_s": ft["cpu_s"], "detect_ms_p50": ft["detect_ms_p50"],
        "detect_ms_p95": ft["detect_ms_p95"], "workers": run.workers, "mode": run.mode})
    frame_s = times[1] - times[0] if len(times) > 1 else 1.0 / settings.fps
    video_end = float(times[-1] + frame_s)
    paused = paused_total(pauses)
    t_end = min(video_end, song.duration + settings.tail + paused)
    if settings.duration is not None:
        t_end = min(t_end, settings.duration + paused)
    from game.pause import song_times
    played = float(song_times(np.array([t_end]), pauses)[0])
    write_json(folder / "stats-synth.json", {"process": "synth (python main.py analyze)",
                                             **replay(folder, settings, song, times, run.hands,
                                                      videoscan.RESULT_COLUMNS, t_end, pauses)})
    write_json(folder / "session.json", session_record(settings, song, video, clock_note, pauses,
                                                       min(played, song.duration), result))
    return build_reports(folder, settings, song, send_email=False, history=False)


def table(r: dict) -> list[str]:
    """The printed figures: each run's time, fps, per-frame ms and CPU, the speedup, identity, score, folder."""
    out = [f"{r['frames']} frames, {r['detector']} detector, {r['segments']} segments of {r['segment_frames']} "
           f"frames (+{r['warmup_frames_per_segment']} warm-up), {r['cores']} cores; times: {r['frame_clock']}",
           f"{'run':<14}{'total s':>9}{'fps':>8}{'frame ms p50':>14}{'p95':>8}{'CPU':>7}"]
    for f in (r["run"], r["sequential"]):
        if f is None:
            continue
        name = f["mode"] if f["mode"] == "sequential" else f"{f['mode']} x{f['workers']}"
        util = f"{100 * f['cpu_utilisation']:.0f}%" if f["cpu_utilisation"] is not None else "-"
        out.append(f"{name:<14}{f['total_s']:>9.2f}{f['fps'] or 0:>8.1f}{f['frame_ms_p50'] or 0:>14.2f}"
                   f"{f['frame_ms_p95'] or 0:>8.2f}{util:>7}")
    if r["speedup"] is not None:
        out.append(f"speedup {r['speedup']:.2f}x over sequential; results "
                   f"{'identical' if r['identical'] else 'DIFFERENT'} ({r['frames']} frames compared byte for byte)")
    elif r["run"]["mode"] == "sequential":
        out.append("one worker: the run was sequential (no comparison)")
    out.append(f"score: {r['score']} ({r['rating']})" if r["score"] is not None else "score: none")
    out.append(f"reports in {r['folder']}: {', '.join(r['files'])}")
    out += [f"note: {w}" for w in r.get("warnings") or []]
    return out
