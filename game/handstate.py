"""The hand state (vision writes, synth and window read) and the voice state (synth writes, window reads).

Both are SeqlockRecord blocks in named shared memory (see game/shm.py for the byte layout). Field order is the
wire format: append new fields at the end, never reorder.
"""
from __future__ import annotations

import os

from game.shm import SeqlockRecord

#: hand state, one record per camera frame
HAND_FIELDS = (
    "frame_index",   # camera frame counter, 0-based
    "t_capture",     # seconds since the session's t0 when the frame was captured
    "present",       # 1.0 when a hand is seen, else 0.0
    "area",          # hand size as a fraction of the frame area, 0..1
    "cx",            # hand centre, 0..1 of frame width (mirrored view: 0 is the player's left)
    "cy",            # hand centre, 0..1 of frame height
    "confidence",    # detector confidence 0..1
    "present2",      # a second hand (volume), 1.0 when seen
    "y2",            # second hand's centre height 0..1 (0 = top = loudest)
    "t_published",   # seconds since t0 when this record was written (detection done)
)
HAND = {name: i for i, name in enumerate(HAND_FIELDS)}

#: what the synth is sounding right now, one record per audio block
VOICE_FIELDS = (
    "t_dac",         # session seconds at which this block reaches the speaker
    "midi",          # pitch being played (fractional MIDI note)
    "amplitude",     # 0..1 envelope
    "frame_index",   # hand frame this block reflects (-1: none yet)
)
VOICE = {name: i for i, name in enumerate(VOICE_FIELDS)}

PREFIX = "handtone"


def segment_names(tag: str | None = None) -> dict:
    """Names of a session's segments; ``tag`` defaults to the launcher's pid so sessions never collide."""
    tag = tag or str(os.getpid())
    return {"hand": f"{PREFIX}-{tag}-hand", "voice": f"{PREFIX}-{tag}-voice"}


def create_hand(name: str) -> SeqlockRecord:
    return SeqlockRecord.create(name, HAND_FIELDS)


def attach_hand(name: str) -> SeqlockRecord:
    return SeqlockRecord.attach(name, HAND_FIELDS)


def create_voice(name: str) -> SeqlockRecord:
    return SeqlockRecord.create(name, VOICE_FIELDS)


def attach_voice(name: str) -> SeqlockRecord:
    return SeqlockRecord.attach(name, VOICE_FIELDS)
