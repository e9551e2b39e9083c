"""Hand detection over every frame of a video file, in fixed segments, on one worker or several (threads or processes),
with the same result whatever the number of workers and the mode.

Why segments: the session's detectors keep state from frame to frame (the landmarks detector tracks the last hand,
the classic one learns a background and smooths with vision/steady.py), so frames cannot simply be shared out. The
video is cut into segments of SEGMENT_FRAMES frames whose boundaries depend on nothing but the video; each segment is
detected by a fresh detector (vision/detector.make_detector, as the vision child builds it but with the search for
a second hand kept in line, not in a worker thread whose timing would change the hands) that first sees the
WARMUP_FRAMES frames before the segment, whose results are discarded. A segment's result is then a function of the
video alone, and one worker going through the segments in order gives the very same frames as N workers in any order.
The first segment warms up on its own first frame, as the vision child does with the camera's first picture.

Workers read the video themselves (each opens it once and seeks to its segment's warm-up, vision/sources.FileSource's
decoding and fitting to the session's size), so decoding is shared out too and no frame crosses a process boundary.
A worker that goes on to the next segment keeps the last WARMUP_FRAMES frames it decoded, so one worker doing the
segments in order never seeks. OpenCV runs one thread in each worker: the workers are what runs in parallel.

Per frame the result is the hand state the vision child publishes (game/handstate.py's present, area, cx, cy,
confidence, present2, y2) and how long reading and detecting took.
"""
from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from game.cputime import cores, cpu_seconds

SEGMENT_FRAMES = 90     # 3 s at 30 fps: short enough to share out a minute of video among a few workers ...
WARMUP_FRAMES = 15      # ... with a warm-up long enough for the hysteresis, the tracking and a first background
MODES = ("threads", "processes")
#: per-frame result columns (the hand state a live session publishes, without its times)
RESULT_COLUMNS = ("present", "area", "cx", "cy", "confidence", "present2", "y2")


class ScanError(RuntimeError):
    """The video cannot be read or the detector cannot be built; the message says what to do."""


@dataclass(frozen=True)
class Segment:
    index: int
    start: int          # first frame whose result is kept
    stop: int | None    # one past the last (None: to the end of the video, for the last segment)
    warm: int           # first warm-up frame (start - WARMUP_FRAMES, at least 0)


def plan(frames: int, segment: int = SEGMENT_FRAMES, warmup: int = WARMUP_FRAMES) -> list[Segment]:
    """The segments of a video of ``frames`` frames; the last runs to the video's real end (a container's frame
    count can be short)."""
    starts = list(range(0, max(frames, 1), segment))
    return [Segment(i, s, None if i == len(starts) - 1 else s + segment, max(0, s - warmup))
            for i, s in enumerate(starts)]


@dataclass
class SegmentResult:
    index: int
    start: int
    hands: np.ndarray       # (n, len(RESULT_COLUMNS)) float64
    read_ms: np.ndarray     # (n,) decoding and fitting each kept frame
    detect_ms: np.ndarray   # (n,) detecting it
    warmup_frames: int
    seeks: int


@dataclass
class Scan:
    """The whole video's per-frame results (frame order) and how the run went."""
    hands: np.ndarray
    read_ms: np.ndarray
    detect_ms: np.ndarray
    wall_s: float
    cpu_s: float            # CPU time of this process and every worker process
    workers: int
    mode: str
    segments: int
    warmup_frames: int
    seeks: int
    extra: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.hands)


# ---- one worker: its reader and its segments ------------------------------------------------------------------
class SegmentReader:
    """A worker's view of the video: frames [a, b) by index, seeking only when they do not follow on from what it
    read last (the last WARMUP_FRAMES frames are kept for the next segment's warm-up)."""

    def __init__(self, video, settings, keep: int = WARMUP_FRAMES):
        from game.child import ChildFailure
        from vision.sources import FileSource
        try:
            self.source = FileSource(video, settings.replace(loop_video=False))
        except ChildFailure as e:
            raise ScanError(str(e)) from None
        self.next = 0                                   # index of the frame the next read() decodes
        self.kept: collections.deque = collections.deque(maxlen=max(1, keep))   # (index, frame copy)
        self.seeks = 0

    def frames(self, a: int, b: int | None):
        """(index, frame, read_ms) for a <= index < b (b None: to the end)."""
        import cv2
        i = a
        for index, frame in list(self.kept):
            if index == i and (b is None or i < b):
                yield i, frame, 0.0
                i += 1
        if b is not None and i >= b:
            return
        if i != self.next:
            self.source.cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            self.next = i
            self.seeks += 1
            self.kept.clear()
        while b is None or i < b:
            t = time.perf_counter()
            ok, frame, _ = self.source.read()
            ms = (time.perf_counter() - t) * 1000.0
            if not ok:
                return
            frame = frame.copy()   # the source's fitting buffers are reused two frames later
            self.next = i + 1
            self.kept.append((i, frame))
            yield i, frame, ms
            i += 1

    def close(self) -> None:
        self.source.close()


