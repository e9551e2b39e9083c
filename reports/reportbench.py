"""How long a session's reports take: `python main.py bench report` prints what bench_report() returns.

Why a real session: the reports' cost grows with what a session leaves (synth.csv, frames.csv, the WAVs that are mixed
into performance.wav, the piano roll of every note), so the bench plays one real headless demo session of ``minutes``
first. The bundled songs last 28-39 s, so it plays a song made of a bundled song's notes repeated until it lasts at
least ``minutes`` (written as a TOML song into a temporary folder, BASE_SONG's own lines and lyrics, nothing else
changed), stopped by --duration at exactly ``minutes``; the demo clip loops meanwhile. Email is off and the history
goes into a temporary data folder.

Then the reports are rebuilt ``runs`` times from that folder the way `python main.py report` does it
(reports/build.rebuild: the session's own difficulty and player, the email only a draft), each step timed (score,
notes, mix: the WAVs, stats, history, pdf, email draft). Beside them, printed, not the target: the whole command
`python main.py report DIR` in a fresh process (Python start-up and imports included), and how long the live session
itself took to write its reports (from its launcher's last stats file, written just before the reports start, to
run_session's return).
Target: report generation <= 3 s for a 3-minute session (the median of the rebuilds).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

BASE_SONG = "ode_to_joy"
TARGET_S = 3.0
TARGET_MINUTES = 3.0
STEPS = ("score", "notes", "mix", "stats", "history", "pdf", "email")
ROOT = Path(__file__).resolve().parent.parent


def long_song(minutes: float, folder: Path) -> tuple[Path, dict]:
    """BASE_SONG's lines and lyrics repeated until the song lasts at least ``minutes``, as a TOML file in folder."""
    from game import song as song_mod
    from game import tomlsong
    source = song_mod.resolve(BASE_SONG)
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    for repeats in range(1, 1000):
        song = {**data, "title": f"{data['title']} (x{repeats})", "lines": data["lines"] * repeats,
                "lyrics": data.get("lyrics", []) * repeats}
        text = "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in song.items())
        parsed = tomlsong.parse_text(text, "<report bench song>")
        if parsed.duration >= 60.0 * minutes:
            break
    path = folder / f"{BASE_SONG}_x{repeats}.toml"
    path.write_text(text, encoding="utf-8")
    return path, {"made_from": source.name, "repeats": repeats, "title": parsed.title, "notes": len(parsed.notes),
                  "duration_s": round(parsed.duration, 2)}


def play_session(minutes: float, song_path: Path, out_dir: Path, data_dir: Path, null_sink: bool):
    """One headless demo session; (session folder, seconds the live session took to write its reports)."""
    from audio.nullsink import private_sink
    from game import song as song_mod
    from game.benchall import bench_settings
    from game.launcher import run_session
    settings = bench_settings({"camera": "demo", "loop_video": True, "window": False, "duration": 60.0 * minutes,
                               "out_dir": str(out_dir), "song": str(song_path), "data_dir": str(data_dir)})
    with private_sink(null_sink, settings.sample_rate):
        result = run_session(settings, song_mod.load_for(settings))
        returned = time.time()
    if result.session_dir is None:
        raise RuntimeError(f"the session did not play: {result.reason}")
    # the launcher writes stats-launcher.json, then the reports (game/launcher.py run): the time between is theirs
    before_reports = (result.session_dir / "stats-launcher.json").stat().st_mtime
    return result.session_dir, round(returned - before_reports, 3)


def time_rebuild(session_dir: Path, data_dir: Path) -> dict:
    """One rebuild as `python main.py report` does it (reports/build.rebuild), each step's seconds."""
    from game import settings as settings_mod
    from reports.build import rebuild
    # as the report command builds them; rebuild never sends (the email is only a draft, summary.eml)
    settings = settings_mod.build({"data_dir": str(data_dir)})
    steps: dict = {}
    started = time.perf_counter()
    summary = rebuild(session_dir, settings, timings=steps)
    total = time.perf_counter() - started
    failed = [w for w in summary.warnings if any(w.startswith(f"{s} failed") for s in STEPS)]
    return {"total_s": round(total, 3), "steps_s": {k: round(v, 3) for k, v in steps.items()},
            "score": summary.total, "files": sorted(summary.files), "failed": failed}


def time_command(session_dir: Path, data_dir: Path) -> float:
    """`python main.py report DIR` in a fresh process, wall seconds (what a player waits for at the prompt)."""
    from game.startupbench import bench_env
    env = bench_env(os.environ, data_dir, {})   # never mail anyone (report only writes a draft anyway)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "report", str(session_dir)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"python main.py report failed ({proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return round(wall, 3)


def _sizes(session_dir: Path) -> dict:
    """The session's biggest inputs and outputs, MB (what the steps have to read and write)."""
    names = ("synth.csv", "frames.csv", "synth.wav", "backing.wav", "recording.wav", "performance.wav", "report.pdf")
    return {n: round((session_dir / n).stat().st_size / 1e6, 2) for n in names if (session_dir / n).exists()}


