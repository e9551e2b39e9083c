"""Driving the synth's Voice as the audio callback does, with a hand in a real HandState record, and reading the
pitch back out of the sound it made."""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

from game.handstate import HAND, HAND_FIELDS, create_hand, create_voice


@contextmanager
def hand_and_voice_records(tag: str):
    """A HandState record to write the hand into and a VoiceState record the voice publishes to."""
    name = f"test-{tag}-{os.getpid()}"
    hand, voice = create_hand(f"{name}-hand"), create_voice(f"{name}-voice")
    try:
        yield hand, voice
    finally:
        hand.close()
        voice.close()


def put(hand, present=True, area=0.04, frame=0, present2=False, y2=0.0):
    """Write one camera frame's hand state."""
    v = np.zeros(len(HAND_FIELDS))
    v[HAND["present"]], v[HAND["area"]], v[HAND["frame_index"]] = float(present), area, frame
    v[HAND["t_capture"]] = frame * 0.033
    v[HAND["present2"]], v[HAND["y2"]] = float(present2), y2
    hand.write(v)


def play(voice, blocks: int) -> np.ndarray:
    """``blocks`` consecutive blocks (float64), session time carried on the voice's own block count."""
    out = np.empty(blocks * voice.n)
    t = getattr(voice, "_test_t", 0.0)
    for b in range(blocks):
        out[b * voice.n:(b + 1) * voice.n] = voice.render(t)
        t += voice.n / voice.rate
    voice._test_t = t
    return out


def pitch_cents(x: np.ndarray, hz: float, rate: float) -> np.ndarray:
    """Instantaneous pitch of the fundamental near ``hz``, in cents from ``hz``, per sample (length x.size - 1).

    The analytic signal of the band around ``hz`` (flat over 0.75..1.3 x hz, so a vibrato of up to a semitone is
    passed as it is; raised-cosine edges down to 0 at 0.5 and 1.5 x hz, where the partials at 2 and 3 x hz and a
    note a fifth away are out): its phase advances by 2 pi f / rate per sample. The smooth edges keep the filter's
    ringing to a few tens of ms; the first and last ~50 ms (and around an onset) are unreliable."""
    spec = np.fft.fft(x)
    freqs = np.fft.fftfreq(x.size, 1.0 / rate)
    r = np.where(freqs > 0, freqs / hz, 0.0)
    gain = np.where((r >= 0.75) & (r <= 1.3), 1.0, 0.0)
    rise = (r > 0.5) & (r < 0.75)
    gain[rise] = 0.5 - 0.5 * np.cos(np.pi * (r[rise] - 0.5) / 0.25)
    fall = (r > 1.3) & (r < 1.5)
    gain[fall] = 0.5 + 0.5 * np.cos(np.pi * (r[fall] - 1.3) / 0.2)
    z = np.fft.ifft(spec * gain)                                # one-sided: the analytic signal (times 1/2)
    f = np.diff(np.unwrap(np.angle(z))) * rate / (2.0 * np.pi)
    return 1200.0 * np.log2(np.maximum(f, 1e-9) / hz)
