"""Scoring the way the singing games do (DESIGN.md section 5), so players recognise the numbers.

10000 at most: 9000 from notes, shared in proportion to duration (golden x2, freestyle 0, golden rap x2) and scaled
by each note's hit fraction (share of its 10 ms samples played within the tolerance; a rap note's samples hit at any
pitch), plus a 1000 line bonus shared equally by the lines that have scored notes and scaled by each line's hit
fraction. With octave folding a played sample first moves by whole octaves to the nearest of its target.

The player's delay (the lag that best lines the played track up with the song) is always estimated and reported;
``delay`` says what is applied before judging: "auto" (the estimate) or milliseconds (positive: the player is late,
so the played track moves earlier). Shifts are whole 10 ms samples, the track's own resolution.

Every scored note's samples are laid end to end in one array ("slots"), so judging a whole song, and each of the
~100 lags of the delay search, is a handful of numpy operations, not a loop over samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from game.song import Song, note_name
from reports.track import STEP, Track, index

NOTE_POINTS = 9000
LINE_BONUS = 1000
WEIGHT = {"normal": 1.0, "golden": 2.0, "freestyle": 0.0, "rap": 1.0, "golden_rap": 2.0}
RAP = ("rap", "golden_rap")   # spoken notes (UltraStar R/G): any played pitch hits, only the timing counts
MAX_LAG = 0.5  # seconds either way searched for the player's delay
NEAR_BEST = 0.01  # lags within this share of the scored samples of the best count as equally good
HIT_NOTE = 0.5  # a note with at least this hit fraction counts as hit for the streak
RATINGS = ((9000, "Superstar"), (8000, "Lead Singer"), (7000, "Rising Star"), (5500, "Hopeful"),
           (4000, "Wannabe"), (2000, "Amateur"), (0, "Tone Deaf"))


def rating(total: float) -> str:
    return next(word for floor, word in RATINGS if total >= floor)


@dataclass
class _Slots:
    """Every note's grid samples end to end: slot j is track sample pos[j] inside note note[j]."""
    note: np.ndarray      # note index per slot
    pos: np.ndarray       # track sample index per slot
    target: np.ndarray    # target MIDI per slot
    rap: np.ndarray       # the slot's note is spoken (any pitch hits)
    scored: np.ndarray    # the slot's note carries weight (not freestyle)
    first: np.ndarray     # per note: its first slot
    count: np.ndarray     # per note: its number of slots


def _slots(song: Song, transpose: int) -> _Slots:
    notes = song.notes
    i0 = np.asarray([index(n.start) for n in notes], dtype=np.int64)
    i1 = np.asarray([index(n.end) for n in notes], dtype=np.int64)
    count = np.maximum(0, i1 - i0)
    first = np.cumsum(count) - count
    note = np.repeat(np.arange(len(notes)), count)
    pos = i0[note] + (np.arange(int(count.sum())) - first[note])
    midi = np.asarray([n.midi + transpose for n in notes], dtype=float)
    rap = np.asarray([n.kind in RAP for n in notes], dtype=bool)
    scored = np.asarray([WEIGHT.get(n.kind, 1.0) > 0 for n in notes], dtype=bool)
    return _Slots(note, pos, midi[note], rap[note], scored[note], first, count)


def _played(pitch: np.ndarray, pos: np.ndarray, lag: int) -> np.ndarray:
    """The played pitch at track samples pos + lag (NaN = silent, also outside the track)."""
    at = pos + lag
    ok = (at >= 0) & (at < len(pitch))
    out = np.full(len(pos), np.nan)
    out[ok] = pitch[at[ok]]
    return out


def _judge(played: np.ndarray, slots: _Slots, tolerance: float, octave_fold: bool) -> tuple[np.ndarray, np.ndarray]:
    """(hit per slot, played minus target in semitones after folding; NaN where silent)."""
    diff = played - slots.target
    if octave_fold:
        diff = diff - 12.0 * np.round(diff / 12.0)
    sounding = ~np.isnan(played)
    with np.errstate(invalid="ignore"):
        hit = sounding & (slots.rap | (np.abs(diff) <= tolerance + 1e-9))
    return hit, diff


