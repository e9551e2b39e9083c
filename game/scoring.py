"""Scoring the way the singing games do (DESIGN.md section 5), so players recognise the numbers.

10000 at most: 9000 from notes, shared in proportion to duration (golden x2, freestyle 0, golden rap x2) and scaled
by each note's hit fraction (share of its 10 ms samples played within the tolerance; a rap note's samples hit at any
pitch), plus a 1000 line bonus shared equally by the lines that have scored notes and scaled by each line's hit
fraction. The player's delay is estimated and reported
but not applied.
"""
from __future__ import annotations

import numpy as np

from game.song import Song, note_name
from reports.track import STEP, Track, index

NOTE_POINTS = 9000
LINE_BONUS = 1000
WEIGHT = {"normal": 1.0, "golden": 2.0, "freestyle": 0.0, "rap": 1.0, "golden_rap": 2.0}
RAP = ("rap", "golden_rap")   # spoken notes (UltraStar R/G): any played pitch hits, only the timing counts
MAX_LAG = 0.5  # seconds either way searched for the player's delay
RATINGS = ((9000, "Superstar"), (8000, "Lead Singer"), (7000, "Rising Star"), (5500, "Hopeful"),
           (4000, "Wannabe"), (2000, "Amateur"), (0, "Tone Deaf"))


def rating(total: float) -> str:
    return next(word for floor, word in RATINGS if total >= floor)


def score(track: Track, song: Song, tolerance: float, transpose: int = 0, difficulty: str = "") -> dict:
    """score.json's content for a played track against a song (targets are the song's notes + transpose)."""
    notes, weights = [], []
    for n in song.notes:
        target = n.midi + transpose
        seg = _samples(track, n.start, n.end)
        sounding = seg[~np.isnan(seg)]
        if n.kind in RAP:
            hits = int(sounding.size)
        else:
            hits = int(np.count_nonzero(np.abs(sounding - target) <= tolerance + 1e-9))
        err = (sounding - target) * 100.0
        notes.append({
            "start": round(n.start, 4), "duration": round(n.duration, 4), "midi": target, "name": note_name(target),
            "kind": n.kind, "line": n.line, "lyric": n.lyric, "samples": len(seg),
            "hit_fraction": round(hits / len(seg), 4) if len(seg) else 0.0,
            "mean_error_cents": round(float(err.mean()), 1) if len(err) else None,
            "mean_abs_error_cents": round(float(np.abs(err).mean()), 1) if len(err) else None,
        })
        weights.append(n.duration * WEIGHT.get(n.kind, 1.0))
    w = np.asarray(weights)
    hf = np.asarray([n["hit_fraction"] for n in notes])
    notes_points = NOTE_POINTS * float((w * hf).sum() / w.sum()) if w.sum() > 0 else 0.0
    lines = sorted({n["line"] for n, wi in zip(notes, weights) if wi > 0})
    line_hits = {}
    for li in lines:
        m = np.asarray([n["line"] == li for n in notes]) & (w > 0)
        line_hits[li] = float((w[m] * hf[m]).sum() / w[m].sum())
    line_bonus = LINE_BONUS * (sum(line_hits.values()) / len(lines)) if lines else 0.0
    total = int(round(notes_points + line_bonus))
    return {
        "total": total, "notes_points": round(notes_points, 1), "line_bonus": round(line_bonus, 1),
        "rating": rating(total), "difficulty": difficulty, "tolerance": tolerance, "transpose": transpose,
        "song": song.title, "artist": song.artist,
        "sounding_share": round(float(track.sounding.mean()), 4) if len(track.t) else 0.0,
        "lines": [{"line": li, "hit_fraction": round(h, 4)} for li, h in line_hits.items()],
        "player_delay": player_delay(track, song, tolerance, transpose),
        "notes": notes,
    }


def _samples(track: Track, start: float, end: float) -> np.ndarray:
    """The played pitch at the note's grid samples (NaN = silent, also beyond the end of the log)."""
    i0, i1 = track.index(start), track.index(end)
    seg = np.full(max(0, i1 - i0), np.nan)
    lo, hi = max(i0, 0), min(i1, len(track.pitch))
    if hi > lo:
        seg[lo - i0:hi - i0] = track.pitch[lo:hi]
    return seg


def target_track(song: Song, n: int, transpose: int = 0) -> np.ndarray:
    """The song's scored pitch per grid sample (NaN where no scored note)."""
    target = np.full(n, np.nan)
    for note in song.notes:
        if WEIGHT.get(note.kind, 1.0) > 0 and note.kind not in RAP:
            i0, i1 = max(0, index(note.start)), min(n, index(note.end))
            target[i0:i1] = note.midi + transpose
    return target


def player_delay(track: Track, song: Song, tolerance: float, transpose: int = 0) -> dict:
    """The lag (ms, positive = the player is late) in -500..+500 that best aligns the played track with the song."""
    lag_max = int(round(MAX_LAG / STEP))
    n = len(track.pitch)
    target = target_track(song, n, transpose)
    scored = ~np.isnan(target)
    if not scored.any() or not track.sounding.any():
        return {"delay_ms": None, "hit_share_at_delay": 0.0, "hit_share_at_zero": 0.0, "applied": False}
    hits_at = {}
    for lag in range(-lag_max, lag_max + 1):
        played = np.full(n, np.nan)
        if lag >= 0:
            played[:n - lag] = track.pitch[lag:]
        else:
            played[-lag:] = track.pitch[:n + lag]
        with np.errstate(invalid="ignore"):
            hits_at[lag] = int(np.count_nonzero(scored & (np.abs(played - target) <= tolerance + 1e-9)))
    total = int(scored.sum())
    # the smallest lag within 1% of the best: a lag that barely helps is noise, not the player's delay
    top = max(hits_at.values())
    best = min((lag for lag, h in hits_at.items() if h >= top - 0.01 * total), key=abs)
    best_hits, zero_hits = hits_at[best], hits_at[0]
    return {"delay_ms": int(round(best * STEP * 1000.0)) if best_hits > 0 else None,
            "hit_share_at_delay": round(best_hits / total, 4), "hit_share_at_zero": round(zero_hits / total, 4),
            "applied": False}
