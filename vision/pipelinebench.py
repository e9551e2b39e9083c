"""Capture -> detect -> draw, one frame after another, with threads, with processes and with a process pool:
`python main.py bench pipeline` prints what bench_pipeline() returns.

Why: the vision work could be shared out in several ways; this measures them side by side in one run on the same
frames, and checks every way found the very same hands (a faster way that finds other hands is no way at all).

The workload of one frame, as in a session on the demo camera:
- capture: the next frame of an MJPG clip drawn by the demo clip's renderer (vision/democlip.py's hand following the
  song), decoded by vision/sources.py's FileSource, the demo camera's reader. Capture always happens in the main
  thread of the main process, in frame order, as a camera hands frames out one by one;
- detect: vision/classic.py's ClassicDetector with the fixed skin range, over the whole frame, background model, face
  look and smoothing off: those carry state from one frame to the next, and frames shared out among workers must not
  depend on each other (that is also what makes the results comparable frame by frame);
- draw: vision/scene.py's Scene.render, the picture the game window shows.
Each worker (thread or process) has its own detector and Scene, built before the clock starts (the start-up is timed
apart). OpenCV uses one thread in every worker, so the workers are what runs in parallel.

fps is over the work phase; CPU utilisation is the CPU time of every process involved (the main process's
getrusage, and each worker's own getrusage since it was ready) over wall time and cores.
"""
from __future__ import annotations

import os
import pickle
import platform
import queue
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from game.cputime import cores, cpu_seconds

MODES = ("sequential", "threads", "processes", "process pool")
SONG = "ode_to_joy"
WIDTH, HEIGHT = 640, 480
CLIP_FRAMES = 300       # distinct frames in the clip (10 s at 30 fps); longer runs loop it
POOL_BATCH = 100        # frames captured, then handed to the pool in one map
READY_TIMEOUT_S = 120.0
DETECTOR_NOTE = ("classic (vision/classic.py): fixed skin range over the whole frame; background model, face look "
                 "and smoothing off, so frames do not depend on each other")


def _settings(clip: Path | None = None):
    from game.settings import Settings
    return Settings(camera=str(clip) if clip else "demo", song=SONG, width=WIDTH, height=HEIGHT, loop_video=True)


# ---- the clip ----------------------------------------------------------------------------------------------------
def write_clip(path: Path, frames: int, start: float) -> Path:
    """The demo clip's pictures from song time ``start`` on, written as MJPG like the demo clip (make_clip's loop)."""
    import math

    from game.song import load_for
    from vision.democlip import CLIP_FPS, HandScript, _writer, calibrate
    from vision.handdraw import Painter, hand_extent

    settings = _settings()
    song = load_for(settings)
    painter = Painter(WIDTH, HEIGHT)
    script = HandScript(song, settings)
    areas = [math.exp(a) for a in script.log_area]
    log_s, log_a = calibrate(WIDTH, HEIGHT, painter, min(areas) / 1.2, max(areas) * 1.2)
    w = _writer(path, WIDTH, HEIGHT)
    try:
        for i in range(frames):
            t = start + i / CLIP_FPS
            hand = None
            if script.present(t):
                scale = float(np.exp(np.interp(math.log(script.area(t)), log_a, log_s)))
                fx, fy = script.drift(t)
                x0, y0, x1, y1 = hand_extent(scale)
                hand = (min(max(fx * WIDTH, 3 - x0), WIDTH - 3 - x1), min(max(fy * HEIGHT, 3 - y0), HEIGHT - 3 - y1),
                        scale)
            w.write(painter.paint(hand))
    finally:
        w.release()
    return path


def first_note_time() -> float:
    from game.song import load_for
    return min(n.start for n in load_for(_settings()).notes)