def _lag_of(delay_ms: float) -> int:
    return int(round(delay_ms / 1000.0 / STEP))


def hit_samples(track: Track, song: Song, *, tolerance: float, transpose: int = 0, octave_fold: bool = False,
                delay_ms: float = 0.0) -> np.ndarray:
    """Per sample of the played track: it hit the scored note it was judged against (score's own rule, with the
    applied delay), for the scorecard's piano roll."""
    slots = _slots(song, transpose)
    lag = _lag_of(delay_ms)
    hit = _judge(_played(track.pitch, slots.pos, lag), slots, tolerance, octave_fold)[0] & slots.scored
    mask = np.zeros(len(track.pitch), bool)
    mask[slots.pos[hit] + lag] = True     # a hit sample was played, so it lies inside the track
    return mask


def score(track: Track, song: Song, *, tolerance: float, transpose: int = 0, difficulty: str = "",
          octave_fold: bool = False, delay: str | float = "0") -> dict:
    """score.json's content for a played track against a song (targets are the song's notes + transpose)."""
    slots = _slots(song, transpose)
    estimate = player_delay(track, song, tolerance, transpose, octave_fold, slots)
    if str(delay).strip().lower() == "auto":
        mode, lag = "auto", _lag_of(estimate["estimated_ms"] or 0)
    else:
        mode, lag = "fixed", _lag_of(float(delay))
    played = _played(track.pitch, slots.pos, lag)
    hit, diff = _judge(played, slots, tolerance, octave_fold)
    sounding = ~np.isnan(played)

    n = len(song.notes)
    per = lambda values: np.bincount(slots.note, weights=values, minlength=n)  # noqa: E731 - per-note sums
    hits = per(hit.astype(float))
    heard = per(sounding.astype(float))
    err = np.where(sounding, diff, 0.0)
    err_sum, abs_sum = per(err), per(np.abs(err))
    hf = np.divide(hits, slots.count, out=np.zeros(n), where=slots.count > 0)
    hit_notes, first_slot = np.unique(slots.note[hit], return_index=True)
    first_hit = dict(zip(hit_notes.tolist(), np.flatnonzero(hit)[first_slot].tolist()))

    weights = np.asarray([n_.duration * WEIGHT.get(n_.kind, 1.0) for n_ in song.notes])
    earned = weights * hf
    notes_points = NOTE_POINTS * float(earned.sum() / weights.sum()) if weights.sum() > 0 else 0.0
    line_of = np.asarray([n_.line for n_ in song.notes])
    lines = sorted({int(li) for li, w in zip(line_of, weights) if w > 0})
    shares = {}
    for li in lines:
        m = (line_of == li) & (weights > 0)
        shares[li] = (float(earned[m].sum() / weights[m].sum()), float(earned[m].sum()))
    line_bonus = LINE_BONUS * float(np.mean([share for share, _ in shares.values()])) if lines else 0.0
    # a line's points: its notes' points and its part of the bonus (the lines' points add up to the total)
    line_rows = [{"line": li, "hit_fraction": round(share, 4),
                  "points": round(float(NOTE_POINTS * got / weights.sum() + LINE_BONUS * share / len(lines)), 1),
                  "rating": rating(share * 10000)} for li, (share, got) in shares.items()]
    total = int(round(notes_points + line_bonus))

    notes = []
    for i, note in enumerate(song.notes):
        a, b = int(slots.first[i]), int(slots.first[i] + slots.count[i])
        mine = diff[a:b][sounding[a:b]]
        target = note.midi + transpose
        fh = first_hit.get(i)
        notes.append({
            "start": round(note.start, 4), "duration": round(note.duration, 4), "midi": target,
            "name": note_name(target), "kind": note.kind, "line": note.line, "lyric": note.lyric,
            "samples": int(slots.count[i]), "hit_fraction": round(float(hf[i]), 4),
            "mean_error_cents": round(float(100.0 * err_sum[i] / heard[i]), 1) if heard[i] else None,
            "mean_abs_error_cents": round(float(100.0 * abs_sum[i] / heard[i]), 1) if heard[i] else None,
            "first_hit_ms": (int(round(1000.0 * max(0.0, slots.pos[fh] * STEP - note.start)))
                             if fh is not None else None),
            "played_midi": round(float(target + np.median(mine)), 2) if len(mine) else None,
        })

    applied_ms = int(round(lag * STEP * 1000.0))
    return {
        "total": total, "rating": rating(total),
        "notes_points": round(notes_points, 1), "line_bonus": round(line_bonus, 1),
        "difficulty": difficulty, "tolerance": tolerance, "transpose": transpose, "octave_fold": bool(octave_fold),
        "song": song.title, "artist": song.artist,
        "sounding_share": round(float(track.sounding.mean()), 4) if len(track.t) else 0.0,
        "longest_streak": longest_streak(hf[weights > 0]),
        "delay": {"estimated_ms": estimate["estimated_ms"], "applied_ms": applied_ms, "mode": mode,
                  "hit_share_at_estimate": estimate["hit_share_at_estimate"],
                  "hit_share_at_zero": estimate["hit_share_at_zero"]},
        "lines": line_rows,
        "notes": notes,
    }


