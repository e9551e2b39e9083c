"""`python main.py bench latency`: motion-to-sound latency of whole moves of the hand, from a real session's logs.

Why not only the per-frame figure the session logs (stats-synth.json latency_ms: the first audio block that reads a
frame, minus its capture time): that shows when a frame reached the synth, not when the player hears the note they
moved to. Here the camera is a clip whose hand jumps between two sizes at known frames (vision/jumpclip.py), run as
a headless session (--camera CLIP --loop-video, no window, no email), and for every jump:

    motion-to-sound = DAC time of the first voiced synth block whose pitch has moved at least half-way from the old
    note towards the new one - capture time of the frame where the hand jumped.

Matching the logs to the clip: a paced source's frame i is captured at session time i / fps (vision/process.py) and
shows clip frame i % frames however often the clip looped (the index counts every frame read or skipped), so the
jumps are at known session frames even when frames are dropped; a dropped jump frame is counted and its move timed
from its own capture time (the player moved then: the drop is latency). The old and new notes are what the synth
played in the second half of the hold before and of the hold after the jump (so detector calibration does not
matter); a jump is "not detected" when no frame of its hold reached half-way in hand size, "not heard" when the
vision saw it but no voiced block reached half-way in pitch within the hold.

Glide: the player's tone glides (settings.glide_ms, a one-pole per block), which by design reaches half-way only
after several blocks. The bench runs with glide 0 (``glide_ms``) so the figure is the machine's; what the player's
glide adds to the half-way point is computed from the synth's own rule and printed beside it.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

MIN_JUMP = 1.0          # semitones: a smaller change between holds is no jump heard
TARGET_P50_MS, TARGET_P99_MS = 12.0, 20.0


# ---- the logs --------------------------------------------------------------------------------------------------
def _median(values) -> float | None:
    v = np.asarray(values, dtype=float)
    return float(np.median(v)) if v.size else None


def match_jumps(frames: dict, synth: dict, plan) -> list[dict]:
    """One row per jump of ``plan`` (vision/jumpclip.JumpPlan) that the session covers with a hold before and after.

    frames: frame_index, t_capture, present, area (and optionally total_ms), one row per processed frame;
    synth: t_dac, midi, amplitude, frame_index, one row per audio block; times in session seconds."""
    fps, every = float(plan.fps), int(plan.every)
    hold = every / fps
    f_idx = frames["frame_index"].astype(int)
    f_tcap, f_present, f_area = frames["t_capture"], frames["present"] > 0.5, frames["area"]
    f_total = frames.get("total_ms")
    s_t, s_midi, s_amp = synth["t_dac"], synth["midi"], synth["amplitude"]
    s_frame = synth.get("frame_index")
    voiced = s_amp > 0.0
    if f_idx.size == 0 or s_t.size == 0:
        return []
    t_end = float(np.nanmax(s_t))
    by_index = {int(i): k for k, i in enumerate(f_idx)}
    rows = []
    for j in plan.jumps(int(f_idx.max())):
        if j < every or j / fps + hold > t_end:
            continue                    # no whole hold before it, or the session ended within its hold
        k = by_index.get(j)
        t_jump = float(f_tcap[k]) if k is not None else j / fps
        row = {"frame": j, "clip_frame": j % plan.frames, "t_jump": round(t_jump, 6), "jump_frame_dropped": k is None,
               "up": plan.level(j % plan.frames) == 1, "status": "heard", "latency_ms": None}
        # vision: old and new hand size (log area) from the holds' second halves, then the first frame half-way
        in_old = (f_idx >= j - every // 2) & (f_idx < j) & f_present & (f_area > 0)
        in_new = (f_idx >= j + every // 2) & (f_idx < j + every) & f_present & (f_area > 0)
        la_old, la_new = _median(np.log(f_area[in_old])), _median(np.log(f_area[in_new]))
        seen = None
        if la_old is not None and la_new is not None and abs(la_new - la_old) > 1e-6:
            for kk in np.flatnonzero((f_idx >= j) & (f_idx < j + every) & f_present & (f_area > 0)):
                if (math.log(f_area[kk]) - la_old) / (la_new - la_old) >= 0.5:
                    seen = int(kk)
                    break
        if seen is None:
            row["status"] = "not detected"
            rows.append(row)
            continue
        row["seen_frame"] = int(f_idx[seen])
        row["frames_late"] = int(f_idx[seen]) - j
        if f_total is not None and not math.isnan(f_total[seen]):
            row["published_ms"] = round((float(f_tcap[seen]) - t_jump) * 1000.0 + float(f_total[seen]), 3)
        # sound: old and new note from the holds' second halves (DAC time), then the first voiced block half-way
        old = _median(s_midi[voiced & (s_t >= t_jump - hold / 2) & (s_t < t_jump)])
        new = _median(s_midi[voiced & (s_t >= t_jump + hold / 2) & (s_t < t_jump + hold)])
        row["old_midi"] = None if old is None else round(old, 3)
        row["new_midi"] = None if new is None else round(new, 3)
        if old is None or new is None or abs(new - old) < MIN_JUMP:
            row["status"] = "not heard"
            rows.append(row)
            continue
        row["wrong_direction"] = (new > old) != row["up"]
        window = np.flatnonzero(voiced & (s_t >= t_jump) & (s_t < t_jump + hold))
        half = [b for b in window if (s_midi[b] - old) / (new - old) >= 0.5]
        if not half:
            row["status"] = "not heard"
            rows.append(row)
            continue
        b = half[0]
        row["latency_ms"] = round((float(s_t[b]) - t_jump) * 1000.0, 3)
        row["t_heard"] = round(float(s_t[b]), 6)
        if s_frame is not None:
            row["heard_frame"] = int(s_frame[b])      # the camera frame that block read
        if "published_ms" in row:
            row["audio_ms"] = round(row["latency_ms"] - row["published_ms"], 3)   # hand state -> DAC
        rows.append(row)
    return rows


def glide_half_ms(glide_ms: float, block: int, rate: float) -> float:
    """Time the synth's glide (one-pole per block, audio/synth.py) adds before a jump is half-way: the first block
    reading the new frame moves by the coefficient c, the k-th by 1 - (1 - c)^k."""
    if glide_ms <= 0.0:
        return 0.0
    c = 1.0 - math.exp(-block / (glide_ms / 1000.0 * rate))
    k = math.ceil(math.log(0.5) / math.log(1.0 - c))
    return round((k - 1) * block / rate * 1000.0, 2)


# ---- the bench ----------------------------------------------------------------------------------------------------
def bench_latency(seconds: float = 60.0, null_sink: bool = False, detector: str | None = None,
                  block: int | None = None, latency: str | None = None, glide_ms: float | None = 0.0,
                  keep: str | None = None, landmark_threads: int | None = None) -> dict:
    """Run one headless session of ``seconds`` on the jump clip and return its jump latencies (module docstring).
    glide_ms: the synth's glide for the run (0: none, the machine's figure; None: the player's setting)."""
    from audio.bench import figures
    from audio.nullsink import private_sink
    from game import song as song_mod
    from game.benchall import bench_settings, machine
    from reports.sessiondata import SessionData
    from game.figures import percentile
    from game.launcher import run_session
    from vision.jumpclip import jump_clip_path

    out_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="handtone-latency-"))
    try:
        settings = bench_settings({"loop_video": True, "window": False, "duration": seconds,
                                   "out_dir": str(out_dir), "data_dir": str(out_dir / "data"), "block": block,
                                   "latency": latency, "detector": detector,
                                   "landmark_threads": landmark_threads})
        player_glide = settings.glide_ms
        if glide_ms is not None:
            settings = settings.replace(glide_ms=float(glide_ms))
        song = song_mod.load_for(settings)
        clip, plan = jump_clip_path(song, settings)
        settings = settings.replace(camera=str(clip))
        with private_sink(null_sink, settings.sample_rate):
            result = run_session(settings, song)
        if result.session_dir is None:
            raise RuntimeError(result.reason)
        session = SessionData(Path(result.session_dir))
        frames = session.csv("frames.csv", ("frame_index", "t_capture", "present", "area", "total_ms"))
        synth = session.csv("synth.csv", ("t_dac", "midi", "amplitude", "frame_index"))
        session_figures = figures(session.dir)
        jumps = match_jumps(frames, synth, plan)
    finally:
        if not keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    lat = np.array([j["latency_ms"] for j in jumps if j["latency_ms"] is not None], dtype=float)
    heard = [j for j in jumps if j["latency_ms"] is not None]
    example = None
    if heard:
        example = _trace(sorted(heard, key=lambda j: j["latency_ms"])[len(heard) // 2], frames, synth, plan)
    device = session_figures.get("synth_mode") == "device"
    p50, p95, p99 = (percentile(lat, q, 2) for q in (50, 95, 99))

    def target(name, value, limit):
        return {"name": name, "figure": "-" if value is None else f"{value:.1f} ms",
                "pass": None if (value is None or not device) else bool(value <= limit)}

    published = [j["published_ms"] for j in heard if j.get("published_ms") is not None]
    audio = [j["audio_ms"] for j in heard if j.get("audio_ms") is not None]
    return {
        "bench": "latency", "machine": machine(), "seconds": seconds, "null_sink": null_sink,
        "clip": {"path": str(clip), **plan.as_dict()},
        "glide_ms": settings.glide_ms, "player_glide_ms": player_glide,
        "player_glide_adds_ms": glide_half_ms(player_glide, settings.block, settings.sample_rate),
        "block": settings.block, "sample_rate": settings.sample_rate, "latency_setting": settings.latency,
        "jumps": len(jumps), "heard": len(heard),
        "not_detected": sum(j["status"] == "not detected" for j in jumps),
        "not_heard": sum(j["status"] == "not heard" for j in jumps),
        "jump_frames_dropped": sum(j["jump_frame_dropped"] for j in jumps),
        "wrong_direction": sum(bool(j.get("wrong_direction")) for j in jumps),
        "frames_late": {str(n): sum(j.get("frames_late") == n for j in jumps)
                        for n in sorted({j["frames_late"] for j in jumps if "frames_late" in j})},
        "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
        "min_ms": round(float(lat.min()), 2) if lat.size else None,
        "max_ms": round(float(lat.max()), 2) if lat.size else None,
        "vision_published_ms_p50": percentile(published, 50, 2), "audio_ms_p50": percentile(audio, 50, 2),
        "latencies_ms": [round(float(v), 3) for v in lat],
        "per_frame_ms": {"p50": session_figures.get("latency_ms_p50"), "p95": session_figures.get("latency_ms_p95"),
                         "p99": session_figures.get("latency_ms_p99"), "n": session_figures.get("latency_frames")},
        "session": {k: session_figures.get(k) for k in (
            "detector", "vision_fps", "vision_frames", "vision_dropped", "synth_mode", "output_device",
            "requested_latency_ms", "output_latency_ms", "synth_underflows_flag", "synth_underflows_clock")},
        "landmark_threads": session_figures.get("landmark_threads"),
        "stop_reason": result.reason, "session_dir": str(session.dir) if keep else None,
        "example": example, "jump_rows": jumps,
        "targets": [target(f"motion-to-sound p50 <= {TARGET_P50_MS:g} ms", p50, TARGET_P50_MS),
                    target(f"motion-to-sound p99 <= {TARGET_P99_MS:g} ms", p99, TARGET_P99_MS)],
    }


def _trace(jump: dict, frames: dict, synth: dict, plan) -> dict:
    """One jump's pitch against time, for the plot: synth blocks and frame captures from a hold before to after."""
    t = jump["t_jump"]
    lo, hi = t - 0.1, t + 0.1
    s = (synth["t_dac"] >= lo) & (synth["t_dac"] <= hi)
    f = (frames["t_capture"] >= lo) & (frames["t_capture"] <= hi)
    return {"frame": jump["frame"], "t_jump": t, "latency_ms": jump["latency_ms"], "old_midi": jump["old_midi"],
            "new_midi": jump["new_midi"],
            "t_dac": [round(float(v), 6) for v in synth["t_dac"][s]],
            "midi": [round(float(v), 4) for v in synth["midi"][s]],
            "frame_t": [round(float(v), 6) for v in frames["t_capture"][f]]}


def format_latency(r: dict) -> str:
    def f(v, unit=" ms"):
        return "-" if v is None else f"{v:g}{unit}"
    s, c = r["session"], r["clip"]
    pf = r["per_frame_ms"]
    n = r.get("landmark_threads")
    threads = f" (landmark model on {n} thread{'s' if n > 1 else ''})" if n else ""
    lines = [
        f"latency bench: {r['seconds']:g} s headless session, {s['detector']} detector{threads} at "
        f"{f(s['vision_fps'], ' fps')}, output {s['output_device'] or 'none'}"
        f"{' (private PulseAudio null sink)' if r['null_sink'] else ''}",
        f"  clip: the hand jumps every {c['every']} frames at {c['fps']:g} fps between MIDI {c['low_midi']:g} and "
        f"{c['high_midi']:g} ({c['high_midi'] - c['low_midi']:.1f} semitones)",
        f"  block {r['block']} frames at {r['sample_rate']} Hz, --latency {r['latency_setting']}: asked "
        f"{f(s['requested_latency_ms'])}, PortAudio reports {f(s['output_latency_ms'])}",
        f"  {r['jumps']} jumps: {r['heard']} heard, {r['not_detected']} not detected, {r['not_heard']} not heard; "
        f"{r['jump_frames_dropped']} jump frames dropped; {r['wrong_direction']} moved the wrong way",
        "  seen by the detector: " + ", ".join(f"{n} frames after the jump: {k}" for n, k in r["frames_late"].items()),
        f"  motion-to-sound (half-way to the new note): p50 {f(r['p50_ms'])}, p95 {f(r['p95_ms'])}, "
        f"p99 {f(r['p99_ms'])} (min {f(r['min_ms'])}, max {f(r['max_ms'])})",
        f"    of which camera frame -> hand state published: p50 {f(r['vision_published_ms_p50'])}; hand state -> "
        f"DAC time of the block: p50 {f(r['audio_ms_p50'])}",
        f"  per-frame first-block latency the session logs (stats-synth.json): p50 {f(pf['p50'])}, p95 "
        f"{f(pf['p95'])}, p99 {f(pf['p99'])} over {f(pf['n'], '')} frames",
        f"  glide: the bench ran with {r['glide_ms']:g} ms; the player's glide ({r['player_glide_ms']:g} ms) would "
        f"add {r['player_glide_adds_ms']:g} ms before a jump is half-way",
        f"  synth underflows: {f(s['synth_underflows_flag'], '')} by flag, {f(s['synth_underflows_clock'], '')} "
        f"by wall clock",
    ]
    from game.benchall import verdict
    for t in r["targets"]:
        lines.append(f"  {t['name']:34s} {t['figure']:>10s}  {verdict(t)}")
    if s.get("synth_mode") != "device":
        lines.append("  no speaker was used (the synth ran on the clock): DAC times are not a device's; "
                     "try --null-sink on Linux")
    if r.get("session_dir"):
        lines.append(f"  session folder: {r['session_dir']}")
    return "\n".join(lines)


def plot_latency(result: dict, path) -> Path:
    """Left: histogram of the jump latencies with the targets; right: the median jump's pitch against time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    lat = result["latencies_ms"]
    if lat:
        top = max(lat) + 1.0
        ax1.hist(lat, bins=np.arange(0.0, top + 1.0, 1.0) if top < 200 else 60, color="#1565c0")
    for k, (limit, label) in enumerate(((TARGET_P50_MS, "p50 target"), (TARGET_P99_MS, "p99 target"))):
        ax1.axvline(limit, color="#c62828", ls="--", lw=1)
        ax1.text(limit, ax1.get_ylim()[1] * (0.97 - 0.07 * k), f" {label}", color="#c62828", fontsize=8, va="top")
    if result["p50_ms"] is not None:
        ax1.axvline(result["p50_ms"], color="#2e7d32", lw=1.5, label=f"p50 {result['p50_ms']:g} ms")
        ax1.axvline(result["p99_ms"], color="#ef6c00", lw=1.5, label=f"p99 {result['p99_ms']:g} ms")
        ax1.legend(fontsize=8)
    ax1.set_xlabel("motion-to-sound (ms): jump frame captured -> first block half-way to the new note")
    ax1.set_ylabel("jumps")
    ax1.set_title(f"{result['heard']} of {result['jumps']} jumps ({result['session']['detector']}, "
                  f"{result['session']['output_device'] or 'no speaker'})", fontsize=10)
    ex = result.get("example")
    if ex:
        t0 = ex["t_jump"]
        ax2.step([(t - t0) * 1000 for t in ex["t_dac"]], ex["midi"], where="post", color="#1565c0",
                 label="synth pitch at the block's DAC time")
        for t in ex["frame_t"]:
            ax2.axvline((t - t0) * 1000, color="#9e9e9e", lw=0.8)
        ax2.axvline(0, color="#000000", lw=1.2, label="jump frame captured")
        ax2.axhline((ex["old_midi"] + ex["new_midi"]) / 2, color="#c62828", ls=":", lw=1, label="half-way")
        ax2.axvline(ex["latency_ms"], color="#2e7d32", lw=1.2, label=f"heard: {ex['latency_ms']:g} ms")
        ax2.legend(fontsize=8)
        ax2.set_xlabel("ms from the jump frame's capture (grey: camera frames)")
        ax2.set_ylabel("MIDI")
        ax2.set_title(f"the median jump (session frame {ex['frame']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
