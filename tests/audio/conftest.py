"""Fixtures of the audio tests."""
from __future__ import annotations

import os

import pytest

from game.handstate import create_hand, create_voice


@pytest.fixture
def hand_voice():
    """A hand-state and a voice-state record in shared memory, as the launcher makes them (closed and unlinked after)."""
    tag = f"test-audio-{os.getpid()}"
    hand, voice = create_hand(f"{tag}-hand"), create_voice(f"{tag}-voice")
    yield hand, voice
    hand.close()
    voice.close()