def longest_streak(hit_fractions) -> int:
    """The most scored notes hit in a row (hit: at least HIT_NOTE of the note's samples)."""
    best = run = 0
    for h in hit_fractions:   # one step per note, not per sample
        run = run + 1 if h >= HIT_NOTE else 0
        best = max(best, run)
    return best


def target_track(song: Song, n: int, transpose: int = 0) -> np.ndarray:
    """The song's scored pitch per grid sample (NaN where no scored note)."""
    target = np.full(n, np.nan)
    for note in song.notes:
        if WEIGHT.get(note.kind, 1.0) > 0 and note.kind not in RAP:
            i0, i1 = max(0, index(note.start)), min(n, index(note.end))
            target[i0:i1] = note.midi + transpose
    return target


def player_delay(track: Track, song: Song, tolerance: float, transpose: int = 0, octave_fold: bool = False,
                 slots: _Slots | None = None) -> dict:
    """The lag (ms, positive = the player is late) in -500..+500 that best aligns the played track with the song.

    Hits of the scored notes are counted at every 10 ms lag. The lags within NEAR_BEST of the best that adjoin it
    form its peak, and the estimate is the peak's centre (a broad peak's middle, not whichever edge noise favours);
    when lag 0 is on the peak, shifting barely helps and the estimate is 0. None when nothing is ever hit."""
    slots = slots if slots is not None else _slots(song, transpose)
    scored = slots.scored
    total = int(scored.sum())
    none = {"estimated_ms": None, "hit_share_at_estimate": 0.0, "hit_share_at_zero": 0.0}
    if total == 0 or not track.sounding.any():
        return none
    sub = _Slots(slots.note[scored], slots.pos[scored], slots.target[scored], slots.rap[scored], scored[scored],
                 slots.first, slots.count)
    lag_max = int(round(MAX_LAG / STEP))
    lags = np.arange(-lag_max, lag_max + 1)
    hits = np.asarray([np.count_nonzero(_judge(_played(track.pitch, sub.pos, int(lag)), sub, tolerance,
                                               octave_fold)[0]) for lag in lags])
    top = int(hits.max())
    zero = int(hits[lag_max])
    if top == 0:
        return none | {"hit_share_at_zero": 0.0}
    near = hits >= top - NEAR_BEST * total
    if near[lag_max]:
        best = lag_max
    else:
        best_i = int(min(np.flatnonzero(hits == top), key=lambda i: abs(i - lag_max)))
        lo = hi = best_i
        while lo > 0 and near[lo - 1]:   # at most 100 steps: the lags, not the samples
            lo -= 1
        while hi < len(lags) - 1 and near[hi + 1]:
            hi += 1
        best = int(round((lo + hi) / 2))
    return {"estimated_ms": int(round(lags[best] * STEP * 1000.0)),
            "hit_share_at_estimate": round(int(hits[best]) / total, 4), "hit_share_at_zero": round(zero / total, 4)}
