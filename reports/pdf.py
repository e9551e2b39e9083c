"""report.pdf: the two-page scorecard a player keeps.

Page 1 is the result: song, player, date, difficulty, the score large with its rating, a piano roll of the whole song
(what was played against the notes) and each line's rating. Page 2 is the detail: every note (target, played, error,
hit share, first hit), how the machine kept up (the timing table and small plots) and the player's history with the
song. fpdf2 with DejaVu (reports/pdffonts.py) so any name prints; the figures come from reports/plots.py.

Every input may be missing (no song, no score, no stats, no track, a score.json from an older version without some
keys): the scorecard then says what is missing in that place instead of raising, so a broken session still gets one.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from game.song import Song, note_name
from reports import pdffonts, pdfseries, plots
from reports.delaywords import delay_words
from reports.plots import roll_figure as _roll_figure  # noqa: F401 - the name tests/reports/test_report_fixes.py uses
from reports.stats import table_rows
from reports.track import Track

DASH = "-"
NOTE_GROUPS = 3      # the notes table runs in three side-by-side column groups, so a song's notes fit page 2
LINE_GROUPS = 4
NOTE_ROWS_FIRST = 30  # up to this many rows (90 notes) the notes table comes first on page 2 and all of it fits


def write_pdf(path: Path, *, song: Song | None, player: str, started: str, score: dict | None, stats: dict | None,
              track: Track | None, warnings: list[str], transpose: int = 0, history: dict | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=10)
    pdf.set_margins(12, 10, 12)
    texts = [str(player or ""), *warnings, *(str(r.get("song") or "") for r in (history or {}).get("recent") or [])]
    if song is not None:
        texts += [song.title, song.artist, *(n.lyric for n in song.notes)]
    pdffonts.setup(pdf, "".join(texts))
    pdf.set_title(f"handtone: {song.title if song else 'session'}")
    pdf.set_author(str(player or ""))
    pdf.add_page()
    _page_one(pdf, song, player, started, score, track, warnings, transpose, history)
    pdf.add_page()
    _page_two(pdf, Path(path).parent, score, stats, history)
    pdf.output(str(path))
    return Path(path)


# ---- page 1 ---------------------------------------------------------------------------------------------------------

def _page_one(pdf, song, player, started, score, track, warnings, transpose, history) -> None:
    title = (song.title if song else None) or (score or {}).get("song") or "(song unknown)"
    artist = (song.artist if song else None) or (score or {}).get("artist") or ""
    _text(pdf, title, 20, bold=True, h=10)
    if artist:
        _text(pdf, artist, 11, h=6)
    _text(pdf, f"Player: {player or DASH}", 12, bold=True, h=7)
    _text(pdf, f"Date: {started or DASH}    Difficulty: {_difficulty(score)}"
               + (f"    Transpose: {transpose:+d}" if transpose else ""), 10, h=6)
    pdf.ln(2)
    if score:
        _score_block(pdf, score, history)
    else:
        _text(pdf, "No score: the song could not be scored (see the notes below)", 14, bold=True, h=10)
    pdf.ln(1)
    if song is None or not song.notes:
        _text(pdf, "Piano roll: no song to draw", 9, h=6)
    elif track is None:
        _text(pdf, "Piano roll: nothing played was logged (no synth.csv)", 9, h=6)
    else:
        _image(pdf, plots.roll_figure(song, track, score, transpose))
    _lines_table(pdf, score)
    if warnings:
        _heading(pdf, "Notes on this session")
        pdf.set_font(pdffonts.FAMILY, "", 7.5)
        for w in warnings:
            pdf.multi_cell(0, 3.8, f"• {w}", new_x="LMARGIN", new_y="NEXT")


def _score_block(pdf, score: dict, history: dict | None) -> None:
    pdf.set_font(pdffonts.FAMILY, "B", 40)
    total = score.get("total")
    pdf.cell(55, 17, DASH if total is None else str(total), new_x="RIGHT", new_y="TOP")
    pdf.set_font(pdffonts.FAMILY, "B", 22)
    pdf.cell(0, 17, str(score.get("rating") or DASH), new_x="LMARGIN", new_y="NEXT")
    if history and history.get("is_best"):
        pdf.set_text_color(0x9a, 0x6f, 0x00)
        _text(pdf, "New personal best for this song!", 12, bold=True, h=6)
        pdf.set_text_color(0)
    streak = score.get("longest_streak")
    _text(pdf, f"notes {_num(score.get('notes_points'), 0)} / 9000    line bonus {_num(score.get('line_bonus'), 0)}"
               f" / 1000    longest streak {DASH if streak is None else f'{streak} notes'}"
               f"    octave folding {'on' if score.get('octave_fold') else 'off'}", 9, h=5)
    _text(pdf, f"Player delay: {delay_words(score)}", 9, h=5)


def _difficulty(score: dict | None) -> str:
    if not score:
        return DASH
    tol = score.get("tolerance")
    tol_text = f" (±{tol:g} semitone{'' if tol == 1 else 's'})" if isinstance(tol, (int, float)) else ""
    return f"{score.get('difficulty') or DASH}{tol_text}"


def _lines_table(pdf, score: dict | None) -> None:
    lines = (score or {}).get("lines") or []
    _heading(pdf, "Lines")
    if not lines:
        _text(pdf, "no line ratings (no score)" if not score else "no scored lines", 8, h=5)
        return
    cells = [(str(int(li.get("line", 0)) + 1) if isinstance(li.get("line"), (int, float)) else DASH,
              _pct(li.get("hit_fraction")), _num(li.get("points"), 0), str(li.get("rating") or DASH)) for li in lines]
    _grouped_table(pdf, ("line", "hit", "points", "rating"), (6, 8, 10, 20), cells, LINE_GROUPS, 6.5,
                   ("RIGHT", "RIGHT", "RIGHT", "LEFT"))


# ---- page 2 ---------------------------------------------------------------------------------------------------------

def _page_two(pdf, folder: Path, score: dict | None, stats: dict | None, history: dict | None) -> None:
    notes = (score or {}).get("notes") or []
    if -(-len(notes) // NOTE_GROUPS) <= NOTE_ROWS_FIRST:
        _notes(pdf, score, notes, first=True)
        _timing(pdf, folder, stats)
        _history(pdf, score, history)
    else:   # a long song: the timing and the history stay on page 2, its notes table runs on after them
        _timing(pdf, folder, stats, first=True)
        _history(pdf, score, history)
        _notes(pdf, score, notes)


def _notes(pdf, score: dict | None, notes: list[dict], first: bool = False) -> None:
    _heading(pdf, "Notes", first=first)
    if not notes:
        _text(pdf, "no notes scored (no score)" if not score else "the song has no notes", 8, h=5)
    else:
        cells = [_note_row(n) for n in notes]
        _grouped_table(pdf, ("target", "played", "cents", "hit", "1st ms"), (10, 10, 10, 9, 11), cells,
                       NOTE_GROUPS, 6.5, ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"))
        _text(pdf, "played: the median pitch played over the note; cents: its mean error (+ sharp, - flat); hit: "
                   "share of the note played within the tolerance; 1st ms: from the note's start to its first hit; "
                   "★ golden, R rap, F freestyle", 6.5, h=3.2)


def _timing(pdf, folder: Path, stats: dict | None, first: bool = False) -> None:
    _heading(pdf, "Timing", first=first)
    if not stats:
        _text(pdf, "no timing statistics (stats.json was not written: see the notes)", 8, h=5)
    else:
        pdf.set_font(pdffonts.FAMILY, "", 7)
        with pdf.table(col_widths=(18, 14, 12, 120), text_align=("LEFT", "RIGHT", "RIGHT", "LEFT"),
                       line_height=3.6, padding=0.8, first_row_as_headings=True) as table:
            table.row(("process", "start-up s", "CPU s", "figures"))
            for r in table_rows(stats):
                table.row(r)
        pdf.ln(1)
    values, why = pdfseries.latencies(folder, stats) if stats else (None, "no stats")
    _image(pdf, plots.timing_figure(values, why, pdfseries.fps_series(folder), pdfseries.cpu_per_process(stats)))


def _note_row(n: dict) -> tuple[str, ...]:
    mark = {"golden": " ★", "rap": " R", "golden_rap": " ★R", "freestyle": " F"}.get(n.get("kind"), "")
    played = n.get("played_midi")
    err = n.get("mean_error_cents")
    first = n.get("first_hit_ms")
    return (f"{n.get('name') or (note_name(n['midi']) if 'midi' in n else DASH)}{mark}",
            note_name(played) if isinstance(played, (int, float)) else DASH,
            f"{err:+.0f}" if isinstance(err, (int, float)) else DASH, _pct(n.get("hit_fraction")),
            f"{first:.0f}" if isinstance(first, (int, float)) else DASH)


def _history(pdf, score: dict | None, history: dict | None) -> None:
    _heading(pdf, "Your history with this song")
    best = (history or {}).get("best")
    recent = [r for r in ((history or {}).get("recent") or []) if isinstance(r, dict)]
    partial = bool((history or {}).get("partial"))
    if partial:
        _text(pdf, "This session stopped before the song's end: it is scored against the whole song (the notes "
                   "after the stop count as missed) and does not count for your personal best.", 8, h=4.5)
    if not best and len(recent) <= 1:
        _text(pdf, "Personal best: none yet at this difficulty: play the whole song to set one." if partial else
              "Personal best: first time playing this song" +
              (" at this difficulty" if recent else "") + ": this score is the one to beat next time.", 9, h=5)
        if history is None:
            _text(pdf, "(the history was not recorded for this session: see the notes)", 7.5, h=4)
        return
    if best:
        line = (f"Personal best: {best.get('total')} ({best.get('rating') or DASH}) on {_date(best.get('started'))}"
                f", {best.get('difficulty') or DASH}")
    else:
        line = "Personal best: none yet at this difficulty"
    if history.get("is_best"):
        line += f"; this session's {(score or {}).get('total', DASH)} is a new personal best!"
    _text(pdf, line, 9, bold=True, h=5)
    if len(recent) >= 2:
        _text(pdf, f"The last {len(recent)} sessions of this song, oldest first:", 8, h=4.5)
        _image(pdf, plots.trend_figure(recent, _float(best.get("total")) if best else None))


# ---- helpers --------------------------------------------------------------------------------------------------------

def _grouped_table(pdf, header, widths, cells, groups, size, align) -> None:
    """Rows laid out column-major in `groups` side-by-side groups (row r holds items r, r+rows, r+2*rows...), so a
    long list takes a third of the height."""
    rows = -(-len(cells) // groups)
    if rows < 4:      # a short list reads better in one group
        groups, rows = 1, len(cells)
    pdf.set_font(pdffonts.FAMILY, "", size)
    gap = 3
    col_widths = []
    for g in range(groups):
        col_widths += list(widths) + ([gap] if g < groups - 1 else [])
    aligns = []
    for g in range(groups):
        aligns += list(align) + (["LEFT"] if g < groups - 1 else [])
    if sum(col_widths) > pdf.epw:
        col_widths = [w * pdf.epw / sum(col_widths) for w in col_widths]
    with pdf.table(col_widths=tuple(col_widths), text_align=tuple(aligns), line_height=size * 0.5,
                   padding=0.5, width=sum(col_widths), align="LEFT", first_row_as_headings=True,
                   borders_layout="HORIZONTAL_LINES") as table:
        head = []
        for g in range(groups):
            head += list(header) + ([""] if g < groups - 1 else [])
        table.row(head)
        for r in range(rows):
            row = []
            for g in range(groups):
                i = g * rows + r
                row += list(cells[i]) if i < len(cells) else [""] * len(header)
                if g < groups - 1:
                    row.append("")
            table.row(row)


def _image(pdf, fig) -> None:
    w = pdf.epw
    h = w * fig.get_figheight() / fig.get_figwidth()
    if pdf.get_y() + h > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.image(plots.png(fig), x=pdf.l_margin, w=w, h=h)


def _heading(pdf, text: str, first: bool = False) -> None:
    if not first:
        pdf.ln(1.5)
    _text(pdf, text, 11, bold=True, h=6.5)


def _text(pdf, text: str, size: float, bold: bool = False, h: float = 5) -> None:
    pdf.set_font(pdffonts.FAMILY, "B" if bold else "", size)
    pdf.multi_cell(0, h, text, new_x="LMARGIN", new_y="NEXT")


def _pct(v) -> str:
    return f"{v * 100:.0f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) else DASH


def _num(v, digits: int) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else DASH


def _float(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _date(started) -> str:
    try:
        return datetime.fromisoformat(str(started)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(started or DASH)
