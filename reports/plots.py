"""The scorecard's figures (reports/pdf.py places them): the piano roll of the whole song, the timing plots and the
trend of the player's recent sessions. matplotlib with Agg, imported inside the functions, so the game never pays
for it and nothing needs a display. Figures are rasterised to PNG at a modest DPI so a long song's thousands of
samples cost a few tens of kB, not megabytes of vector paths.
"""
from __future__ import annotations

import io
from datetime import datetime

import numpy as np

from game.scoring import hit_samples
from game.song import Song, note_name
from reports.track import Track

DPI = 150
ROW_SECONDS = 65.0          # a longer song is drawn in rows of at most this, so its notes stay readable
MAX_ROWS = 3
COLOURS = {"normal": "#5b8cc7", "golden": "#e8b400", "freestyle": "#c8c8c8", "rap": "#9b6fc0",
           "golden_rap": "#e8b400"}
EDGE = {"golden": "#7a5a00", "golden_rap": "#7a5a00"}
HATCH = {"rap": "////", "golden_rap": "////"}
PLAYED, HIT = "#c04040", "#1a9a3a"
RAP = ("rap", "golden_rap")


def png(fig) -> io.BytesIO:
    """The figure as PNG bytes for fpdf2."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    buf.seek(0)
    return buf


def _figure(width: float, height: float):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=DPI)


# ---- the piano roll -------------------------------------------------------------------------------------------------

def hit_mask(song: Song, track: Track, score: dict | None, transpose: int) -> np.ndarray:
    """Which played samples hit the note sounding then, the way score.json counted them (game/scoring.py's rule,
    with its tolerance, octave folding and applied delay)."""
    if not score or not len(track.pitch):
        return np.zeros(len(track.pitch), bool)
    delay = score.get("delay")
    applied = delay.get("applied_ms") if isinstance(delay, dict) else None
    return hit_samples(track, song, tolerance=float(score.get("tolerance") or 0.0), transpose=transpose,
                       octave_fold=bool(score.get("octave_fold")),
                       delay_ms=float(applied) if isinstance(applied, (int, float)) else 0.0)


def roll_figure(song: Song, track: Track, score: dict | None, transpose: int = 0):
    """The song's notes as bars (golden in gold with a dark outline, rap hatched, freestyle grey), the played pitch
    as a red line, green where it hit; in up to three rows for a long song; the legend above."""
    from matplotlib.patches import Patch
    t, pitch = track.t, track.pitch
    end = max(song.duration, float(t[-1]) if len(t) else 0.0) + 0.5
    rows = int(min(MAX_ROWS, max(1, np.ceil(end / ROW_SECONDS))))
    span = end / rows
    fig = _figure(7.5, 0.9 + 1.4 * rows if rows > 1 else 4.0)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    hit = hit_mask(song, track, score, transpose)
    lo, hi = song.lowest + transpose - 2, song.highest + transpose + 2
    sounding = pitch[~np.isnan(pitch)]
    if len(sounding):
        lo, hi = min(lo, int(np.floor(sounding.min()))), max(hi, int(np.ceil(sounding.max())))
    ticks = [m for m in range(lo, hi + 1) if m % 12 in (0, 2, 4, 5, 7, 9, 11)]
    ticks = ticks[::max(1, len(ticks) // (6 if rows > 1 else 12))]
    hit_pitch = np.where(hit, pitch, np.nan)
    for r, ax in enumerate(axes):
        x0, x1 = r * span, (r + 1) * span
        # one barh call per kind of note and only this row's stretch of the played line: a 3-minute song drew 300
        # bar containers and every row the whole line (the scorecard took 2.4 s of bench report's 3 s)
        shown = [n for n in song.notes if n.end >= x0 and n.start <= x1]
        for kind in dict.fromkeys(n.kind for n in shown):
            bars = [n for n in shown if n.kind == kind]
            ax.barh([n.midi + transpose for n in bars], [n.duration for n in bars], left=[n.start for n in bars],
                    height=0.8, color=COLOURS.get(kind, "#5b8cc7"), edgecolor=EDGE.get(kind, "none"),
                    hatch=HATCH.get(kind), linewidth=0.7, zorder=1)
        near = (t >= x0 - 1.0) & (t <= x1 + 1.0)
        ax.plot(t[near], pitch[near], color=PLAYED, linewidth=0.8, zorder=2, label="played")
        if score:   # the played line again, green where it hit (NaN breaks it elsewhere)
            ax.plot(t[near], hit_pitch[near], color=HIT, linewidth=1.8, zorder=3, label="hit")
        ax.set_xlim(x0, x1)
        ax.set_ylim(lo - 0.5, hi + 0.5)
        ax.set_yticks(ticks, [note_name(m) for m in ticks], fontsize=6.5)
        ax.tick_params(axis="x", labelsize=6.5)
        ax.grid(axis="y", color="#eeeeee", linewidth=0.5, zorder=0)
    axes[-1].set_xlabel("seconds", fontsize=7)
    kinds = {n.kind for n in song.notes}
    bars = [Patch(facecolor=COLOURS["normal"], label="target notes")]
    if kinds & {"golden", "golden_rap"}:
        bars.append(Patch(facecolor=COLOURS["golden"], edgecolor=EDGE["golden"], linewidth=0.7, label="golden notes"))
    if kinds & set(RAP):
        bars.append(Patch(facecolor=COLOURS["rap"], hatch="////", label="rap (any pitch)"))
    if "freestyle" in kinds:
        bars.append(Patch(facecolor=COLOURS["freestyle"], label="freestyle (not scored)"))
    handles, _ = axes[0].get_legend_handles_labels()
    # above the plot, so it never hides the highest notes
    axes[0].legend(handles=bars + handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=6.5, frameon=False,
                   ncols=len(bars) + len(handles), markerscale=4, borderaxespad=0.2)
    fig.tight_layout(h_pad=0.6)
    return fig


# ---- timing ---------------------------------------------------------------------------------------------------------

def timing_figure(latencies: np.ndarray | None, latency_note: str, fps: tuple[np.ndarray, np.ndarray] | None,
                  cpu: dict[str, float]):
    """Three small panels side by side: the motion-to-sound latency histogram, frames per second over the session,
    CPU seconds per process. A panel without data says why instead of drawing nothing."""
    fig = _figure(7.5, 1.9)
    ax_lat, ax_fps, ax_cpu = fig.subplots(1, 3)
    for ax, title in ((ax_lat, "motion-to-sound latency (ms)"), (ax_fps, "camera frames per second"),
                      (ax_cpu, "CPU seconds per process")):
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=6)
    if latencies is not None and len(latencies):
        ax_lat.hist(latencies, bins=min(40, max(5, len(latencies) // 10)), color="#5b8cc7")
        p50 = float(np.percentile(latencies, 50))
        ax_lat.axvline(p50, color=PLAYED, linewidth=0.8)
        ax_lat.text(p50, ax_lat.get_ylim()[1] * 0.92, f" p50 {p50:.1f}", fontsize=6, color=PLAYED)
        ax_lat.set_ylabel("frames", fontsize=6)
    else:
        _empty(ax_lat, latency_note or "no latency data")
    if fps is not None and len(fps[0]):
        ax_fps.plot(fps[0], fps[1], color="#5b8cc7", linewidth=0.9)
        ax_fps.set_ylim(0, max(35.0, float(np.max(fps[1])) * 1.1))
        ax_fps.set_xlabel("seconds", fontsize=6)
    else:
        _empty(ax_fps, "no per-frame log (frames.csv)")
    if cpu:
        names = list(cpu)
        ax_cpu.barh(names, [cpu[n] for n in names], color="#7aa974")
        ax_cpu.invert_yaxis()
        ax_cpu.set_xlabel("s", fontsize=6)
    else:
        _empty(ax_cpu, "no process stats")
    fig.tight_layout(w_pad=1.0)
    return fig


def _empty(ax, text: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "\n".join(_wrap(text, 28)), ha="center", va="center", fontsize=6.5, color="#666666",
            transform=ax.transAxes)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width) or [""]


# ---- history --------------------------------------------------------------------------------------------------------

def trend_figure(rows: list[dict], best: float | None):
    """The song's recent totals, oldest first, this session (the last) marked; the personal best before it as a
    dashed line."""
    fig = _figure(7.5, 1.5)
    ax = fig.add_subplot()
    totals = [float(r.get("total") or 0) for r in rows]
    x = np.arange(len(rows))
    ax.plot(x, totals, color="#5b8cc7", marker="o", markersize=3, linewidth=1.0)
    if totals:
        ax.plot(x[-1:], totals[-1:], marker="o", markersize=6, color=PLAYED, linestyle="none", label="this session")
    if best is not None:
        ax.axhline(best, color="#e8b400", linestyle="--", linewidth=0.9, label=f"best before: {best:.0f}")
    ax.set_ylim(0, 10500)
    ax.set_xticks(x, [_short_date(r.get("started")) for r in rows], fontsize=6, rotation=0)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_ylabel("score", fontsize=6)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.5)
    ax.legend(fontsize=6, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, borderaxespad=0.2)
    fig.tight_layout()
    return fig


def _short_date(started) -> str:
    try:
        return datetime.fromisoformat(str(started)).strftime("%d %b\n%H:%M")
    except ValueError:
        return str(started or "?")[:10]
