"""`python main.py bench startup`: from typing the command to every child ready, and to the first tone.

Why real subprocesses: a player waits for the interpreter, the imports, the settings and the song, the children's
spawn, their imports and their devices, so each run is a real `python main.py demo --no-window --duration 2` (email
off, history and sessions in a temporary folder, the private null sink's environment with ``null_sink``). One run
first is not counted: it makes the caches a new machine makes once (the demo clip, the models' first load).

Clock: time.monotonic() is CLOCK_MONOTONIC, one clock for every process on Linux, so the bench's reading just before
the spawn lines up with the launcher's own (stats-launcher.json "monotonic": its start, all children ready, t0) and
with the synth's DAC times (synth.csv t_dac is session seconds since t0). Per run:
- ready: spawn -> the launcher sees every child ready (the target), split into before the launcher runs (interpreter,
  imports, settings, song) and the launcher's own wait (spawning the children: their interpreters, imports, devices;
  stats-launcher.json children_startup_s per child);
- first tone: spawn -> DAC time of the first synth block with amplitude > 0. It also holds two waits that are the
  game's design, not the machine's: the count-in (settings.count_in) and the demo clip's lead-in before its hand
  appears; both are shown, and the first tone without them.
Once, after the runs: a bare interpreter's start and each child's imports in a fresh interpreter, so a child's
start-up splits into interpreter + imports and the rest (opening its device, loading models, rendering the backing).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from game.child import read_json
from game.figures import percentile


ROOT = Path(__file__).resolve().parent.parent
TARGET_READY_S = 1.5
RUN_TIMEOUT = 120.0
# what each child imports before it is ready (its target module and the modules its run() imports on the way)
CHILD_IMPORTS = {
    "launcher": ("game.cli", "game.launcher", "vision.calibration"),
    "vision": ("game.child", "game.song", "vision.process", "vision.detector", "vision.sources", "vision.videofeed",
               "vision.window", "vision.classic", "vision.landmarks"),
    "synth": ("game.child", "game.song", "audio.synth", "audio.output", "audio.devices", "audio.realtime",
              "pyaudio"),
    "music": ("game.child", "game.song", "audio.music", "audio.arrangement", "audio.instruments", "audio.output",
              "audio.devices", "pyaudio"),
    "recorder": ("game.child", "game.song", "audio.recorder", "audio.devices", "audio.output", "audio.delaystore",
                 "pyaudio"),
}


def bench_env(base: dict, data_dir: Path, extra: dict) -> dict:
    """The environment for a `python main.py ...` a bench runs: ``base`` and ``extra``, email off, the history in
    ``data_dir`` (not the player's)."""
    env = dict(base)
    env.update(extra)
    env["SMTP_HOST"] = ""                 # email off (the environment wins over .env)
    env["HANDTONE_DATA_DIR"] = str(data_dir)   # no history entry for the player
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _first(path: Path, column: str, test) -> dict | None:
    """The first row of a session CSV whose ``column`` passes ``test``."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row[column] not in ("", None) and test(float(row[column])):
                    return row
    except OSError:
        return None
    return None


def one_run(out: Path, env: dict, detector: str | None) -> dict:
    """One `main.py demo` from spawn to exit; its start-up figures (seconds)."""
    cmd = [sys.executable, str(ROOT / "main.py"), "demo", "--no-window", "--duration", "2", "--out", str(out)]
    if detector:
        cmd += ["--detector", detector]
    t_spawn = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"main.py demo did not finish in {RUN_TIMEOUT:g} s") from None
    wall = time.monotonic() - t_spawn
    sessions = sorted(p for p in out.iterdir() if p.is_dir())
    if proc.returncode != 0 or not sessions:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"main.py demo exited {proc.returncode}: {last}")
    session = sessions[-1]
    launcher = read_json(session / "stats-launcher.json")
    mono = launcher.get("monotonic") or {}
    if not mono.get("all_ready"):
        raise RuntimeError(f"{session}/stats-launcher.json has no monotonic times (an older launcher?)")
    info = read_json(session / "session.json")
    synth = read_json(session / "stats-synth.json")
    tone = _first(session / "synth.csv", "amplitude", lambda a: a > 0.0)
    seen = _first(session / "frames.csv", "present", lambda p: p > 0.5)
    t0 = mono["t0"]
    row = {
        "ready_s": round(mono["all_ready"] - t_spawn, 3),
        "before_launcher_s": round(mono["start"] - t_spawn, 3),
        "launcher_ready_s": round(mono["all_ready"] - mono["start"], 3),
        "count_in_s": round(t0 - mono["all_ready"], 3),
        "children_s": launcher.get("children_startup_s", {}),
        "music_prepare_s": read_json(session / "stats-music.json").get("prepare_s"),
        "synth_mode": synth.get("mode"),
        "detector": read_json(session / "stats-vision.json").get("detector"),
        "wall_s": round(wall, 3),
        "stop_reason": info.get("stop_reason"),
        "first_tone_s": None, "hand_seen_s": None, "seen_to_tone_s": None, "tone_less_waits_s": None,
    }
    if tone is not None:
        t_tone = t0 + float(tone["t_dac"])
        row["first_tone_s"] = round(t_tone - t_spawn, 3)
        if seen is not None:       # the demo clip's lead-in: the hand is first in the picture this late after t0
            t_seen = float(seen["t_capture"])
            row["hand_seen_s"] = round(t_seen, 3)
            row["seen_to_tone_s"] = round(float(tone["t_dac"]) - t_seen, 3)
            row["tone_less_waits_s"] = round(row["first_tone_s"] - row["count_in_s"] - max(0.0, t_seen), 3)
    return row


def import_times(env: dict, detector: str | None) -> dict:
    """A bare interpreter's start (spawn -> exit of `python -c pass`) and, in a fresh interpreter each, the
    imports of the launcher and of every child (seconds)."""
    out = {}
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    out["interpreter_s"] = round(time.monotonic() - t, 3)
    code = ("import sys, time; sys.path.insert(0, {root!r}); t = time.monotonic()\n"
            "for m in {mods!r}: __import__(m)\nprint(time.monotonic() - t)")
    for name, mods in CHILD_IMPORTS.items():
        if name == "vision" and detector == "classic":
            mods = tuple(m for m in mods if m != "vision.landmarks")
        proc = subprocess.run([sys.executable, "-c", code.format(root=str(ROOT), mods=list(mods))], env=env,
                              capture_output=True, text=True)
        out[f"{name}_imports_s"] = round(float(proc.stdout.strip()), 3) if proc.returncode == 0 else None
    return out


def bench_startup(runs: int = 5, null_sink: bool = False, detector: str | None = None) -> dict:
    """One set-up run, then ``runs`` timed runs of `main.py demo` (module docstring)."""
    from game.benchall import machine
    work = Path(tempfile.mkdtemp(prefix="handtone-startup-"))
    server = None
    try:
        extra = {}
        if null_sink:
            from audio.nullsink import NullSinkServer
            server = NullSinkServer().start()
            extra = dict(server.env)
        env = bench_env(os.environ, work / "data", extra)
        setup = one_run(_fresh(work / "setup"), env, detector)
        timed = [one_run(_fresh(work / f"run-{k}"), env, detector) for k in range(runs)]
        imports = import_times(env, detector)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    ready = [r["ready_s"] for r in timed]
    median = {k: percentile([r[k] for r in timed], 50) for k in (
        "ready_s", "before_launcher_s", "launcher_ready_s", "count_in_s", "first_tone_s", "hand_seen_s",
        "seen_to_tone_s", "tone_less_waits_s", "music_prepare_s")}
    children = {name: percentile([r["children_s"].get(name) for r in timed], 50) for name in timed[0]["children_s"]}
    ok = median["ready_s"] is not None
    return {
        "bench": "startup", "machine": machine(), "runs": runs, "null_sink": null_sink,
        "detector": timed[0]["detector"], "synth_mode": timed[0]["synth_mode"],
        "setup_run": setup, "timed": timed, "median": median, "ready_max_s": max(ready),
        "children_median_s": children, "imports": imports, "child_modules": {k: list(v) for k, v in
                                                                             CHILD_IMPORTS.items()},
        "targets": [{"name": f"all children ready <= {TARGET_READY_S:g} s",
                     "figure": f"{median['ready_s']:.2f} s (max {max(ready):.2f})" if ok else "-",
                     "pass": bool(median["ready_s"] <= TARGET_READY_S) if ok else None}],
    }


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def format_startup(r: dict) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f} s"
    m, imp = r["median"], r["imports"]
    lines = [
        f"startup bench: `main.py demo --no-window --duration 2` x {r['runs']} after one set-up run "
        f"({r['detector']} detector, synth {r['synth_mode']}{', private PulseAudio null sink' if r['null_sink'] else ''})",
        f"  {'':34s} {'median':>9s} {'max':>9s}   set-up run",
    ]

    def row(label, key):
        values = [t[key] for t in r["timed"] if t[key] is not None]
        lines.append(f"  {label:34s} {f(m[key]):>9s} {f(max(values) if values else None):>9s}   "
                     f"{f(r['setup_run'][key])}")
    row("spawn -> all children ready", "ready_s")
    row("  before the launcher runs", "before_launcher_s")
    row("  launcher start -> all ready", "launcher_ready_s")
    row("spawn -> first tone", "first_tone_s")
    row("  of which the count-in", "count_in_s")
    row("  of which the clip's lead-in", "hand_seen_s")
    row("  hand seen -> first tone", "seen_to_tone_s")
    row("first tone without those two waits", "tone_less_waits_s")
    lines.append("  each child, spawn -> ready (median): " + ", ".join(
        f"{k} {v:.3f} s" for k, v in r["children_median_s"].items()))
    lines.append(f"  where it goes: a bare interpreter starts in {f(imp['interpreter_s'])}; imports (fresh "
                 f"interpreter): " + ", ".join(f"{k} {f(imp.get(f'{k}_imports_s'))}" for k in CHILD_IMPORTS))
    lines.append(f"  the rest of a child's start is its device, models or backing: the music renders the backing "
                 f"in {f(m['music_prepare_s'])} before it is ready")
    from game.benchall import verdict
    for t in r["targets"]:
        lines.append(f"  {t['name']:34s} {t['figure']:>22s}  {verdict(t)}   (first tone "
                     f"{f(m['first_tone_s'])}, {f(m['tone_less_waits_s'])} without the count-in and lead-in)")
    return "\n".join(lines)


def plot_startup(result: dict, path) -> Path:
    """Each timed run as one bar: before the launcher, launcher -> ready, count-in, lead-in, hand -> tone; and each
    child's start-up split into interpreter + imports and the rest."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    parts = (("before_launcher_s", "before the launcher", "#6a1b9a"), ("launcher_ready_s", "children start",
             "#1565c0"), ("count_in_s", "count-in", "#bdbdbd"), ("hand_seen_s", "clip lead-in", "#e0e0e0"),
             ("seen_to_tone_s", "hand -> first tone", "#2e7d32"))
    for i, run in enumerate(result["timed"]):
        left = 0.0
        for key, label, colour in parts:
            width = run.get(key) or 0.0
            ax1.barh(i, width, left=left, color=colour, label=label if i == 0 else None)
            left += width
    ax1.axvline(TARGET_READY_S, color="#c62828", ls="--", lw=1, label=f"ready target {TARGET_READY_S:g} s")
    ax1.set_yticks(range(len(result["timed"])), [f"run {i + 1}" for i in range(len(result["timed"]))])
    ax1.invert_yaxis()
    ax1.set_xlabel("seconds from spawn")
    ax1.set_title("start-up and first tone, each timed run", fontsize=10)
    ax1.legend(fontsize=7, loc="lower right")
    imp = result["imports"]
    names = list(result["children_median_s"])
    for i, name in enumerate(names):
        total = result["children_median_s"][name] or 0.0
        base = min(total, (imp.get("interpreter_s") or 0.0) + (imp.get(f"{name}_imports_s") or 0.0))
        ax2.barh(i, base, color="#90caf9", label="interpreter + imports" if i == 0 else None)
        ax2.barh(i, total - base, left=base, color="#1565c0", label="the rest: device, models, backing (children share the cores)" if i == 0 else None)
        ax2.text(total, i, f" {total:.2f} s", va="center", fontsize=8)
    ax2.set_yticks(range(len(names)), names)
    ax2.invert_yaxis()
    ax2.set_xlabel("seconds from spawn to ready (median)")
    ax2.set_title("each child", fontsize=10)
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