def bench_report(minutes: float = 3.0, runs: int = 3, null_sink: bool = False) -> dict:
    """Play one session of ``minutes``, then time its reports ``runs`` times (see the module docstring)."""
    from game.benchall import machine
    if minutes <= 0 or runs < 1:
        raise RuntimeError("bench report needs --report-minutes above 0 and --runs of 1 or more")
    work = Path(tempfile.mkdtemp(prefix="handtone-reportbench-"))
    try:
        data_dir = work / "data"
        song_path, song = long_song(minutes, work)
        session_dir, live_s = play_session(minutes, song_path, work / "sessions", data_dir, null_sink)
        session = json.loads((session_dir / "session.json").read_text(encoding="utf-8"))
        rebuilds = [time_rebuild(session_dir, data_dir) for _ in range(runs)]
        commands = [time_command(session_dir, data_dir) for _ in range(runs)]
        sizes = _sizes(session_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = round(statistics.median(r["total_s"] for r in rebuilds), 3)
    return {
        "machine": machine(), "minutes": minutes, "runs": runs, "null_sink": null_sink, "song": song,
        "played_s": session.get("duration_s"), "stop_reason": session.get("stop_reason"), "sizes_mb": sizes,
        "live_reports_s": live_s, "rebuilds": rebuilds, "median_s": median,
        "command_s": commands, "command_median_s": round(statistics.median(commands), 3),
        "targets": [target(median, session.get("duration_s") or 0.0, rebuilds)],
    }


def target(median: float, played_s: float, rebuilds: list) -> dict:
    """Judged only on a session of 3 minutes or more, and only when no step failed (a failed step is quick)."""
    name = f"report generation <= {TARGET_S:g} s for a {TARGET_MINUTES:g}-minute session"
    figure = f"{median:.2f} s median for {played_s / 60:.1f} min"
    if any(r["failed"] for r in rebuilds):
        return {"name": name, "figure": figure + " (a step failed)", "pass": None}
    if played_s < 60.0 * TARGET_MINUTES - 1.0:
        return {"name": name, "figure": figure + f" (< {TARGET_MINUTES:g} min)", "pass": None}
    return {"name": name, "figure": figure, "pass": median <= TARGET_S}


def format_report(result: dict) -> str:
    from game.benchall import verdict
    m, song = result["machine"], result["song"]
    times = f"{result['runs']} time{'s' if result['runs'] != 1 else ''}"
    lines = [f"bench report: the reports of a {result['played_s']:.0f} s headless demo session ({song['title']}: "
             f"{song['made_from']} x{song['repeats']}, {song['notes']} notes), rebuilt {times} as "
             f"`python main.py report` does; {m['cores']} cores, Python {m['python']}",
             "  session files (MB): " + ", ".join(f"{k} {v:g}" for k, v in result["sizes_mb"].items()),
             f"{'run':>4s} {'total s':>8s}  " + "".join(f"{s:>8s}" for s in STEPS)]
    for i, r in enumerate(result["rebuilds"], 1):
        lines.append(f"{i:4d} {r['total_s']:8.2f}  " + "".join(f"{r['steps_s'].get(s, float('nan')):8.2f}"
                                                               for s in STEPS))
        lines += [f"     {w}" for w in r["failed"]]
    lines.append(f"median {result['median_s']:.2f} s; `python main.py report DIR` in a fresh process (start-up and "
                 f"imports included): median {result['command_median_s']:.2f} s "
                 f"({', '.join(f'{c:.2f}' for c in result['command_s'])}); the live session wrote its reports in "
                 f"{result['live_reports_s']:.2f} s")
    for t in result["targets"]:
        lines.append(f"target {t['name']}: {t['figure']}  {verdict(t)}")
    return "\n".join(lines)


def plot_report(result: dict, path) -> Path:
    """One bar per rebuild, its steps stacked; then the fresh-process command and the live session's reports."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 5))
    rebuilds = result["rebuilds"]
    xs = list(range(len(rebuilds)))
    colours = plt.get_cmap("tab10").colors
    bottom = [0.0] * len(rebuilds)
    for k, step in enumerate(STEPS):
        heights = [r["steps_s"].get(step, 0.0) for r in rebuilds]
        ax.bar(xs, heights, bottom=bottom, color=colours[k % len(colours)], label=step)
        bottom = [b + h for b, h in zip(bottom, heights)]
    extra = [("report command\n(fresh process)", result["command_median_s"]),
             ("live session", result["live_reports_s"])]
    ex = [len(rebuilds) + 0.5 + i for i in range(len(extra))]
    ax.bar(ex, [v for _, v in extra], color="#9e9e9e")
    for x, (_, v) in zip(ex, extra):
        ax.text(x, v, f"{v:.2f} s", ha="center", va="bottom", fontsize=8)
    for x, r in zip(xs, rebuilds):
        ax.text(x, r["total_s"], f"{r['total_s']:.2f} s", ha="center", va="bottom", fontsize=8)
    ax.axhline(TARGET_S, color="#c62828", ls="--", lw=1)
    ax.text(-0.4, TARGET_S, f"target {TARGET_S:g} s", color="#c62828", va="bottom", fontsize=8)
    ax.set_xticks(xs + ex)
    ax.set_xticklabels([f"rebuild {i + 1}" for i in xs] + [label for label, _ in extra], fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title(f"bench report: a {result['played_s']:.0f} s session's reports (median {result['median_s']:.2f} s)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


if __name__ == "__main__":      # python -m reports.reportbench [MINUTES]: the same as python main.py bench report
    print(format_report(bench_report(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)))
    sys.exit(0)