def detect_segment(reader: SegmentReader, settings, seg: Segment) -> SegmentResult:
    """A fresh detector over the segment's warm-up frames (results dropped), then its own frames."""
    from vision.detector import DetectorUnavailable, make_detector
    try:
        detector = make_detector(settings)
    except DetectorUnavailable as e:
        raise ScanError(str(e)) from None
    seeks = reader.seeks
    warm = 0
    if seg.start == 0:   # as the vision child: the first picture once to warm up, then again as frame 0
        for _i, frame, _ms in reader.frames(0, 1):
            detector.detect(frame)
            warm += 1
    else:
        for _i, frame, _ms in reader.frames(seg.warm, seg.start):
            detector.detect(frame)
            warm += 1
    rows, read_ms, detect_ms = [], [], []
    for _i, frame, ms in reader.frames(seg.start, seg.stop):
        t = time.perf_counter()
        det = detector.detect(frame)
        detect_ms.append((time.perf_counter() - t) * 1000.0)
        read_ms.append(ms)
        h, h2 = det.hand, det.second
        rows.append((1.0, h.area, h.cx, h.cy, h.confidence) if h is not None else (0.0, 0.0, 0.0, 0.0, 0.0))
        rows[-1] += (1.0, h2.cy) if h2 is not None else (0.0, 0.0)
    hands = np.asarray(rows, np.float64).reshape(-1, len(RESULT_COLUMNS))
    return SegmentResult(seg.index, seg.start, hands, np.asarray(read_ms), np.asarray(detect_ms), warm,
                         reader.seeks - seeks)


# ---- processes: each keeps its reader in a module global (set by the pool's initializer) ---------------------------
_WORKER: dict = {}


def _init_process(video, settings) -> None:
    import cv2
    cv2.setNumThreads(1)
    _WORKER["settings"] = settings
    _WORKER["reader"] = SegmentReader(video, settings)


def _process_segment(seg: Segment) -> SegmentResult:
    return detect_segment(_WORKER["reader"], _WORKER["settings"], seg)


# ---- the runs --------------------------------------------------------------------------------------------------
def scan(video, settings, frames: int, workers: int = 1, mode: str = "threads",
         segment: int = SEGMENT_FRAMES, warmup: int = WARMUP_FRAMES) -> Scan:
    """Detect every frame of ``video`` (``frames``: its frame count as the container says) in the fixed segments,
    on ``workers`` threads or processes (1: in this thread, in order). Timed from before the workers start to after
    they are gone; cpu_s counts the worker processes too (reaped children)."""
    import cv2
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    segs = plan(frames, segment, warmup)
    workers = max(1, min(int(workers), len(segs)))
    threads_before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    cpu0 = cpu_seconds() + cpu_seconds(children=True)
    t0 = time.perf_counter()
    try:
        if workers == 1:
            reader = SegmentReader(video, settings, warmup)
            try:
                results = [detect_segment(reader, settings, s) for s in segs]
            finally:
                reader.close()
        elif mode == "threads":
            results = _threads(video, settings, segs, workers, warmup)
        else:
            import multiprocessing
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_process, initargs=(str(video), settings)) as pool:
                results = list(pool.map(_process_segment, segs))
    finally:
        cv2.setNumThreads(threads_before)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() + cpu_seconds(children=True) - cpu0
    results.sort(key=lambda r: r.index)
    return Scan(hands=np.concatenate([r.hands for r in results]),
                read_ms=np.concatenate([r.read_ms for r in results]),
                detect_ms=np.concatenate([r.detect_ms for r in results]),
                wall_s=wall, cpu_s=cpu, workers=workers, mode="sequential" if workers == 1 else mode,
                segments=len(segs), warmup_frames=sum(r.warmup_frames for r in results),
                seeks=sum(r.seeks for r in results))


def _threads(video, settings, segs: list[Segment], workers: int, warmup: int) -> list[SegmentResult]:
    """Each thread its own reader and detectors; OpenCV and LiteRT release the GIL while they work."""
    local = threading.local()
    readers: list[SegmentReader] = []
    lock = threading.Lock()

    def work(seg: Segment) -> SegmentResult:
        reader = getattr(local, "reader", None)
        if reader is None:
            reader = local.reader = SegmentReader(video, settings, warmup)
            with lock:
                readers.append(reader)
        return detect_segment(reader, settings, seg)

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="analyze") as pool:
            return list(pool.map(work, segs))
    finally:
        for r in readers:
            r.close()
