"""The audio path's figures from a real session: `python main.py bench audio` prints what bench_audio() returns.

Why a whole session: motion-to-sound latency is camera frame -> detector -> shared memory -> audio callback ->
speaker, so every process has to run as in a game: the demo camera at its full frame rate through the chosen
detector, the synth, the backing, the recorder, all on their own cores' share. The demo clip loops, so a bench can
run as long as asked (a 10-minute run shows whether the stream ever runs dry). With ``null_sink`` the session plays
into a private PulseAudio null sink (audio/nullsink.py), so the figures do not depend on this machine's sound setup.

Figures (from the session's own stats files, the ones a player's session writes):
- motion-to-sound latency p50/p95/p99: DAC time of the first sample that reflects a camera frame minus the frame's
  capture time, one value per frame (game/figures.py);
- underflows of the synth and the backing, counted by PortAudio's flag and by frames delivered against the wall
  clock (audio/output.py), and the latest a callback came behind its pace;
- the latency asked for and the one PortAudio reports, the block, the detector's time per frame, CPU per process;
- how late this machine lets a real-time thread wake meanwhile, and its stolen time (audio/stallprobe.py).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def bench_audio(seconds: float = 60.0, block: int | None = None, latency: str | None = None,
                null_sink: bool = False, detector: str | None = None, song: str | None = None,
                keep: str | None = None, say=print, music_latency: str | None = None) -> dict:
    """Run one headless demo session of ``seconds`` and return its audio figures (see the module docstring)."""
    from game import settings as settings_mod
    from game import song as song_mod
    from game.launcher import run_session

    out_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="handtone-bench-"))
    cli = {"camera": "demo", "loop_video": True, "window": False, "duration": seconds, "out_dir": str(out_dir),
           "block": block, "latency": latency, "music_latency": music_latency, "detector": detector, "song": song}
    settings = settings_mod.build(cli).replace(smtp=settings_mod.SmtpSettings())   # a bench never sends email
    server = None
    old_env = {}
    try:
        if null_sink:
            from audio.nullsink import NullSinkServer
            server = NullSinkServer(settings.sample_rate).start()
            old_env = {k: os.environ.get(k) for k in server.env}
            os.environ.update(server.env)       # the children are spawned with this environment
        from audio.stallprobe import StallProbe
        with StallProbe() as probe:     # what the machine itself does to a real-time thread meanwhile
            result = run_session(settings, song_mod.load_for(settings))
        if result.session_dir is None:
            raise RuntimeError(result.reason)
        row = figures(result.session_dir)
        row.update(machine=probe.result, setting_latency=settings.latency, setting_block=settings.block, seconds=seconds,
                   null_sink=null_sink, stop_reason=result.reason,
                   session_dir=str(result.session_dir) if keep else None)
        return row
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if server is not None:
            server.stop()
        if not keep:
            shutil.rmtree(out_dir, ignore_errors=True)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def figures(session_dir: Path) -> dict:
    """The bench's figures from a finished session's folder."""
    stats = _read(Path(session_dir) / "stats.json")
    procs = stats.get("processes", {})
    vision = procs.get("vision", {})
    raw_synth = _read(Path(session_dir) / "stats-synth.json")
    raw_music = _read(Path(session_dir) / "stats-music.json")
    lat = raw_synth.get("latency_ms") or {}
    return {
        "latency_ms_p50": lat.get("p50"), "latency_ms_p95": lat.get("p95"), "latency_ms_p99": lat.get("p99"),
        "latency_frames": lat.get("n"),
        "synth_mode": raw_synth.get("mode"), "output_device": raw_synth.get("device"),
        "block": raw_synth.get("block"), "sample_rate": raw_synth.get("sample_rate"),
        "requested_latency_ms": raw_synth.get("requested_latency_ms"),
        "output_latency_ms": raw_synth.get("output_latency_ms"), "latency_applied": raw_synth.get("latency_applied"),
        "synth_blocks": raw_synth.get("blocks"),
        "synth_underflows_flag": raw_synth.get("underflows_flag"),
        "synth_underflows_clock": raw_synth.get("underflows_clock"),
        "synth_late_ms_max": raw_synth.get("late_ms_max"),
        "music_underflows_flag": raw_music.get("underflows_flag"),
        "music_underflows_clock": raw_music.get("underflows_clock"),
        "music_late_ms_max": raw_music.get("late_ms_max"),
        "music_latency_setting": raw_music.get("latency_setting"),
        "music_output_latency_ms": raw_music.get("output_latency_ms"),
        "detector": vision.get("detector"), "vision_fps": vision.get("fps"), "vision_frames": vision.get("frames"),
        "vision_dropped": vision.get("dropped_frames"), "frame_ms_p50": vision.get("total_ms_p50"),
        "frame_ms_p95": vision.get("total_ms_p95"),
        "cpu_s": {name: p.get("cpu_s") for name, p in procs.items() if p.get("cpu_s") is not None},
    }


def format_row(r: dict) -> str:
    def f(v, unit=""):
        return "-" if v is None else f"{v}{unit}"
    lines = [
        f"audio bench: {r['seconds']:g} s demo session, {r['detector']} detector at {f(r['vision_fps'])} fps, "
        f"output {r['output_device'] or 'none'}{' (private PulseAudio null sink)' if r['null_sink'] else ''}",
        f"  block {f(r['block'])} frames at {f(r['sample_rate'])} Hz; --latency {r['setting_latency']}: asked "
        f"{f(r['requested_latency_ms'], ' ms')}, PortAudio reports {f(r['output_latency_ms'], ' ms')}"
        f"{'' if r['latency_applied'] in (True, None) else ' (could not ask: the device low latency)'}",
        f"  motion-to-sound latency: p50 {f(r['latency_ms_p50'], ' ms')}, p95 {f(r['latency_ms_p95'], ' ms')}, "
        f"p99 {f(r['latency_ms_p99'], ' ms')} over {f(r['latency_frames'])} frames",
        f"  camera frame -> hand state: p50 {f(r['frame_ms_p50'], ' ms')}, p95 {f(r['frame_ms_p95'], ' ms')}; "
        f"{f(r['vision_frames'])} frames, {f(r['vision_dropped'])} dropped",
        f"  underflows: synth {f(r['synth_underflows_flag'])} by flag, {f(r['synth_underflows_clock'])} by wall clock "
        f"(latest callback {f(r['synth_late_ms_max'], ' ms')} behind); backing {f(r['music_underflows_flag'])} by "
        f"flag, {f(r['music_underflows_clock'])} by wall clock (--music-latency {f(r['music_latency_setting'])}: "
        f"{f(r['music_output_latency_ms'], ' ms')})",
        "  CPU seconds: " + ", ".join(f"{k} {v:g}" for k, v in r["cpu_s"].items()),
    ]
    m = r.get("machine")
    if m:
        steal = "-" if m.get("steal_share") is None else f"{100 * m['steal_share']:.2f} %"
        policy = f"SCHED_FIFO {m['priority']}" if m["realtime"] else "normal priority"
        lines.append(f"  this machine: a probe thread ({policy}, waking every 1 ms) woke up to "
                     f"{m['late_max_ms']} ms late ({m['late_over_2ms']} times over 2 ms, {m['late_over_5ms']} over "
                     f"5 ms); stolen time {steal}")
        lines.append("  (a stall longer than a stream's buffer runs it dry whatever the game does)")
    if r.get("synth_mode") != "device":
        lines.append("  no speaker was used (the synth ran on the clock): latency is not the device's; "
                     "try --null-sink on Linux")
    if r.get("session_dir"):
        lines.append(f"  session folder: {r['session_dir']}")
    return "\n".join(lines)
