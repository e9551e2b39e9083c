"""stats.json: how each process performed (start-up, frame rate and times, motion-to-sound latency, underflows,
dropped frames, CPU), from its stats-*.json and, where they say more, its logs. A process that left nothing is
marked missing rather than silently left out, so a broken session shows in the report.
"""
from __future__ import annotations

import numpy as np

from reports.sessiondata import SessionData
from game.figures import first_block_latencies, percentile as pct
from game.logfiles import FRAME_COLUMNS, SYNTH_COLUMNS

PROCESSES = ("vision", "synth", "music", "recorder")
OPTIONAL = ("videowriter",)   # started only on request (--record-video): reported when the session had it
COMMON = ("startup_s", "cpu_s", "max_rss_mb", "pid")
CLOCK_MODE = "no speaker (clock mode)"


def build_stats(data: SessionData) -> dict:
    session = data.json("session.json", "the launcher did not record the session")
    children = session.get("children") if isinstance(session.get("children"), dict) else {}
    names = PROCESSES + tuple(n for n in OPTIONAL if n in children or (data.dir / f"stats-{n}.json").exists())
    if children:    # the processes that ran (python main.py analyze runs no music or recorder): none else is missing
        names = tuple(n for n in names if n in children)
    out = {name: _process(data, name, children.get(name) or {}) for name in names}
    out["launcher"] = _launcher(data, session)
    latency = out["synth"].get("latency_ms") or {}
    summary = {"fps": out["vision"].get("fps"), "frame_ms_p50": out["vision"].get("total_ms_p50"),
               "frame_ms_p95": out["vision"].get("total_ms_p95"), "latency_ms_p50": latency.get("p50"),
               "latency_ms_p95": latency.get("p95"), "latency_ms_p99": latency.get("p99"),
               "latency_not_measured": latency.get("not_measured"),
               # every speaker stream: the hand tone's and the backing's (each is in "processes")
               "underflows_flag": _total(out, "underflows_flag"), "underflows_clock": _total(out, "underflows_clock"),
               "dropped_frames": out["vision"].get("dropped_frames"),
               "missing": [n for n in names if out[n]["missing"]]}
    return {"summary": summary, "processes": out}


# what an output child's stats say about its stream: asked and reported latency, underflows both ways, the latest
# callback, real-time scheduling, and a speaker that went away mid-session
AUDIO_OUT_KEYS = ("mode", "device", "block", "latency_setting", "requested_latency_ms", "output_latency_ms",
                  "underflows_flag", "underflows_clock", "late_ms_max", "realtime", "device_lost")


def _total(out: dict, key: str):
    """Sum of a count over the synth and music processes (None when neither has it)."""
    values = [out[n].get(key) for n in ("synth", "music") if n in out and out[n].get(key) is not None]
    return sum(values) if values else None


def _process(data: SessionData, name: str, child: dict) -> dict:
    stats = data.json(f"stats-{name}.json", f"the {name} process left no stats (killed, or it never started)")
    rec = {"missing": not stats, "exitcode": child.get("exitcode")}
    for key in COMMON:
        rec[key] = stats.get(key, child.get(key))
    extra = {"vision": _vision, "synth": _synth, "music": _music, "recorder": _recorder,
             "videowriter": _videowriter}[name]
    rec.update(extra(data, stats))
    return rec


def _vision(data: SessionData, stats: dict) -> dict:
    frames = data.csv("frames.csv", FRAME_COLUMNS, "no per-frame log from vision")
    rec = {k: stats.get(k) for k in ("source", "detector", "frames", "fps", "dropped_frames")}
    if "landmark_threads" in stats:   # the landmarks detector: its model's LiteRT threads (vision/landmarks.py)
        rec["landmark_threads"] = stats["landmark_threads"]
    if "video_put_ms_p50" in stats:   # --record-video: what copying each picture into the frame ring cost
        rec.update({k: stats.get(k) for k in ("video_picture", "video_put_ms_p50", "video_put_ms_p95")})
    n = len(frames["frame_index"])
    if n:
        t = frames["t_capture"][~np.isnan(frames["t_capture"])]
        rec["frames"] = rec["frames"] if rec["frames"] is not None else n
        if rec["fps"] is None and len(t) > 1 and t[-1] > t[0]:
            rec["fps"] = round((len(t) - 1) / (t[-1] - t[0]), 2)
        idx = frames["frame_index"][~np.isnan(frames["frame_index"])]
        if rec["dropped_frames"] is None and len(idx) > 1:
            rec["dropped_frames"] = int(idx.max() - idx.min() + 1 - len(np.unique(idx)))
        rec["present_share"] = round(float(np.nanmean(frames["present"])), 3)
    for col in ("capture_ms", "detect_ms", "total_ms"):
        for q in (50, 95):
            key = f"{col}_p{q}"
            rec[key] = pct(frames[col], q) if n else stats.get(key, _nested(stats, col, f"p{q}"))
    return rec


def _synth(data: SessionData, stats: dict) -> dict:
    rows = data.csv("synth.csv", SYNTH_COLUMNS, "nothing the synth played was logged")
    rec = {k: stats.get(k) for k in AUDIO_OUT_KEYS + ("blocks", "sample_rate")}
    if rec["blocks"] is None and len(rows["t_dac"]):
        rec["blocks"] = len(rows["t_dac"])
    lost = rec.get("device_lost") or {}
    if rec["mode"] == "clock" and not lost:  # nothing reached a speaker: there is no sound to time
        rec["latency_ms"] = {"p50": None, "p95": None, "p99": None, "samples": 0, "not_measured": CLOCK_MODE}
        return rec
    keep = slice(None)
    if lost.get("at_s") is not None:   # the speaker went away: only the blocks it played were timed by it
        keep = rows["t_dac"] <= float(lost["at_s"])
    lat = first_block_latencies(rows["frame_index"][keep], rows["t_capture"][keep], rows["latency_ms"][keep])
    if len(lat):
        rec["latency_ms"] = {"p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
                             "samples": int(len(lat)), "from": "synth.csv"}
    else:
        rec["latency_ms"] = {q: stats.get(f"latency_ms_{q}", _nested(stats, "latency_ms", q))
                             for q in ("p50", "p95", "p99")} | {"samples": 0, "from": "stats-synth.json"}
    return rec