# ---- one worker's detect and draw ----------------------------------------------------------------------------------
class Work:
    """A worker's own detector and Scene: detect and draw one frame, return what was found and how long it took."""

    def __init__(self, start: float):
        import cv2

        from game.song import load_for
        from vision.classic import ClassicDetector
        from vision.scene import Scene
        cv2.setNumThreads(1)
        settings = _settings()
        self.start = start
        self.detector = ClassicDetector(WIDTH, HEIGHT, background=False, faces=False, steady=False)
        self.scene = Scene(settings, load_for(settings), None)
        self.ready_cpu = cpu_seconds()

    def __call__(self, i: int, frame: np.ndarray) -> tuple:
        t0 = time.perf_counter()
        detection = self.detector.detect(frame)
        t1 = time.perf_counter()
        self.scene.render(frame, detection, self.start + i / 30.0, 30.0, None)
        t2 = time.perf_counter()
        h = detection.hand
        found = (True, h.area, h.cx, h.cy) if h is not None else (False, 0.0, 0.0, 0.0)
        return i, found, (t1 - t0) * 1000.0, (t2 - t1) * 1000.0

    def cpu_since_ready(self) -> float:
        return cpu_seconds() - self.ready_cpu


def serve(inbox, outbox, ready, start: float, in_process: bool) -> None:
    """A worker's loop (a thread or a process): (i, frame) in, results out, None ends it with its CPU time."""
    work = Work(start)
    ready.wait(READY_TIMEOUT_S)
    work.ready_cpu = cpu_seconds()
    while True:
        item = inbox.get()
        if item is None:
            break
        outbox.put(work(*item))
    # a thread's CPU time is its process's (the main process counts it); a process reports its own
    outbox.put(("done", os.getpid(), work.cpu_since_ready() if in_process else 0.0))


_pool_work: Work | None = None


def _pool_init(start: float, ready) -> None:
    global _pool_work
    _pool_work = Work(start)
    ready.wait(READY_TIMEOUT_S)
    _pool_work.ready_cpu = cpu_seconds()


def _pool_frame(item) -> tuple:
    i, frame = item
    return _pool_work(i, frame) + (os.getpid(), _pool_work.cpu_since_ready())


# ---- the four ways ---------------------------------------------------------------------------------------------------
class Run:
    """One mode's clock, CPU time, capture and results."""

    def __init__(self, clip: Path, frames: int):
        from vision.sources import FileSource
        self.frames = frames
        self.source = FileSource(clip, _settings(clip))
        self.capture_ms = np.zeros(frames)
        self.detect_ms = np.zeros(frames)
        self.draw_ms = np.zeros(frames)
        self.found: list = [None] * frames
        self.worker_cpu: dict = {}
        self.t_setup = time.perf_counter()
        self.cpu_setup = cpu_seconds() + cpu_seconds(children=True)

    def begin(self) -> None:
        """Workers are ready: the work phase starts."""
        self.t_begin = time.perf_counter()
        self.cpu_begin = cpu_seconds()

    def capture(self, i: int) -> np.ndarray:
        t = time.perf_counter()
        ok, frame, _ = self.source.read()
        if not ok:
            raise RuntimeError(f"the bench clip could not be read at frame {i}")
        self.capture_ms[i] = (time.perf_counter() - t) * 1000.0
        return frame

    def take(self, result: tuple) -> None:
        i, found, detect_ms, draw_ms = result[:4]
        self.found[i] = found
        self.detect_ms[i], self.draw_ms[i] = detect_ms, draw_ms

    def end(self, mode: str, workers: int) -> dict:
        wall = time.perf_counter() - self.t_begin
        cpu = cpu_seconds() - self.cpu_begin + sum(self.worker_cpu.values())
        self.source.close()
        return self.figures(mode, workers, wall, cpu)

    def figures(self, mode: str, workers: int, wall: float, cpu: float) -> dict:
        total = time.perf_counter() - self.t_setup
        cpu_all = cpu_seconds() + cpu_seconds(children=True) - self.cpu_setup
        per_frame = self.capture_ms + self.detect_ms + self.draw_ms
        n = cores()
        return {"mode": mode, "workers": workers, "processed": sum(f is not None for f in self.found),
                "fps": round(self.frames / wall, 1), "ms_wall_per_frame": round(1000.0 * wall / self.frames, 3),
                "ms_mean": round(float(per_frame.mean()), 3), "ms_p95": round(float(np.percentile(per_frame, 95)), 3),
                "capture_ms_mean": round(float(self.capture_ms.mean()), 3),
                "detect_ms_mean": round(float(self.detect_ms.mean()), 3),
                "draw_ms_mean": round(float(self.draw_ms.mean()), 3),
                "work_s": round(wall, 3), "startup_s": round(self.t_begin - self.t_setup, 3),
                "total_s": round(total, 3), "cpu_s": round(cpu, 3),
                "cpu_ms_per_frame": round(1000.0 * cpu / self.frames, 3), "cpu_util": round(cpu / wall / n, 3),
                "cpu_util_with_startup": round(cpu_all / total / n, 3),
                "found": self.found}


