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
- how late this machine lets a real-time thread wake meanwhile, and its stolen time (audio/stallprobe.py);
- every process's resident memory over the session (RssSampler: the launcher, which is this process, and its
  descendants, read from /proc every 2 s and named by the pids in session.json), with each one's growth over the
  second half, so a leak shows as a slope rather than as one large number.
Targets: 0 underflows in 10 minutes (by flag and by clock, synth and backing); vision RSS <= 300 MB and flat.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from game.child import read_json

RSS_INTERVAL_S = 2.0          # seconds between memory samples of every process
UNDERFLOW_TARGET_S = 600.0    # "0 underflows in 10 minutes"
VISION_RSS_MB = 300.0         # "vision RSS <= 300 MB and flat"
FLAT_MB_PER_MIN = 1.0         # flat: the second half's least-squares slope at most this (5 MB over a 10-minute run's
                              # second half)
FLAT_MIN_S = 60.0             # a shorter session's slope is noise: flatness is not judged


class RssSampler:
    """Every RSS_INTERVAL_S, the resident memory (VmRSS in /proc/<pid>/status) of this process and all its
    descendants, from a thread of this process: the launcher is this process (run_session runs here), the children
    are spawned by it. Pids are labelled afterwards from the session's own session.json; a system without /proc
    gets ``available`` False and no samples."""

    def __init__(self, interval: float):
        self.interval = interval
        self.available = os.path.exists(f"/proc/{os.getpid()}/status")
        self.samples: dict[int, list] = {}      # pid -> [[seconds since start, MB], ...]
        self.names: dict[int, str] = {}         # pid -> its command name (for processes the session does not list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.t0 = 0.0

    def __enter__(self) -> "RssSampler":
        self.t0 = time.monotonic()
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                self.sample()       # the last picture, as the session ends
                return

    def sample(self) -> None:
        t = round(time.monotonic() - self.t0, 3)
        for pid in [os.getpid(), *descendants(os.getpid())]:
            mb = rss_mb(pid)
            if mb is not None:
                self.samples.setdefault(pid, []).append([t, mb])
                if pid not in self.names:
                    self.names[pid] = _comm(pid)


def _comm(pid: int) -> str:
    """A short name: multiprocessing's helpers by what they run, anything else by its command name."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        for helper in ("resource_tracker", "forkserver", "semaphore_tracker"):
            if helper in cmdline:
                return helper.replace("_", " ")
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def rss_mb(pid: int) -> float | None:
    """VmRSS of one process in MB (None when it is gone or a kernel thread)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 2)
    except (OSError, ValueError, IndexError):
        return None
    return None


def descendants(root: int) -> list[int]:
    """Every living descendant of ``root``, from each process's parent in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])   # after "pid (comm) state": the parent
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rss_interval(seconds: float) -> float:
    """2 s in a long session; shorter ones get enough samples to draw (at least 0.5 s apart)."""
    return min(RSS_INTERVAL_S, max(0.5, seconds / 40.0))


def rss_figures(samples: list) -> dict:
    """first/last/max MB and the growth over the second half of one process's life: the least-squares slope (MB per
    minute) and last minus the first sample of the second half (after the warm-up: models loaded, buffers made)."""
    import numpy as np
    t = np.array([s[0] for s in samples])
    mb = np.array([s[1] for s in samples])
    half = t >= t[0] + (t[-1] - t[0]) / 2
    slope = None
    if half.sum() >= 3 and np.ptp(t[half]) > 0:
        slope = round(float(np.polyfit(t[half], mb[half], 1)[0]) * 60.0, 3)
    return {"first_mb": float(mb[0]), "last_mb": float(mb[-1]), "max_mb": float(mb.max()),
            "second_half_s": round(float(t[-1] - t[half][0]), 1),
            "second_half_growth_mb": round(float(mb[-1] - mb[half][0]), 2),
            "second_half_slope_mb_per_min": slope}


def label_rss(sampler: RssSampler, session_dir: Path | None) -> dict:
    """The samples by process name: launcher and children from session.json's pids, anything else (the null sink's
    pulseaudio, multiprocessing's resource tracker) under ``others`` by its command name."""
    if not sampler.available:
        return {"measured": False, "reason": "not measured: no /proc on this system"}
    session = read_json(Path(session_dir) / "session.json") if session_dir else {}
    names = {}
    if session.get("launcher_pid"):
        names[session["launcher_pid"]] = "launcher"
    for name, child in session.get("children", {}).items():
        names[child["pid"]] = name
    # the children stop before the launcher writes the reports: the figures are for the play, the reports' memory
    # (matplotlib, the PDF) in the launcher is shown apart, not counted as growth
    child_pids = [pid for pid in names if names[pid] != "launcher" and pid in sampler.samples]
    play_end = max((sampler.samples[pid][-1][0] for pid in child_pids), default=None)
    processes, others = {}, {}
    for pid, samples in sampler.samples.items():
        during = [s for s in samples if play_end is None or s[0] <= play_end] or samples
        entry = {"pid": pid, **rss_figures(during), "samples": samples}
        after = [s[1] for s in samples if play_end is not None and s[0] > play_end]
        if after:
            entry["after_play_max_mb"] = max(after)
        if pid in names:
            processes[names[pid]] = entry
        else:
            others[f"{sampler.names.get(pid, '?')} ({pid})"] = entry
    return {"measured": True, "interval_s": sampler.interval, "play_end_s": play_end, "processes": processes,
            "others": others}


