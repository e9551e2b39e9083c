"""How long a song's audio file takes to become the backing track (python -m audio.backingbench [SECONDS]).

Why: the music child does it all before ready, within settings.ready_timeout, on a machine that is also starting
the camera. Makes a SECONDS-long (default 180) 44.1 kHz stereo OGG Vorbis of chords and noise in a temporary
folder, then prints the seconds for decoding alone and for the whole preparation at a few tempos and transpositions.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = ((1.0, 0), (1.25, 0), (1.0, 2), (0.8, -3))


def make_ogg(path: Path, seconds: float, rate: int = 44100) -> None:
    import soundfile
    rng = np.random.default_rng(1)
    with soundfile.SoundFile(str(path), "w", rate, 2, format="OGG", subtype="VORBIS") as f:
        block = 1 << 14
        for a in range(0, int(seconds * rate), block):   # in blocks: libvorbis overflows its stack on one big write
            t = np.arange(a, min(a + block, int(seconds * rate))) / rate
            x = np.zeros((t.size, 2))
            for k, hz in enumerate((110.0, 220.0, 277.18, 329.63, 440.0)):
                x[:, k % 2] += 0.12 * np.sin(2 * np.pi * hz * t)
            x += 0.05 * rng.standard_normal(x.shape)
            f.write(x.astype(np.float32))


def bench(seconds: float = 180.0) -> list[dict]:
    from audio.backingfile import decode, load_track
    from game.settings import Settings
    from game.song import Note, Song
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ogg"
        make_ogg(path, seconds)
        song = Song("bench", "", 120.0, (Note(0.5, seconds - 1.5, 60),), "", str(path))
        start = time.perf_counter()
        decode(str(path))
        rows = [{"what": "decode only", "seconds": round(time.perf_counter() - start, 3)}]
        for tempo, transpose in CASES:
            start = time.perf_counter()
            load_track(song, Settings(tempo=tempo, transpose=transpose))
            rows.append({"what": f"prepare, tempo {tempo:g}, transpose {transpose:+d}",
                         "seconds": round(time.perf_counter() - start, 3)})
    return rows


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    seconds = float(argv[0]) if argv else 180.0
    print(f"a {seconds:g} s 44.1 kHz stereo OGG as the backing track at 48 kHz:")
    for row in bench(seconds):
        print(f"  {row['what']:<34} {row['seconds']:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
