"""report.pdf: the scorecard a player keeps: the song, who played, the score and rating, a piano roll of what was
played against the song, and how the machine kept up. fpdf2 with DejaVu (ships with matplotlib) so any player name
prints; matplotlib with Agg, imported here only, so nothing needs a display.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from game.song import Song, note_name
from game.scoring import target_track
from reports.stats import table_rows
from reports.track import Track


def write_pdf(path: Path, *, song: Song | None, player: str, started: str, score: dict | None, stats: dict | None,
              track: Track | None, warnings: list[str], transpose: int = 0) -> Path:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos
    import matplotlib

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_title(f"handtone: {song.title if song else 'session'}")
    pdf.add_page()
    line = dict(new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_font("DejaVu", "B", 20)
    pdf.cell(0, 10, song.title if song else "(song unknown)", **line)
    pdf.set_font("DejaVu", "", 11)
    if song and song.artist:
        pdf.cell(0, 6, song.artist, **line)
    diff = f"{score.get('difficulty') or '?'} (±{score.get('tolerance')} semitones)" if score else "-"
    pdf.cell(0, 6, f"Player: {player}    Date: {started}    Difficulty: {diff}", **line)
    pdf.ln(3)

    if score:
        pdf.set_font("DejaVu", "B", 36)
        pdf.cell(70, 16, f"{score['total']}", new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font("DejaVu", "B", 20)
        pdf.cell(0, 16, score["rating"], **line)
        pdf.set_font("DejaVu", "", 10)
        delay = (score.get("player_delay") or {}).get("delay_ms")
        pdf.cell(0, 6, f"notes {score['notes_points']:.0f} / 9000    line bonus {score['line_bonus']:.0f} / 1000    "
                       f"player delay {'-' if delay is None else f'{delay:+d} ms'} (estimated, not applied)", **line)
    else:
        pdf.set_font("DejaVu", "B", 16)
        pdf.cell(0, 12, "No score (see notes below)", **line)

    if song and track is not None:
        png = _piano_roll(song, track, score, transpose)
        pdf.image(png, x=pdf.l_margin, w=pdf.epw)

    if stats:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 8, "Timing", **line)
        pdf.set_font("DejaVu", "", 8)
        with pdf.table(col_widths=(18, 16, 14, 100), text_align=("LEFT", "RIGHT", "RIGHT", "LEFT"),
                       line_height=4.5, padding=1) as table:
            table.row(("process", "start-up s", "CPU s", "figures"))
            for r in table_rows(stats):
                table.row(r)

    if warnings:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 8, "Notes on this session", **line)
        pdf.set_font("DejaVu", "", 8)
        for w in warnings:
            pdf.multi_cell(0, 4.5, f"• {w}", **line)
    pdf.output(str(path))
    return Path(path)


def _piano_roll(song: Song, track: Track, score: dict | None, transpose: int) -> io.BytesIO:
    """The piano roll as a PNG for the PDF."""
    fig = _roll_figure(song, track, score, transpose)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return buf


def _roll_figure(song: Song, track: Track, score: dict | None, transpose: int):
    """The song's notes as bars (golden in gold), the played pitch as a line, samples that hit in green; the
    legend names each (the Agg figure, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=(7.5, 3.2), dpi=120)
    ax = fig.add_subplot()
    colours = {"normal": "#5b8cc7", "golden": "#e8b400", "freestyle": "#c8c8c8"}
    for n in song.notes:
        ax.barh(n.midi + transpose, n.duration, left=n.start, height=0.8, color=colours.get(n.kind, "#5b8cc7"),
                edgecolor="#333333" if n.kind == "golden" else "none", linewidth=0.6, zorder=1)
    t, pitch = track.t, track.pitch
    ax.plot(t, pitch, color="#c04040", linewidth=0.9, zorder=2, label="played")
    if score and len(t):
        target = target_track(song, len(t), transpose)
        with np.errstate(invalid="ignore"):
            hit = np.abs(pitch - target) <= score["tolerance"] + 1e-9
        ax.scatter(t[hit], pitch[hit], s=2.5, color="#1a9a3a", zorder=3, label="hit", linewidths=0)
    lo, hi = song.lowest + transpose - 2, song.highest + transpose + 2
    sounding = pitch[~np.isnan(pitch)]
    if len(sounding):
        lo, hi = min(lo, int(np.floor(sounding.min()))), max(hi, int(np.ceil(sounding.max())))
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ticks = [m for m in range(lo, hi + 1) if m % 12 in (0, 2, 4, 5, 7, 9, 11)]
    step = max(1, len(ticks) // 12)
    ax.set_yticks(ticks[::step], [note_name(m) for m in ticks[::step]], fontsize=7)
    ax.set_xlim(0, max(song.duration, float(t[-1]) if len(t) else 0.0) + 0.5)
    ax.set_xlabel("seconds", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.5, zorder=0)
    kinds = {n.kind for n in song.notes}
    bars = [Patch(facecolor=colours["normal"], label="target notes")]
    if "golden" in kinds:
        bars.append(Patch(facecolor=colours["golden"], edgecolor="#333333", linewidth=0.6, label="golden notes"))
    if "freestyle" in kinds:
        bars.append(Patch(facecolor=colours["freestyle"], label="freestyle (not scored)"))
    handles, _ = ax.get_legend_handles_labels()
    # above the plot, so it never hides the highest notes
    ax.legend(handles=bars + handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False,
              ncols=len(bars) + len(handles), markerscale=4, borderaxespad=0.2)
    fig.tight_layout()
    return fig
