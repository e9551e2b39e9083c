"""`python main.py calibrate`: learn a player's skin colour, background and hand sizes for the classic detector.

The routine (CalibrationRun) is a fixed timeline, the same with a window (prompts and a countdown on the picture)
and without one (prompts printed; the timing alone leads the player), and the same for every source: a webcam or
stream on the wall clock, a video file or the demo on its own frame times (frame i at i / fps), so a recorded clip
of someone calibrating gives the same result every time.

  1. the empty room (step out of the picture)           -> background and the room's colours
  2. the open hand held in the box                       -> skin colours (GrabCut in the box)
  3. the hand held near the camera, 4. and far from it   -> area_near / area_far (the ends of the pitch range)

CalibrationRun takes frames one at a time (feed), so the vision process can run it during a session too (`c`).
`--camera demo` plays a drawn player doing the routine (demo_frames), so the command can be tried without a camera.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from vision.calibration import Calibration, CalibrationError, learn_calibration, save

BOX = (0.36, 0.22, 0.28, 0.50)   # the hand box: x, y, w, h as fractions of the frame (centred: the same mirrored)
MAX_FRAMES = 15                  # frames kept per phase (spread over its collecting time)


@dataclass(frozen=True)
class Phase:
    key: str
    seconds: float
    collect: float       # the last this-many seconds of the phase are kept
    prompt: str


PHASES = (
    Phase("room", 3.0, 1.5, "step out of the picture"),
    Phase("hand", 4.0, 1.0, "hold your open hand in the box, palm to the camera"),
    Phase("near", 3.0, 1.0, "hold your hand near the camera (your highest note)"),
    Phase("far", 3.0, 1.0, "now hold it far from the camera (your lowest note)"),
)
TOTAL_S = sum(p.seconds for p in PHASES)
# during a session (`c`): the player stays in the picture; the detector's background stands for the empty room
IN_SESSION = PHASES[1:]


def hand_box(width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = BOX
    return int(x * width), int(y * height), int(w * width), int(h * height)


class CalibrationRun:
    """Frames in (with their time in seconds), a calibration out at the end of the timeline."""

    def __init__(self, width: int, height: int, player: str = "Player", source: str = "", phases=PHASES,
                 room_frames: list | None = None):
        """``phases`` without "room" need ``room_frames`` (e.g. [ClassicDetector.background_picture()])."""
        self.width, self.height = width, height
        self.player, self.source = player, source
        self.phases = tuple(phases)
        self.box = hand_box(width, height)
        self.t_start = None
        self.t = 0.0
        self.kept: dict = {p.key: [] for p in self.phases}
        if "room" not in self.kept:
            if not room_frames:
                raise ValueError("without the room phase, give room_frames")
            self.kept["room"] = list(room_frames)
        self.result: Calibration | None = None
        self.error: str | None = None

    # ---- where in the timeline -----------------------------------------------------------------------------------
    def phase_at(self, elapsed: float) -> tuple[int, float]:
        """(phase index, seconds left in it); index len(self.phases) when the timeline is over."""
        end = 0.0
        for i, p in enumerate(self.phases):
            end += p.seconds
            if elapsed < end:
                return i, end - elapsed
        return len(self.phases), 0.0

    @property
    def elapsed(self) -> float:
        return 0.0 if self.t_start is None else self.t - self.t_start

    @property
    def phase(self) -> Phase | None:
        i, _ = self.phase_at(self.elapsed)
        return self.phases[i] if i < len(self.phases) else None

    @property
    def countdown(self) -> int:
        """Whole seconds left in the current phase (what the window shows)."""
        return int(math.ceil(self.phase_at(self.elapsed)[1]))

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    # ---- frames in -------------------------------------------------------------------------------------------------
    def feed(self, frame: np.ndarray, t: float) -> bool:
        """Take one frame at time ``t`` (seconds, any origin); True when the run is finished (see result/error)."""
        if self.done:
            return True
        if self.t_start is None:
            self.t_start = t
        self.t = t
        i, left = self.phase_at(self.elapsed)
        if i >= len(self.phases):
            self._learn()
            return True
        p = self.phases[i]
        if left <= p.collect:
            self.kept[p.key].append(frame.copy())
            if len(self.kept[p.key]) > 2 * MAX_FRAMES:   # thin out evenly, keep memory bounded
                self.kept[p.key] = self.kept[p.key][::2]
        return False

    def finish(self) -> None:
        """The source ended: learn from what there is, or say what is missing."""
        if self.done:
            return
        missing = [p.key for p in self.phases if not self.kept[p.key]]
        if missing:
            total = sum(p.seconds for p in self.phases)
            self.error = (f"the pictures ended {self.elapsed:.1f} s into the calibration, which takes "
                          f"{total:g} s: give a longer video or a live camera")
            return
        self._learn()

    def _learn(self) -> None:
        k = {key: _spread(frames, MAX_FRAMES) for key, frames in self.kept.items()}
        try:
            self.result = learn_calibration(k["room"], k["hand"], self.box, self.player, k.get("near"), k.get("far"),
                                            source=self.source)
        except CalibrationError as e:
            self.error = str(e)

    # ---- drawing -------------------------------------------------------------------------------------------------
    def draw(self, frame: np.ndarray) -> np.ndarray:
        """The mirrored picture with the box (in the hand phase), the prompt and the countdown."""
        import cv2
        view = cv2.flip(frame, 1)
        p = self.phase
        if p is not None and p.key == "hand":
            x, y, w, h = self.box
            cv2.rectangle(view, (self.width - x - w, y), (self.width - x, y + h), (0, 255, 0), 3)
        text = f"{p.prompt}: {self.countdown}" if p is not None else "learning..."
        cv2.rectangle(view, (0, 0), (self.width, 40), (0, 0, 0), -1)
        cv2.putText(view, _ascii(text), (10, 27), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        return view


def _spread(frames: list, n: int) -> list:
    if len(frames) <= n:
        return frames
    return [frames[int(i)] for i in np.linspace(0, len(frames) - 1, n).round()]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


# ---- the demo player -------------------------------------------------------------------------------------------------
def demo_frames(width: int, height: int, fps: float = 30.0, tone_bgr=None, seed: int = 3):
    """A drawn player doing the routine: (frame, t) for the whole timeline and a little more, with sensor noise."""
    from vision.handdraw import SKIN_BGR, Painter, hand_extent
    painter = Painter(width, height)
    if tone_bgr is not None:
        ratio = np.array(tone_bgr, np.float32) / np.array(SKIN_BGR, np.float32)
        painter.skin = np.clip(painter.skin.astype(np.float32) * ratio, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    bx, by, bw, bh = hand_box(width, height)
    x0, y0, x1, y1 = hand_extent(1.0)
    in_box = 0.85 * min(bw / (x1 - x0), bh / (y1 - y0))
    starts = np.cumsum([0.0] + [p.seconds for p in PHASES])
    for i in range(int((TOTAL_S + 0.5) * fps)):
        t = i / fps
        k = int(np.searchsorted(starts, t, side="right")) - 1
        key = PHASES[k].key if k < len(PHASES) else "far"
        u = t - starts[min(k, len(PHASES) - 1)]
        wobble = 3.0 * math.sin(2 * math.pi * t / 1.3)
        hand = None
        if key == "hand" and u > 0.5:
            s = in_box
            hand = (bx + bw / 2 - (x0 + x1) / 2 * s + wobble, by + bh / 2 - (y0 + y1) / 2 * s, s)
        elif key == "near":
            s = 0.62 * height / (y1 - y0)
            hand = (width / 2 + wobble, height / 2 - (y0 + y1) / 2 * s, s)
        elif key == "far":
            s = 0.2 * height / (y1 - y0)
            hand = (width / 2 + wobble, height * 0.55, s)
        frame = painter.paint(hand).astype(np.float32)
        frame += rng.normal(0.0, 2.0, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8), t


# ---- the command -----------------------------------------------------------------------------------------------------
def run_command(settings, say=print) -> int:
    """Calibrate from settings.camera for settings.player and save; 0 when saved, 1 when it failed, 2 no source."""
    from game.child import ChildFailure
    run = CalibrationRun(settings.width, settings.height, settings.player, source=str(settings.camera))
    window = _open_window(settings, say)
    say(f"calibrate: {settings.player}, {TOTAL_S:g} s: " + "; ".join(
        f"{p.prompt} ({p.seconds:g} s)" for p in PHASES))
    source = None
    try:
        if str(settings.camera).strip() == "demo":
            frames = demo_frames(settings.width, settings.height, settings.fps)
            paced = True
        else:
            from vision.sources import open_source
            try:
                source = open_source(settings.camera, settings)
            except ChildFailure as e:
                print(f"handtone: error: {e}", file=sys.stderr, flush=True)
                return 2
            frames = _frames_of(source)
            paced = source.is_file
        shown = None
        for frame, t in frames:
            if run.feed(frame, t):
                break
            p = run.phase
            if p is not None and p.key != shown:
                shown = p.key
                say(f"calibrate: {p.prompt} ({p.seconds:g} s)")
            if window is not None:
                window.imshow("handtone calibration", run.draw(frame))
                key = window.waitKey(1 if not paced else max(1, int(1000 / settings.fps))) & 0xFF
                if key in (ord("q"), ord("Q"), 27):
                    say("calibrate: cancelled (q): nothing saved")
                    return 1
        run.finish()
    finally:
        if source is not None:
            source.close()
        if window is not None:
            window.destroyAllWindows()
            window.waitKey(1)
    if run.error:
        print(f"handtone: error: calibration failed: {run.error}", file=sys.stderr, flush=True)
        return 1
    cal = run.result
    from vision.calibration import measure_landmarks_range
    landmarks_said = measure_landmarks_range(cal, _spread(run.kept["near"], MAX_FRAMES),
                                             _spread(run.kept["far"], MAX_FRAMES), settings)
    path = save(cal, settings)
    facts = cal.facts
    say(f"calibrate: learned {cal.summary()}; the empty room reads as skin in "
        f"{facts.get('room_taken_as_skin', 0) * 100:.2f}% of its pixels, the hand in "
        f"{facts.get('hand_taken_as_skin', 0) * 100:.1f}%")
    say(f"calibrate: {landmarks_said}")
    say(f"calibrate: saved {path} (the classic detector uses its colours for --player {settings.player!r}; its hand sizes "
        f"set the pitch range with either detector unless HANDTONE_AREA_NEAR / HANDTONE_AREA_FAR are set)")
    return 0


def _frames_of(source):
    """(frame, t) from a source: a file's own frame times, a live source's capture times."""
    i = 0
    while True:
        ok, frame, t_mono = source.read()
        if not ok:
            if getattr(source, "lost", False):
                continue   # a stream reconnecting: keep waiting
            return
        yield frame, (i / source.fps if source.is_file else t_mono)
        i += 1


def _open_window(settings, say):
    """cv2 (for imshow/waitKey) when a window is wanted and a display is there, else None."""
    if not settings.window:
        return None
    from vision.display import display_problem
    problem = display_problem()
    if problem:
        say(f"calibrate: {problem}: running without a window (prompts here, fixed timing)")
        return None
    import os
    os.environ.setdefault("QT_X11_NO_MITSHM", "1")
    import cv2
    try:
        cv2.namedWindow("handtone calibration", cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
    except cv2.error as e:
        say(f"calibrate: cannot open a window ({e}): running without one")
        return None
    return cv2