def run_sequential(clip: Path, frames: int, start: float) -> dict:
    run = Run(clip, frames)
    work = Work(start)
    run.begin()
    for i in range(frames):
        run.take(work(i, run.capture(i)))
    return run.end("sequential", 1)


def _run_workers(run: Run, inbox, outbox, workers: list, ready, mode: str, depth: int) -> dict:
    """Feed frames to workers through inbox (at most ``depth`` waiting), collect results from outbox."""
    for w in workers:
        w.start()
    ready.wait(READY_TIMEOUT_S)
    run.begin()
    sent = received = 0
    while received < run.frames:
        while sent < run.frames and sent - received < depth:
            inbox.put((sent, run.capture(sent)))
            sent += 1
        run.take(outbox.get(timeout=READY_TIMEOUT_S))
        received += 1
    for _ in workers:
        inbox.put(None)
    for _ in workers:
        _, pid, cpu = outbox.get(timeout=READY_TIMEOUT_S)
        run.worker_cpu[pid] = cpu
    for w in workers:
        w.join(READY_TIMEOUT_S)
    return run.end(mode, len(workers))


def run_threads(clip: Path, frames: int, start: float, workers: int) -> dict:
    run = Run(clip, frames)
    inbox, outbox = queue.Queue(), queue.Queue()
    ready = threading.Barrier(workers + 1)
    threads = [threading.Thread(target=serve, args=(inbox, outbox, ready, start, False), name=f"bench-{k}")
               for k in range(workers)]
    return _run_workers(run, inbox, outbox, threads, ready, "threads", 2 * workers)


def run_processes(clip: Path, frames: int, start: float, workers: int) -> dict:
    import multiprocessing as mp
    ctx = mp.get_context("spawn")   # as the game starts its children (game/launcher.py)
    run = Run(clip, frames)
    inbox, outbox = ctx.Queue(), ctx.Queue()
    ready = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=serve, args=(inbox, outbox, ready, start, True), name=f"bench-{k}", daemon=True)
             for k in range(workers)]
    try:
        return _run_workers(run, inbox, outbox, procs, ready, "processes", 2 * workers)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()


