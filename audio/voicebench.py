"""How long the synth's Voice.render takes per block on this machine: `python -m audio.voicebench` prints it.

Why: render() runs in the audio callback, which must finish well inside one block period (2.7 ms at 128 frames,
5.3 ms at 256, 48 kHz) next to the vision process. Timed on the sounding paths: a hand that holds a note for
1.5 s with a tracker's jitter, then leaps to another across the song's range (so the vibrato comes in, leaves and
glides), the second hand changing the volume every block, snapping to the song's scale, with a real HandState
and VoiceState record (the seqlock read and write are part of the cost). Silent blocks cost less. The max is
whatever the OS did to this process once; p99 is the figure to compare.
"""
from __future__ import annotations

import os
import time

import numpy as np


def bench_render(block: int, blocks: int = 20000) -> dict:
    """Per-block render() time in microseconds (median, p99, max) and the median's share of the block period."""
    from audio.synth import Voice
    from game.handstate import HAND, HAND_FIELDS, create_hand, create_voice
    from game.pitchmap import PitchMap
    from game.settings import Settings
    from game.song import load

    settings = Settings().replace(block=block, vibrato_cents=40.0, snap="scale", snap_strength=0.7)
    song = load(settings.song)
    pm = PitchMap.for_song(song, settings)
    tag = f"handtone-bench-{os.getpid()}"
    hand, voice_rec = create_hand(f"{tag}-hand"), create_voice(f"{tag}-voice")
    try:
        voice = Voice(settings, pm, hand, voice_rec, song=song)
        values = np.zeros(len(HAND_FIELDS))
        values[HAND["present"]] = values[HAND["present2"]] = 1.0
        rng = np.random.default_rng(0)
        notes = rng.uniform(pm.low_midi, pm.high_midi, 64)
        jitter = rng.normal(1.0, 0.01, 997)
        period = block / settings.sample_rate
        hold = int(1.5 / period)
        times = np.empty(blocks)
        vibrato = 0
        for i in range(blocks + 200):
            values[HAND["area"]] = pm.area(notes[(i // hold) % notes.size]) * jitter[i % jitter.size]
            values[HAND["y2"]] = (i % 31) / 31.0
            values[HAND["frame_index"]] = i
            hand.write(values)
            t = time.perf_counter()
            voice.render(i * period)
            if i >= 200:                                   # after warm-up
                times[i - 200] = time.perf_counter() - t
                vibrato += voice.vib_level > 0.0
    finally:
        hand.close()
        voice_rec.close()
    us = times * 1e6
    median = float(np.median(us))
    return {"block": block, "median_us": round(median, 1), "p99_us": round(float(np.percentile(us, 99)), 1),
            "max_us": round(float(us.max()), 1), "share_of_period": round(median / (period * 1e6), 4),
            "vibrato_share": round(vibrato / blocks, 2)}


def main() -> None:
    for block in (128, 256):
        r = bench_render(block)
        print(f"block {r['block']:4d}: render median {r['median_us']:6.1f} us, p99 {r['p99_us']:6.1f} us, "
              f"max {r['max_us']:7.1f} us ({100 * r['share_of_period']:.1f}% of the block period; "
              f"vibrato in {100 * r['vibrato_share']:.0f}% of the blocks)")


if __name__ == "__main__":
    main()