def bench_audio(seconds: float = 60.0, block: int | None = None, latency: str | None = None,
                null_sink: bool = False, detector: str | None = None, song: str | None = None,
                keep: str | None = None, say=print, music_latency: str | None = None,
                landmark_threads: int | None = None) -> dict:
    """Run one headless demo session of ``seconds`` and return its audio figures (see the module docstring)."""
    from audio.nullsink import private_sink
    from game import song as song_mod
    from game.benchall import bench_settings, machine
    from game.launcher import run_session

    out_dir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="handtone-bench-"))
    try:
        settings = bench_settings({
            "camera": "demo", "loop_video": True, "window": False, "duration": seconds, "out_dir": str(out_dir),
            "data_dir": str(out_dir / "data"), "block": block, "latency": latency, "music_latency": music_latency,
            "detector": detector, "song": song, "landmark_threads": landmark_threads})
        from audio.stallprobe import StallProbe
        with private_sink(null_sink, settings.sample_rate), StallProbe() as probe, \
                RssSampler(rss_interval(seconds)) as sampler:
            # the probe: what the machine itself does to a real-time thread meanwhile
            sampler.names[probe.pid] = "stall probe"
            result = run_session(settings, song_mod.load_for(settings))
        if result.session_dir is None:
            raise RuntimeError(result.reason)
        row = figures(result.session_dir)
        row["machine_stalls"] = {name: during_stalls(row.get(f"{name}_underflows_at"), probe.result)
                                 for name in ("synth", "music")}
        row.update(machine=machine(), stall_probe=probe.result, setting_latency=settings.latency,
                   setting_block=settings.block, seconds=seconds, null_sink=null_sink, stop_reason=result.reason,
                   rss=label_rss(sampler, result.session_dir),
                   session_dir=str(result.session_dir) if keep else None)
        row["targets"] = targets(row)
        return row
    finally:
        if not keep:
            shutil.rmtree(out_dir, ignore_errors=True)


def figures(session_dir: Path) -> dict:
    """The bench's figures from a finished session's folder."""
    stats = read_json(Path(session_dir) / "stats.json")
    procs = stats.get("processes", {})
    vision = procs.get("vision", {})
    raw_synth = read_json(Path(session_dir) / "stats-synth.json")
    raw_music = read_json(Path(session_dir) / "stats-music.json")
    lat = raw_synth.get("latency_ms") or {}
    session = read_json(Path(session_dir) / "session.json")
    return {
        "played_s": session.get("duration_s"), "paused_s": session.get("paused_s"),
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
        "synth_underflows_at": raw_synth.get("underflows_clock_at"),
        "music_mode": raw_music.get("mode"),
        "music_underflows_flag": raw_music.get("underflows_flag"),
        "music_underflows_clock": raw_music.get("underflows_clock"),
        "music_late_ms_max": raw_music.get("late_ms_max"),
        "music_underflows_at": raw_music.get("underflows_clock_at"),
        "music_latency_setting": raw_music.get("latency_setting"),
        "music_output_latency_ms": raw_music.get("output_latency_ms"),
        "detector": vision.get("detector"), "landmark_threads": vision.get("landmark_threads"),
        "vision_fps": vision.get("fps"), "vision_frames": vision.get("frames"),
        "vision_dropped": vision.get("dropped_frames"), "frame_ms_p50": vision.get("total_ms_p50"),
        "frame_ms_p95": vision.get("total_ms_p95"),
        "cpu_s": {name: p.get("cpu_s") for name, p in procs.items() if p.get("cpu_s") is not None},
    }


