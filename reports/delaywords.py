"""The player's delay (score.json "delay") in the words a player reads, for the scorecard and the email: how late or
early they played, and whether the score corrected for it."""
from __future__ import annotations


def delay_words(score: dict) -> str:
    """How late or early the player played and whether the score corrects for it (score.json's delay), in words a
    player reads: 'you played about 50 ms late; not corrected (--delay auto would): 98% of the notes' time hit as
    played, 100% corrected'."""
    d = score.get("delay") if isinstance(score.get("delay"), dict) else None
    if d is None:
        old = score.get("player_delay") or {}
        est = old.get("delay_ms") if isinstance(old, dict) else None
        return "-" if est is None else f"you played {_late(est)}; not corrected"
    est, applied, mode = d.get("estimated_ms"), d.get("applied_ms"), d.get("mode")
    if est is None:
        return "not measured (no note was hit)"
    text = f"you played {_late(est)}"
    auto = mode == "auto"
    if auto:
        text += f"; corrected by {applied or 0:+.0f} ms before scoring (--delay auto)"
    elif applied:
        text += f"; corrected by {applied:+.0f} ms before scoring (your --delay)"
    elif abs(est) >= IN_TIME_MS:
        text += "; not corrected (--delay auto would)"
    at_est, at_zero = d.get("hit_share_at_estimate"), d.get("hit_share_at_zero")
    if isinstance(at_est, (int, float)) and isinstance(at_zero, (int, float)) and round(at_est, 2) != round(at_zero, 2):
        # the share at the estimate is what --delay auto scores; a fixed --delay scores its own lag, not shown here
        text += (f": {at_zero * 100:.0f}% of the notes' time hit as played, {at_est * 100:.0f}% "
                 + ("corrected" if auto else "with --delay auto"))
    return text


IN_TIME_MS = 10   # a lag under one 10 ms sample of the played track is playing in time


def _late(ms: float) -> str:
    return "in time" if abs(ms) < IN_TIME_MS else f"about {abs(ms):.0f} ms {'late' if ms > 0 else 'early'}"
