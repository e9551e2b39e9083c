"""The two-page scorecard (reports/pdf.py): read back with pdftotext, rendered with pdftoppm. Inputs are built
directly (a song, a played track, the real score, stats from a session folder made by sessionkit), plus one whole
demo session through `python main.py`."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

import sessionkit as kit
from conftest import run_app
from game.scoring import score as score_track
from game.song import Note, Song, load, note_name as _name
from reports.pdf import write_pdf
from reports.sessiondata import SessionData
from reports.stats import build_stats
from reports.track import STEP, Track, played_track
from game.logfiles import SYNTH_COLUMNS
from standins import require_tool

NAME = "Zoë Ñúñez 李小龍 Ελένη"
GOLD, GREEN = (0xE8, 0xB4, 0x00), (0x1A, 0x9A, 0x3A)


def pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext ends every page with a form feed)."""
    out = subprocess.run([require_tool("pdftotext"), "-layout", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                         check=True).stdout.decode("utf-8")
    return [" ".join(p.split()) for p in out.split("\f")[:-1]]


def render(pdf: Path, tmp: Path, dpi: int = 100) -> list[np.ndarray]:
    subprocess.run([require_tool("pdftoppm"), "-png", "-r", str(dpi), str(pdf), str(tmp / "page")], check=True)
    return [np.asarray(Image.open(p).convert("RGB")).astype(int) for p in sorted(tmp.glob("page*.png"))]


def near(img: np.ndarray, colour, tol: int = 30) -> int:
    """How many pixels are within tol of the colour on every channel."""
    return int(np.count_nonzero(np.all(np.abs(img - np.asarray(colour)) <= tol, axis=-1)))


def half_right(song: Song):
    """Each note's first half in tune, its second half three semitones sharp (a half score)."""
    def pitch(t):
        n = song.note_at(t)
        return (n.midi + (0 if t < n.start + n.duration / 2 else 3), 0.8) if n else (60.0, 0.0)
    return pitch


def session_inputs(d: Path, pitch=None):
    """A session folder from sessionkit, and what build_reports would pass: song, track, score, stats."""
    song = kit.full_session(d, pitch)
    synth = SessionData(d).csv("synth.csv", SYNTH_COLUMNS)
    track = played_track(synth, song.duration + 1.0)
    sc = score_track(track, song, tolerance=1.0, difficulty="medium")
    return song, track, sc, build_stats(SessionData(d))


def history_for(total: int, best: int | None = 4100) -> dict:
    rows = [{"started": f"2026-03-{10 + i}T18:00:00", "song": "Twinkle", "difficulty": "medium", "total": t,
             "rating": "Wannabe", "folder": f"/s/{i}"} for i, t in enumerate([2500, 4100, 3900])]
    rows.append({"started": "2026-03-14T15:09:26", "song": "Twinkle", "difficulty": "medium", "total": total,
                 "rating": "x", "folder": "/s/now"})
    return {"best": rows[1] if best else None, "recent": rows, "is_best": best is not None and total > best}


def test_scorecard_has_two_pages_with_the_result_and_the_detail(tmp_path):
    song, track, sc, stats = session_inputs(tmp_path, half_right(load("twinkle")))
    assert 3000 < sc["total"] < 7000
    pdf = write_pdf(tmp_path / "report.pdf", song=song, player=NAME, started="2026-03-14 15:09", score=sc,
                    stats=stats, track=track, warnings=["frames.csv: 2 incomplete row(s) dropped"],
                    history=history_for(sc["total"]))
    size = pdf.stat().st_size
    print(f"scorecard {size / 1024:.0f} kB")
    assert size < 1_000_000
    one, two = pages(pdf)
    assert song.title in one and song.artist in one and NAME in one and "2026-03-14 15:09" in one
    assert f"{sc['total']} {sc['rating']}" in one and "medium (±1 semitone)" in one
    assert f"longest streak {sc['longest_streak']} notes" in one
    assert all(li["rating"] in one for li in sc["lines"]) and "incomplete row(s) dropped" in one
    # the notes table: every target and what was played (here the note's median, half of it 3 semitones sharp)
    for n in sc["notes"][:6]:
        assert n["name"] in two
    golden = next(n for n in sc["notes"] if n["kind"] == "golden")
    assert f"{golden['name']} ★" in two
    played = [n for n in sc["notes"] if n["played_midi"] is not None]
    assert played and all(_name(n["played_midi"]) in two for n in played[:6])
    assert "Personal best: 4100 (Wannabe) on 2026-03-11 18:00, medium" in two
    assert "motion-to-sound" in two and "Timing" in two and "The last 4 sessions" in two


def test_scorecard_renders_the_piano_roll_in_colour(tmp_path):
    song, track, sc, stats = session_inputs(tmp_path)
    assert any(n.kind == "golden" for n in song.notes)
    pdf = write_pdf(tmp_path / "report.pdf", song=song, player="Ana", started="today", score=sc, stats=stats,
                    track=track, warnings=[], history=None)
    images = render(pdf, tmp_path)
    assert len(images) == 2
    for img in images:
        assert np.count_nonzero(img.min(axis=-1) < 200) > 8000, "a page is (nearly) blank"
    roll = images[0][images[0].shape[0] // 5: images[0].shape[0] * 3 // 5]
    print(f"green pixels in the roll: {near(roll, GREEN)}")
    assert near(roll, GREEN) > 400, "played samples that hit are green"
    assert near(roll, GOLD) > 100, "golden notes are gold"


def test_a_miss_shows_no_hit_colour(tmp_path):
    """The hit colour follows the scoring: silence against the song has none, so the check above can fail."""
    song, track, sc, stats = session_inputs(tmp_path, kit.silence)
    assert sc["total"] == 0
    pdf = write_pdf(tmp_path / "report.pdf", song=song, player="Ana", started="today", score=sc, stats=stats,
                    track=track, warnings=[], history=None)
    green = near(render(pdf, tmp_path)[0], GREEN)
    print(f"green pixels with nothing hit (the legend's): {green}")
    assert green < 100


def test_first_time_playing_and_missing_pieces_still_print(tmp_path):
    song = load("twinkle")
    for name, kwargs in {
        "nothing": dict(song=None, score=None, stats=None, track=None, history=None),
        "no-stats": dict(song=song, score=None, stats=None, track=Track(np.zeros(0), np.zeros(0)),
                         history={"best": None, "recent": [], "is_best": False}),
        "empty-notes": dict(song=Song("Empty", "", 120.0, ()), track=None, stats={"processes": {}},
                            score={"total": 0, "rating": "Tone Deaf", "notes": [], "lines": []},
                            history={"best": None, "recent": [{"started": "2026-03-14T15:09:26", "total": 0}],
                                     "is_best": True}),
    }.items():
        d = tmp_path / name
        d.mkdir()
        pdf = write_pdf(d / "report.pdf", player=NAME, started="", warnings=[], **kwargs)
        one, two = pages(pdf)
        assert NAME in one, name
        assert "Personal best: first time playing this song" in two, name
        if kwargs["score"] is None:
            assert "No score" in one and "no notes scored" in two, name
        if kwargs["stats"] is None:
            assert "no timing statistics" in two, name
    one, _ = pages(tmp_path / "empty-notes" / "report.pdf")
    assert "0 Tone Deaf" in one and "no scored lines" in one


def test_an_older_score_without_the_new_keys_prints_dashes(tmp_path):
    song, track, sc, stats = session_inputs(tmp_path)
    old = {k: v for k, v in sc.items() if k not in ("longest_streak", "delay")}
    old["lines"] = [{"line": li["line"], "hit_fraction": li["hit_fraction"]} for li in sc["lines"]]
    old["notes"] = [{k: v for k, v in n.items() if k not in ("played_midi", "first_hit_ms")} for n in sc["notes"]]
    one, two = pages(write_pdf(tmp_path / "report.pdf", song=song, player="Ana", started="today", score=old,
                               stats=stats, track=track, warnings=[], history=None))
    assert "longest streak -" in one and f"{old['total']} {old['rating']}" in one
    assert f"{old['notes'][0]['name']} - " in two


def test_a_three_minute_song_stays_under_a_megabyte(tmp_path):
    """360 notes over 3 minutes, played with a wobble: the timing and history stay on page 2, the file small."""
    rng = np.random.default_rng(5)
    notes = tuple(Note(2.0 + 0.5 * i, 0.45, 60 + int(rng.integers(0, 12)), "golden" if i % 17 == 0 else
                       "rap" if i % 23 == 0 else "normal", "la", i // 8) for i in range(360))
    song = Song("Long Song", "Someone", 120.0, notes)
    t = (np.arange(int((song.duration + 1) / STEP)) + 0.5) * STEP
    pitch = np.full(len(t), np.nan)
    for n in notes:
        i0, i1 = int(n.start / STEP), int(n.end / STEP)
        pitch[i0:i1] = n.midi + 0.3 * np.sin(t[i0:i1] * 30) + rng.normal(0, 0.2, i1 - i0)
    track = Track(t, pitch)
    sc = score_track(track, song, tolerance=1.0, difficulty="medium")
    kit.full_session(tmp_path)
    stats = build_stats(SessionData(tmp_path))
    pdf = write_pdf(tmp_path / "report.pdf", song=song, player=NAME, started="today", score=sc, stats=stats,
                    track=track, warnings=[], history=history_for(sc["total"]))
    size = pdf.stat().st_size
    print(f"3-minute song: {size / 1024:.0f} kB, {len(pages(pdf))} pages")
    assert size < 1_000_000
    texts = pages(pdf)
    assert "Personal best" in texts[1] and "Timing" in texts[1]
    assert "Long Song" in texts[0] and str(sc["total"]) in texts[0]


def test_demo_session_report_has_two_pages(pulse, tmp_path):
    proc = run_app("demo", "--no-window", "--duration", "8", "--out", tmp_path, "--player", NAME,
                   "--data-dir", tmp_path / "data", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = next(d for d in tmp_path.iterdir() if d.is_dir() and d.name != "data")
    assert not any("pdf failed" in line for line in proc.stdout.splitlines()), proc.stdout
    texts = pages(folder / "report.pdf")
    assert len(texts) == 2
    sc = json.loads((folder / "score.json").read_text())
    assert NAME in texts[0] and "Ode to Joy" in texts[0] and f"{sc['total']} {sc['rating']}" in texts[0]
    assert "Personal best" in texts[1]


def test_a_session_stopped_early_says_it_does_not_count_for_the_best(tmp_path):
    song, track, sc, stats = session_inputs(tmp_path)
    for name, best in (("first", None), ("later", 4100)):
        h = history_for(sc["total"], best) | {"partial": True, "is_best": False}
        if best is None:
            h["recent"] = h["recent"][-1:]     # the player's first time with the song
        _, two = pages(write_pdf(tmp_path / f"{name}.pdf", song=song, player="Ana", started="today", score=sc,
                                 stats=stats, track=track, warnings=[], history=h))
        text = " ".join(two.split())
        assert "This session stopped before the song's end" in text and "does not count for your personal best" in text
        assert ("Personal best: 4100" in text) if best else ("play the whole song to set one" in text), name
        assert "this score is the one to beat" not in text and "new personal best" not in text