def during_stalls(underflows_at, probe: dict | None) -> dict | None:
    """How many of a stream's clock underflows came while the stall probe was held off too: a call late by L at
    time t waited from t - L to t, a probe wake-up late by S at w from w - S to w; the two overlap when the machine
    held both at once (the game cannot cause the probe's wait: it runs in a process of its own). None when either
    side was not recorded."""
    if underflows_at is None or not probe or probe.get("stalls") is None:
        return None
    stalls = [(w - ms / 1000.0, w, ms) for w, ms in probe["stalls"]]
    hit, longest = 0, 0.0
    for t, late_ms in underflows_at:
        overlapping = [ms for a, b, ms in stalls if a <= t and b >= t - late_ms / 1000.0]
        if overlapping:
            hit += 1
            longest = max(longest, *overlapping)
    return {"underflows": len(underflows_at), "during_stalls": hit, "longest_stall_ms": round(longest, 2)}


def _underflow_target(r: dict) -> dict:
    """0 underflows in 10 minutes, synth and backing, by flag and by wall clock. Any underflow is short whatever the
    length; none is a pass only after 10 minutes played on a device (without a speaker nothing can run dry)."""
    name = "0 underflows in 10 minutes"
    keys = ("synth_underflows_flag", "synth_underflows_clock", "music_underflows_flag", "music_underflows_clock")
    played = r.get("played_s") or 0.0
    if r.get("synth_mode") != "device" or r.get("music_mode") != "device" or any(r.get(k) is None for k in keys):
        return {"name": name, "figure": "no speaker: not measured", "pass": None}
    total = sum(r[k] for k in keys)
    figure = (f"synth {r['synth_underflows_flag']}+{r['synth_underflows_clock']}, backing "
              f"{r['music_underflows_flag']}+{r['music_underflows_clock']} (flag+clock) in {played / 60:.1f} min")
    if total:
        return {"name": name, "figure": figure, "pass": False}
    if played < UNDERFLOW_TARGET_S:
        return {"name": name, "figure": figure + f" (< {UNDERFLOW_TARGET_S / 60:.0f} min)", "pass": None}
    return {"name": name, "figure": figure, "pass": True}


def _vision_rss_target(r: dict) -> dict:
    """vision RSS <= 300 MB at its largest, and flat: its second half's slope <= FLAT_MB_PER_MIN (judged only on a
    session of FLAT_MIN_S or more)."""
    name = f"vision RSS <= {VISION_RSS_MB:.0f} MB and flat"
    vision = r.get("rss", {}).get("processes", {}).get("vision")
    if not vision:
        return {"name": name, "figure": r.get("rss", {}).get("reason", "not measured"), "pass": None}
    slope = vision["second_half_slope_mb_per_min"]
    figure = (f"max {vision['max_mb']:.0f} MB, {'-' if slope is None else f'{slope:+.2f}'} MB/min over the "
              f"last {vision['second_half_s']:.0f} s")
    if vision["max_mb"] > VISION_RSS_MB or (slope is not None and vision["second_half_s"] >= FLAT_MIN_S / 2
                                            and slope > FLAT_MB_PER_MIN):
        return {"name": name, "figure": figure, "pass": False}
    if slope is None or vision["second_half_s"] < FLAT_MIN_S / 2:
        return {"name": name, "figure": figure + " (too short to judge flat)", "pass": None}
    return {"name": name, "figure": figure, "pass": True}


def targets(r: dict) -> list:
    return [_underflow_target(r), _vision_rss_target(r)]


