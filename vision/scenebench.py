"""How long the game picture takes to draw: `python -m vision.scenebench` prints what bench_render() returns.

The vision process draws each frame after publishing the hand state, so drawing must stay far below a camera
frame's time (33 ms at 30 fps) to never slow detection. The frames are the demo clip's drawings with a detected hand,
the voice a real shared-memory record following the song (on and off the notes), so every part of the lane is drawn.
"""
from __future__ import annotations

import json
import time
import uuid

import numpy as np


def bench_render(frames: int = 600, width: int = 640, height: int = 480, song: str = "ode_to_joy") -> dict:
    """Time Scene.render over ``frames`` frames of a session at 30 fps from the song's first note; ms p50/p95/max."""
    from game import handstate
    from game.settings import Settings
    from game.song import load
    from vision.classic import ClassicDetector
    from vision.handdraw import Painter
    from vision.scene import Scene

    settings = Settings(camera="demo", song=song, width=width, height=height)
    tune = load(song)
    painter = Painter(width, height)
    detector = ClassicDetector(width, height)
    detector.detect(painter.paint(None).copy())
    pictures = []
    for i in range(16):
        frame = painter.paint((width * (0.4 + 0.2 * (i % 4) / 3), height * 0.6, height * (0.15 + 0.02 * i))).copy()
        pictures.append((frame, detector.detect(frame)))
    voice = handstate.create_voice(f"scenebench{uuid.uuid4().hex[:8]}")
    try:
        scene = Scene(settings, tune, voice)
        t0 = tune.notes[0].start
        times = np.empty(frames)
        for i in range(frames):
            t = t0 + i / 30.0
            note = tune.note_at(t)
            off = 0.2 if (i // 45) % 2 == 0 else 2.5     # alternately on and off the target
            voice.write([t, (note.midi + off) if note else 64.0, 0.8 if note else 0.0, float(i)])
            frame, detection = pictures[i % len(pictures)]
            start = time.perf_counter()
            scene.render(frame, detection, t, 30.0, 1.9)
            times[i] = time.perf_counter() - start
    finally:
        voice.close()
    ms = times[10:] * 1000.0   # the first frames warm caches up
    return {"width": width, "height": height, "frames": frames, "song": song,
            "render_ms_p50": round(float(np.median(ms)), 3), "render_ms_p95": round(float(np.percentile(ms, 95)), 3),
            "render_ms_max": round(float(ms.max()), 3)}


if __name__ == "__main__":
    print(json.dumps(bench_render()))
