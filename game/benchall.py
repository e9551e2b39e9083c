"""`python main.py bench NAME|all`: runs one benchmark (or every one), prints it, keeps it as JSON and a PNG plot.

Why one place: every benchmark has the same three parts (a function measuring and returning a JSON-able dict, one
formatting it as a short table, one drawing it), and `bench all` needs every target side by side. Each benchmark's
dict carries ``targets``: a list of ``{"name": "classic >= 600 fps", "figure": "687 fps", "pass": True}``, with
``pass`` None where the figure could not be measured on this machine (say, no speaker), so a missing figure is never
printed as a pass. Nothing here asserts a time: figures are measured, printed and compared in one run.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import time
from pathlib import Path


class BenchFailed(RuntimeError):
    """A benchmark could not run (a child died, the null sink would not start, ...): one line saying why."""


def bench_settings(cli: dict):
    """Settings for a bench's own session: ``cli`` as from the command line, never an email, and the history in
    ``cli["data_dir"]`` (a bench session is not one of the player's)."""
    from game import settings as settings_mod
    if not cli.get("data_dir"):
        raise ValueError("a bench session needs its own data_dir")
    return settings_mod.build(cli).replace(smtp=settings_mod.SmtpSettings())


def _kwargs(name: str, args) -> dict:
    """The benchmark's keyword arguments from the command line (None: the benchmark's own default)."""
    if name == "ipc":
        return {"messages": max(100, args.messages), "frames": max(10, args.frames or 200)}
    if name == "vision":
        return {"frames": max(20, args.frames or 400), "landmark_threads": args.landmark_threads}
    if name == "pipeline":
        return {"frames": max(10, args.frames or 300), "workers": args.workers}
    session = {"null_sink": args.null_sink}
    if name == "latency":
        return session | {"seconds": args.seconds or 60.0, "detector": args.detector, "block": args.block,
                          "latency": args.latency, "keep": args.keep, "landmark_threads": args.landmark_threads}
    if name == "audio":
        seconds = args.seconds if args.seconds else 60.0 * args.minutes
        return session | {"seconds": seconds, "block": args.block, "latency": args.latency,
                          "detector": args.detector, "keep": args.keep, "music_latency": args.music_latency,
                          "landmark_threads": args.landmark_threads}
    if name == "startup":
        return session | {"runs": max(1, args.runs or 5), "detector": args.detector}
    if name == "report":
        return session | {"minutes": args.report_minutes, "runs": max(1, args.runs or 3)}
    raise ValueError(name)


# name -> (module, measuring function, formatting function, plotting function)
BENCHES = {
    "ipc": ("game.ipcbench", "bench_ipc", "format_ipc", "plot_ipc"),
    "vision": ("vision.bench", "bench_vision", "format_vision", "plot_vision"),
    "pipeline": ("vision.pipelinebench", "bench_pipeline", "format_pipeline", "plot_pipeline"),
    "latency": ("game.latencybench", "bench_latency", "format_latency", "plot_latency"),
    "audio": ("audio.bench", "bench_audio", "format_audio", "plot_audio"),
    "startup": ("game.startupbench", "bench_startup", "format_startup", "plot_startup"),
    "report": ("reports.reportbench", "bench_report", "format_report", "plot_report"),
}
ORDER = tuple(BENCHES)    # bench all runs them in this order: the quick ones first


def measure(name: str, args) -> dict:
    """Run one benchmark and return its figures; BenchFailed with the reason when it cannot run."""
    module_name, bench, _, _ = BENCHES[name]
    module = importlib.import_module(module_name)
    try:
        return getattr(module, bench)(**_kwargs(name, args))
    except (RuntimeError, OSError) as e:
        raise BenchFailed(str(e)) from e


def save(name: str, result: dict, results_dir) -> tuple[Path, Path]:
    """<results>/<name>.json and <name>.png."""
    module_name, _, _, plot = BENCHES[name]
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return path, Path(getattr(importlib.import_module(module_name), plot)(result, out / f"{name}.png"))


def show(name: str, result: dict, as_json: bool) -> str:
    module_name, _, fmt, _ = BENCHES[name]
    return json.dumps(result, indent=1) if as_json else getattr(importlib.import_module(module_name), fmt)(result)


def run_one(name: str, args) -> dict:
    result = measure(name, args)
    figures, plot = save(name, result, args.results)
    print(show(name, result, args.json))
    print(f"figures: {figures}, plot: {plot}", flush=True)
    return result


def verdict(target: dict) -> str:
    return {True: "pass", False: "short"}.get(target.get("pass"), "not measured")


def machine() -> dict:
    import numpy
    try:
        import cv2
        opencv = cv2.__version__
    except ImportError:
        opencv = None
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "numpy": numpy.__version__, "opencv": opencv}


def format_all(summary: dict) -> str:
    rows = summary["targets"]
    width = max([len(t["name"]) for t in rows] + [6])
    lines = [f"bench all: every target side by side ({summary['machine']['cores']} cores, Python "
             f"{summary['machine']['python']}; {summary['minutes']:.1f} minutes)",
             f"{'bench':9s} {'target':{width}s} {'figure':>24s}  result"]
    for t in rows:
        lines.append(f"{t['bench']:9s} {t['name']:{width}s} {t['figure']:>24s}  {verdict(t)}")
    for name, reason in summary["failed"].items():
        lines.append(f"{name:9s} could not run: {reason}")
    passed = sum(t.get("pass") is True for t in rows)
    lines.append(f"{passed} of {len(rows)} targets pass")
    return "\n".join(lines)


def plot_all(summary: dict, path) -> Path:
    """One bar per target: pass green, short red, not measured grey."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = summary["targets"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    colours = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}
    for i, t in enumerate(rows):
        ax.barh(i, 1, color=colours[t.get("pass")])
        ax.text(0.02, i, f"{t['name']}: {t['figure']} ({verdict(t)})", va="center", color="white", fontsize=9)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.invert_yaxis()
    ax.set_title("python main.py bench all: targets")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def run_all(args) -> int:
    """Every benchmark in ORDER (one failing does not stop the others), then the targets side by side."""
    started = time.monotonic()
    targets, failed = [], {}
    for name in ORDER:
        print(f"== bench {name}", flush=True)
        try:
            result = run_one(name, args)
        except BenchFailed as e:
            failed[name] = str(e)
            print(f"handtone: bench {name} could not run: {e}", flush=True)
            continue
        targets += [{"bench": name, **t} for t in result.get("targets", [])]
    summary = {"machine": machine(), "targets": targets, "failed": failed,
               "minutes": round((time.monotonic() - started) / 60.0, 2)}
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "all.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    plot = plot_all(summary, out / "all.png")
    print("== all")
    print(json.dumps(summary, indent=1) if args.json else format_all(summary))
    print(f"figures: {out / 'all.json'}, plot: {plot}", flush=True)
    return 1 if failed else 0