def run_pool(clip: Path, frames: int, start: float, workers: int, batch: int = POOL_BATCH) -> dict:
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    run = Run(clip, frames)
    ready = ctx.Barrier(workers + 1)
    pool = ctx.Pool(workers, initializer=_pool_init, initargs=(start, ready))
    try:
        ready.wait(READY_TIMEOUT_S)
        run.begin()
        for first in range(0, frames, batch):
            items = [(i, run.capture(i)) for i in range(first, min(frames, first + batch))]
            for result in pool.map(_pool_frame, items, chunksize=max(1, len(items) // (4 * workers))):
                run.take(result)
                pid, cpu = result[4:]
                run.worker_cpu[pid] = max(cpu, run.worker_cpu.get(pid, 0.0))
        wall = time.perf_counter() - run.t_begin
        cpu = cpu_seconds() - run.cpu_begin + sum(run.worker_cpu.values())
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    run.source.close()
    out = run.figures("process pool", workers, wall, cpu)
    out["batch"] = batch
    return out


# ---- the bench --------------------------------------------------------------------------------------------------------
def frame_copy_ms(frame: np.ndarray, repeat: int = 30) -> float:
    """Median time to pickle and unpickle one frame: the least a frame sent to another process costs."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        pickle.loads(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000.0, 3)


def bench_pipeline(frames: int = 300, workers: int | None = None, batch: int = POOL_BATCH) -> dict:
    """The four ways over the same ``frames`` frames; figures, machine facts, whether results agree, the winner."""
    import cv2
    if frames < 1:
        raise ValueError("frames must be at least 1")
    n_cores = cores()
    workers = workers or n_cores
    threads_before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    tmp = Path(tempfile.mkdtemp(prefix="handtone-pipebench-"))
    try:
        start = first_note_time()
        clip = write_clip(tmp / "clip.avi", min(frames, CLIP_FRAMES), start)
        rows = [run_sequential(clip, frames, start), run_threads(clip, frames, start, workers),
                run_processes(clip, frames, start, workers), run_pool(clip, frames, start, workers, batch)]
        cap = cv2.VideoCapture(str(clip))
        ok, frame = cap.read()
        cap.release()
        copy_ms = frame_copy_ms(frame) if ok else None
    finally:
        cv2.setNumThreads(threads_before)
        shutil.rmtree(tmp, ignore_errors=True)
    reference = rows[0].pop("found")
    for r in rows[1:]:
        r["identical"] = r.pop("found") == reference
    rows[0]["identical"] = True
    for r in rows:
        r["speedup"] = round(r["fps"] / rows[0]["fps"], 2)
    result = {"frames": frames, "width": WIDTH, "height": HEIGHT, "song": SONG, "workers": workers,
              "cores": n_cores, "cpu_count": os.cpu_count(), "python": platform.python_version(),
              "numpy": np.__version__, "opencv": cv2.__version__, "platform": platform.platform(),
              "start_method": "spawn", "opencv_threads_per_worker": 1, "detector": DETECTOR_NOTE,
              "capture": "MJPG clip of the demo clip's drawing, read by FileSource (the demo camera's reader)",
              "draw": "vision/scene.py Scene.render", "pool_batch": batch,
              "frame_mb": round(WIDTH * HEIGHT * 3 / 1e6, 2), "frame_pickle_ms": copy_ms,
              "hand_found": round(sum(f[0] for f in reference) / frames, 3),
              "identical": all(r["identical"] for r in rows), "modes": rows}
    result["winner"] = max(rows, key=lambda r: r["fps"])["mode"]
    result["why"] = explain(result)
    result["targets"] = [{"name": "every mode finds the sequential run's hands", "pass": result["identical"],
                          "figure": "identical" if result["identical"] else "different"}]
    return result


def explain(result: dict) -> str:
    """One or two sentences from the figures: who wins here and why."""
    rows = {r["mode"]: r for r in result["modes"]}
    win = rows[result["winner"]]
    n = result["cores"]
    first = (f"{win['mode']} wins on this {n}-core machine: {win['fps']:.0f} fps, x{win['speedup']:.2f} over "
             f"sequential at {win['cpu_util'] * 100:.0f}% CPU.")
    th, pr, po = rows["threads"], rows["processes"], rows["process pool"]
    cost = (f"every frame sent to a process is pickled and copied through a pipe ({result['frame_mb']} MB), so "
            f"processes spend {pr['cpu_ms_per_frame']:.2f} ms CPU a frame (threads {th['cpu_ms_per_frame']:.2f}) "
            f"and reach x{pr['speedup']:.2f}, the pool x{po['speedup']:.2f}, after "
            f"{max(pr['startup_s'], po['startup_s']):.1f} s to start their workers")
    if n < 2:
        return first + f" With one core there is nothing to share out; {cost}."
    if win["mode"] == "threads":
        return first + (f" OpenCV releases the GIL while it works, so {th['workers']} threads share the frames in "
                        f"memory and run in parallel; {cost}.")
    if win["mode"] in ("processes", "process pool"):
        return first + (f" Threads reach x{th['speedup']:.2f}: the Python between OpenCV calls holds the GIL, which "
                        f"outweighs copying frames here ({cost}).")
    return first + (f" Sharing out does not pay here: threads reach x{th['speedup']:.2f} (the GIL between OpenCV "
                    f"calls, {n} cores shared with capture); {cost}.")


def format_pipeline(result: dict) -> str:
    r0 = result
    lines = [f"pipeline bench: capture -> detect -> draw, {r0['frames']} frames {r0['width']}x{r0['height']}, "
             f"{r0['workers']} workers, {r0['cores']} cores, Python {r0['python']}, OpenCV {r0['opencv']}, "
             f"numpy {r0['numpy']}",
             f"detector: {r0['detector']}",
             f"{'mode':13s} {'workers':>7s} {'fps':>7s} {'ms/frame':>8s} {'ms p95':>7s} {'total s':>7s} "
             f"{'start s':>7s} {'CPU':>5s} {'CPU ms':>6s} {'speedup':>7s} {'same hands':>10s}"]
    for r in r0["modes"]:
        lines.append(f"{r['mode']:13s} {r['workers']:7d} {r['fps']:7.1f} {r['ms_wall_per_frame']:8.2f} "
                     f"{r['ms_p95']:7.2f} {r['total_s']:7.2f} {r['startup_s']:7.2f} {r['cpu_util'] * 100:4.0f}% "
                     f"{r['cpu_ms_per_frame']:6.2f} {'x%.2f' % r['speedup']:>7s} {'yes' if r['identical'] else 'NO':>10s}")
    lines.append("ms/frame: wall time per frame in the work phase; ms p95: one frame's capture + detect + draw; "
                 "CPU: all processes' CPU time / wall / cores; CPU ms: CPU time per frame")
    seq = r0["modes"][0]
    lines.append(f"one frame sequentially: capture {seq['capture_ms_mean']:.2f} ms, detect {seq['detect_ms_mean']:.2f} "
                 f"ms, draw {seq['draw_ms_mean']:.2f} ms; hand found in {r0['hand_found'] * 100:.0f}% of frames")
    lines.append("results identical in every mode: " + ("yes" if r0["identical"] else "NO (a mode found other hands)"))
    lines.append(f"winner: {r0['winner']}. {r0['why']}")
    return "\n".join(lines)


def plot_pipeline(result: dict, path) -> Path:
    """fps per mode and speedup over sequential, side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    rows = result["modes"]
    names = [r["mode"] for r in rows]
    colours = ["#888888", "#2a9d8f", "#e76f51", "#f4a261"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.bar(names, [r["fps"] for r in rows], color=colours)
    a.set_ylabel("frames per second")
    a.set_title(f"capture -> detect -> draw, {result['width']}x{result['height']}")
    b.bar(names, [r["speedup"] for r in rows], color=colours)
    b.axhline(1.0, color="black", lw=1)
    b.axhline(result["cores"], color="grey", lw=1, ls="--", label=f"{result['cores']} cores")
    b.set_ylabel("speedup over sequential")
    b.set_title(f"{result['workers']} workers; winner: {result['winner']}")
    b.legend()
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=15)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    import json
    out = bench_pipeline(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
    print(format_pipeline(out))
    print(json.dumps({k: v for k, v in out.items() if k != "modes"}))