def format_audio(r: dict) -> str:
    from game.benchall import verdict

    def f(v, unit=""):
        return "-" if v is None else f"{v}{unit}"
    n = r.get("landmark_threads")
    threads = f" (landmark model on {n} thread{'s' if n > 1 else ''})" if n else ""
    lines = [
        f"bench audio: {r['seconds']:g} s demo session ({f(r['played_s'], ' s')} played), {r['detector']} detector"
        f"{threads} at "
        f"{f(r['vision_fps'])} fps, output {r['output_device'] or 'none'}"
        f"{' (private PulseAudio null sink)' if r['null_sink'] else ''}; {r['machine']['cores']} cores, "
        f"Python {r['machine']['python']}",
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
    rss = r["rss"]
    if rss["measured"]:
        lines.append(f"  memory (VmRSS every {rss['interval_s']:g} s; growth: over the second half of each process's "
                     f"samples, last minus its first, and the least-squares slope)")
        lines.append(f"    {'process':26s} {'pid':>7s} {'first MB':>9s} {'last MB':>9s} {'max MB':>9s} "
                     f"{'growth MB':>10s} {'MB/min':>8s}")
        for name, p in [*rss["processes"].items(), *rss["others"].items()]:
            slope = p["second_half_slope_mb_per_min"]
            lines.append(f"    {name[:26]:26s} {p['pid']:7d} {p['first_mb']:9.1f} {p['last_mb']:9.1f} "
                         f"{p['max_mb']:9.1f} {p['second_half_growth_mb']:+10.2f} "
                         f"{'-' if slope is None else f'{slope:+.2f}':>8s}")
        after = rss["processes"].get("launcher", {}).get("after_play_max_mb")
        lines.append("    (launcher: the bench process itself, which runs run_session; figures until the children "
                     f"stopped at {rss['play_end_s'] or 0:.0f} s"
                     + (f", then up to {after:.0f} MB while it wrote the reports)" if after else ")"))
    else:
        lines.append(f"  memory: {rss['reason']}")
    m = r.get("stall_probe")
    if m:
        steal = "-" if m.get("steal_share") is None else f"{100 * m['steal_share']:.2f} %"
        policy = f"SCHED_FIFO {m['priority']}" if m["realtime"] else "normal priority"
        lines.append(f"  this machine: a probe thread ({policy}, waking every 1 ms) woke up to "
                     f"{m['late_max_ms']} ms late ({m['late_over_2ms']} times over 2 ms, {m['late_over_5ms']} over "
                     f"5 ms); stolen time {steal}")
        lines.append("  (a stall longer than a stream's buffer runs it dry whatever the game does)")
        for name, label in (("synth", "hand tone"), ("music", "backing")):
            c = (r.get("machine_stalls") or {}).get(name)
            if c and c["underflows"]:
                lines.append(f"  {label}: {c['during_stalls']} of its {c['underflows']} late callbacks (wall clock) "
                             "came while the probe was held off too"
                             + (f" (up to {c['longest_stall_ms']} ms)" if c["during_stalls"] else ""))
    if r.get("synth_mode") != "device":
        lines.append("  no speaker was used (the synth ran on the clock): latency is not the device's; "
                     "try --null-sink on Linux")
    if r.get("session_dir"):
        lines.append(f"  session folder: {r['session_dir']}")
    lines.append(f"  flat: the second half's slope <= {FLAT_MB_PER_MIN:g} MB/min, judged on {FLAT_MIN_S:.0f} s or more")
    for t in r["targets"]:
        lines.append(f"target {t['name']}: {t['figure']}  {verdict(t)}")
    return "\n".join(lines)


def plot_audio(r: dict, path) -> Path:
    """Left: every process's RSS over the session (the vision target as a line). Right: underflows, latency and the
    targets as text."""
    import matplotlib
    matplotlib.use("Agg")
    import textwrap

    import matplotlib.pyplot as plt
    from game.benchall import verdict
    fig, (ax, text) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [2, 1]})
    rss = r["rss"]
    if rss["measured"]:
        for name, p in [*rss["processes"].items(), *rss["others"].items()]:
            t = [s[0] / 60.0 for s in p["samples"]]
            ax.plot(t, [s[1] for s in p["samples"]], label=name, lw=2 if name == "vision" else 1)
        ax.axhline(VISION_RSS_MB, color="#c62828", ls="--", lw=1)
        if rss.get("play_end_s"):
            ax.axvline(rss["play_end_s"] / 60.0, color="#757575", ls=":", lw=1)
            ax.text(rss["play_end_s"] / 60.0, 0, " play ends, reports", fontsize=7, color="#757575", rotation=90,
                    va="bottom")
        ax.text(0, VISION_RSS_MB, f" vision target {VISION_RSS_MB:.0f} MB", color="#c62828", va="bottom", fontsize=8)
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, rss["reason"], ha="center", transform=ax.transAxes)
    ax.set_xlabel("minutes into the session")
    ax.set_ylabel("resident memory (MB)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"bench audio: memory of every process ({r['played_s'] or 0:.0f} s session)")

    def f(v, unit=""):
        return "-" if v is None else f"{v}{unit}"
    lines = ["underflows (flag / wall clock)",
             f"  synth   {f(r['synth_underflows_flag'])} / {f(r['synth_underflows_clock'])}",
             f"  backing {f(r['music_underflows_flag'])} / {f(r['music_underflows_clock'])}",
             "", "motion-to-sound latency",
             f"  p50 {f(r['latency_ms_p50'], ' ms')}", f"  p95 {f(r['latency_ms_p95'], ' ms')}",
             f"  p99 {f(r['latency_ms_p99'], ' ms')}", "",
             f"output {r['output_device'] or 'none'}{' (null sink)' if r['null_sink'] else ''}",
             f"detector {r['detector']} at {f(r['vision_fps'])} fps", "", "targets"]
    lines += [f"  {t['name']}:\n" + textwrap.fill(f"{t['figure']} ({verdict(t)})", 40, initial_indent="    ",
                                                  subsequent_indent="    ") for t in r["targets"]]
    text.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=8, transform=text.transAxes)
    text.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