def _music(data: SessionData, stats: dict) -> dict:
    return {k: stats.get(k) for k in AUDIO_OUT_KEYS + ("underflows", "backend")}


def _recorder(data: SessionData, stats: dict) -> dict:
    return {k: stats.get(k) for k in ("device", "recording", "seconds", "peak", "overflows", "t_first_sample",
                                      "device_lost", "mic_delay_ms", "mic_delay_source")}


def _videowriter(data: SessionData, stats: dict) -> dict:
    return {k: stats.get(k) for k in ("file", "fourcc", "fps", "frames_written", "frames_repeated", "frames_lost",
                                      "frames_skipped", "video_s", "encode_ms_p50", "encode_ms_p95")}


def _launcher(data: SessionData, session: dict) -> dict:
    own = data.json("stats-launcher.json") if (data.dir / "stats-launcher.json").exists() else {}
    rec = {"missing": not session and not own}
    for key in COMMON:
        rec[key] = own.get(key)
    for key in ("stop_reason", "duration_s", "count_in_s", "started"):
        rec[key] = session.get(key)
    pauses = data.pauses()
    rec["pauses"] = len(pauses)
    rec["paused_s"] = round(sum(e - s for s, e in pauses), 3)
    return rec


def _nested(stats: dict, key: str, q: str):
    v = stats.get(key)
    return v.get(q) if isinstance(v, dict) else None


def table_rows(stats: dict) -> list[tuple[str, str, str, str]]:
    """(process, start-up s, CPU s, figures) per process, in words, for the PDF and the email."""
    rows = []
    for name, rec in (stats.get("processes") or {}).items():
        if rec.get("missing"):
            figures = "missing: left no stats (killed, or never started)"
            if name == "launcher":
                figures = "missing: no session.json"
        else:
            figures = "; ".join(x for x in _figures(name, rec) if x)
        rows.append((name, _f(rec.get("startup_s"), 2), _f(rec.get("cpu_s"), 2), figures or "-"))
    return rows


def _figures(name: str, r: dict) -> list[str]:
    if name == "vision":
        return [f"{r.get('frames')} frames" if r.get("frames") is not None else "",
                f"{_f(r.get('fps'), 1)} fps" if r.get("fps") is not None else "",
                f"{_f(r.get('total_ms_p50'), 1)}/{_f(r.get('total_ms_p95'), 1)} ms per frame (p50/p95)"
                if r.get("total_ms_p50") is not None else "",
                f"{r.get('dropped_frames')} dropped" if r.get("dropped_frames") is not None else "",
                f"video put {_f(r.get('video_put_ms_p50'), 2)} ms" if r.get("video_put_ms_p50") is not None else ""]
    if name == "synth":
        lat = r.get("latency_ms") or {}
        return [f"{r.get('mode')}" if r.get("mode") else "",
                f"{r.get('blocks')} blocks" if r.get("blocks") is not None else "",
                f"motion-to-sound {_f(lat.get('p50'), 1)}/{_f(lat.get('p95'), 1)}/{_f(lat.get('p99'), 1)} ms "
                "(p50/p95/p99)" if lat.get("p50") is not None else
                f"motion-to-sound latency: not measured, {lat['not_measured']}" if lat.get("not_measured") else
                "motion-to-sound latency: no data",
                f"underflows {_f(r.get('underflows_flag'), 0)} by flag, {_f(r.get('underflows_clock'), 0)} by clock"
                if r.get("underflows_flag") is not None or r.get("mode") != "clock" else "no speaker: no underflows"]
    if name == "music":
        under = r.get("underflows", r.get("underflows_flag"))
        return [f"{r.get('mode')}" if r.get("mode") else "",
                f"{under} underflows" if under is not None else
                "no speaker: no underflows" if r.get("mode") == "clock" else ""]
    if name == "recorder":
        return [f"{_f(r.get('seconds'), 1)} s recorded" if r.get("seconds") is not None else "",
                f"{r.get('overflows')} overflows" if r.get("overflows") is not None else "",
                str(r.get("device") or "")]
    if name == "videowriter":
        return [f"{r.get('frames_written')} frames ({_f(r.get('video_s'), 1)} s, {r.get('fourcc')})"
                if r.get("frames_written") is not None else "",
                f"{_f(r.get('frames_repeated'), 0)} repeated, {_f(r.get('frames_lost'), 0)} lost",
                f"encode {_f(r.get('encode_ms_p50'), 1)}/{_f(r.get('encode_ms_p95'), 1)} ms (p50/p95)"
                if r.get("encode_ms_p50") is not None else ""]
    return [f"stopped: {r.get('stop_reason')}" if r.get("stop_reason") else "",
            f"{_f(r.get('duration_s'), 1)} s played" if r.get("duration_s") is not None else "",
            f"paused {_f(r.get('paused_s'), 1)} s ({r['pauses']} pause{'s' if r['pauses'] > 1 else ''})"
            if r.get("pauses") else ""]


def _f(v, digits: int) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    return f"{v:.{digits}f}"
