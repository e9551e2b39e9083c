"""build_reports end to end: complete, partial and empty session folders; the PDF read back with poppler; the email
through a real SMTP server; a secret password that must never reach any output or file."""
from __future__ import annotations

import base64
import email
import json
import os
import subprocess
import sys
from email import policy
from pathlib import Path


import sessionkit as kit
from game.song import load
from reports.build import build_reports
from reports.email import scrub
from standins import require_tool

ROOT = Path(__file__).resolve().parents[2]
PLAYER = "Zoë Ångström"
SECRET = "pa55-Wörd-7c1f9e"
REPORTS = ("score.json", "notes.csv", "performance.wav", "stats.json", "report.pdf", "summary.eml")


def test_complete_session_writes_every_report(tmp_path):
    song = kit.full_session(tmp_path)
    summary = build_reports(tmp_path, kit.settings(), song)
    assert summary.total == 10000 and summary.rating == "Superstar"
    # the kit's synth counted one underflow by the wall clock: the player is told, once, with what to do
    assert summary.warnings == ["the speaker ran dry (hand tone 1 underflows: clicks or gaps): try --latency high, "
                                "a larger --block, or fewer programs running"]
    for name in REPORTS:
        assert (tmp_path / name).stat().st_size > 0, name
        assert summary.files[name] == tmp_path / name
    assert summary.email_status == "email not configured: saved summary.eml (set SMTP_* in .env)"
    score = json.loads((tmp_path / "score.json").read_text())
    assert score["total"] == 10000 and score["difficulty"] == "medium" and score["tolerance"] == 1.0
    assert len(score["notes"]) == len(song.notes)
    assert {"start", "duration", "midi", "name", "kind", "line", "hit_fraction", "mean_error_cents"} <= set(
        score["notes"][0])
    stats = json.loads((tmp_path / "stats.json").read_text())
    procs = stats["processes"]
    assert not any(procs[p]["missing"] for p in ("vision", "synth", "music", "recorder", "launcher"))
    assert procs["vision"]["fps"] == 30.0 and procs["vision"]["total_ms_p50"] == 2.4
    assert "landmark_threads" not in procs["vision"]          # the kit's vision ran the classic detector
    lat = procs["synth"]["latency_ms"]
    # first block per frame only: 14 ms plus at most one block (5.3 ms), not the frame's age in later blocks
    assert lat["from"] == "synth.csv" and 14.0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= 19.5
    assert procs["synth"]["underflows_clock"] == 1 and procs["launcher"]["stop_reason"] == "song end"
    eml = email.message_from_bytes((tmp_path / "summary.eml").read_bytes(), policy=policy.default)
    assert eml["X-Unsent"] == "1" and "10000" in eml["Subject"]
    assert "performance.wav" in summary.files and any("10000" in line for line in summary.lines())


def test_report_pdf_reads_back_and_renders(tmp_path):
    pdftotext, pdftoppm = require_tool("pdftotext"), require_tool("pdftoppm")
    half = load("twinkle")

    def pitch(t):
        n = half.note_at(t)
        return (n.midi + (0 if t < n.start + n.duration / 2 else 3), 0.8) if n else (60.0, 0.0)

    song = kit.full_session(tmp_path, pitch)
    summary = build_reports(tmp_path, kit.settings(), song)
    pdf = tmp_path / "report.pdf"
    assert pdf.stat().st_size < 1_000_000
    text = subprocess.run([pdftotext, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True).stdout
    text = text.decode("utf-8")
    assert song.title in text and PLAYER in text and str(summary.total) in text
    assert summary.rating in text and "motion-to-sound" in text
    subprocess.run([pdftoppm, "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and pages[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cut(path: Path, drop: int) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:-drop])


def test_partial_session_still_reports(tmp_path):
    """Vision killed (no frames.csv, no stats), no microphone, synth killed mid-write (cut CSV, unfinished WAV)."""
    song = kit.full_session(tmp_path)
    for name in ("frames.csv", "stats-vision.json", "recording.wav", "levels.csv", "stats-recorder.json",
                 "stats-synth.json"):
        (tmp_path / name).unlink()
    _cut(tmp_path / "synth.csv", 17)
    wav = bytearray((tmp_path / "synth.wav").read_bytes())
    wav[40:44] = b"\xff\xff\xff\xff"
    (tmp_path / "synth.wav").write_bytes(bytes(wav))
    summary = build_reports(tmp_path, kit.settings(), song)
    for name in ("score.json", "stats.json", "report.pdf", "summary.eml", "performance.wav"):
        assert (tmp_path / name).exists(), name
    assert summary.total > 9900
    text = "\n".join(summary.warnings)
    assert "synth.csv: last line was cut" in text and "frames.csv missing" in text
    assert "stats-vision.json missing" in text and "stats-recorder.json missing" in text
    assert "synth.wav: header was not finished" in text
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["processes"]["vision"]["missing"] and stats["processes"]["recorder"]["missing"]
    assert stats["summary"]["missing"] == ["vision", "synth", "recorder"]
    assert stats["processes"]["synth"]["latency_ms"]["p50"] is not None  # from synth.csv even without its stats
    pdftotext = require_tool("pdftotext")
    pdf_text = subprocess.run([pdftotext, "-enc", "UTF-8", str(tmp_path / "report.pdf"), "-"],
                              capture_output=True, check=True).stdout.decode()
    assert "frames.csv missing" in pdf_text and "missing: left no stats" in pdf_text
    body = email.message_from_bytes((tmp_path / "summary.eml").read_bytes(), policy=policy.default)
    assert "frames.csv missing" in body.get_body(("plain",)).get_content()


def test_session_stopped_early_counts_the_rest_as_missed(tmp_path):
    song = kit.full_session(tmp_path)
    stop = song.duration / 2
    rows = (tmp_path / "synth.csv").read_text().splitlines()
    kept = [rows[0]] + [r for r in rows[1:] if float(r.split(",")[0]) < stop]
    (tmp_path / "synth.csv").write_text("\n".join(kept) + "\n")
    session = json.loads((tmp_path / "session.json").read_text())
    session.update(duration_s=stop, stop_reason="quit key")
    (tmp_path / "session.json").write_text(json.dumps(session))
    summary = build_reports(tmp_path, kit.settings(), song)
    assert 3500 < summary.total < 6500
    assert any("stopped at" in w for w in summary.warnings)


def test_empty_session_folder(tmp_path):
    song = load("twinkle")
    summary = build_reports(tmp_path, kit.settings(), song)
    assert summary.total == 0 and summary.rating == "Tone Deaf"
    for name in ("score.json", "notes.csv", "stats.json", "report.pdf", "summary.eml"):
        assert (tmp_path / name).exists(), name
    assert not (tmp_path / "performance.wav").exists()
    text = "\n".join(summary.warnings)
    assert "session.json missing" in text and "synth.csv missing" in text and "performance.wav not written" in text
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert all(stats["processes"][p]["missing"] for p in ("vision", "synth", "music", "recorder", "launcher"))


def test_no_song_still_writes_the_rest(tmp_path):
    kit.full_session(tmp_path)
    session = json.loads((tmp_path / "session.json").read_text())
    session.update(song_path="/nowhere/gone.toml", song="gone")
    (tmp_path / "session.json").write_text(json.dumps(session))
    summary = build_reports(tmp_path, kit.settings(), None)
    assert summary.total is None and not (tmp_path / "score.json").exists()
    for name in ("notes.csv", "stats.json", "report.pdf", "summary.eml", "performance.wav"):
        assert (tmp_path / name).exists(), name
    assert any("no song to score against" in w for w in summary.warnings)


def test_email_arrives_with_the_pdf(tmp_path, smtp_server):
    song = kit.full_session(tmp_path)
    settings = kit.settings(host="127.0.0.1", port=smtp_server.port, security="none", sender="game@handtone.test",
                            to=("zoe@example.org", "coach@example.org"), timeout=5)
    summary = build_reports(tmp_path, settings, song)
    assert summary.email_status == "emailed the scorecard to zoe@example.org, coach@example.org"
    assert len(smtp_server.messages) == 1
    mail_from, rcpts, raw = smtp_server.messages[0]
    assert mail_from == "game@handtone.test" and rcpts == ["zoe@example.org", "coach@example.org"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert song.title in msg["Subject"] and "10000" in msg["Subject"]
    plain = msg.get_body(("plain",)).get_content()
    assert "10000 points, Superstar" in plain and PLAYER in plain and "motion-to-sound" in plain
    assert PLAYER in msg.get_body(("html",)).get_content()
    pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_filename() == "report.pdf"
    assert pdfs[0].get_content() == (tmp_path / "report.pdf").read_bytes()
    saved = email.message_from_bytes((tmp_path / "summary.eml").read_bytes(), policy=policy.default)
    assert saved["Message-ID"] == msg["Message-ID"] and saved["X-Unsent"] is None


def _assert_secret_nowhere(d: Path, *texts: str) -> None:
    from standins import assert_secret_nowhere
    assert_secret_nowhere(SECRET, "zoe", folders=(d,), texts=texts)


def test_email_to_a_closed_port_fails_and_keeps_the_secret(tmp_path, capsys):
    from standins import free_port
    song = kit.full_session(tmp_path)
    settings = kit.settings(host="127.0.0.1", port=free_port(), security="starttls", user="zoe", password=SECRET,
                            to=("zoe@example.org",), timeout=3, retries=0)
    summary = build_reports(tmp_path, settings, song)
    assert summary.email_status.startswith("email failed (ConnectionRefusedError")
    assert "saved summary.eml" in summary.email_status
    eml = email.message_from_bytes((tmp_path / "summary.eml").read_bytes(), policy=policy.default)
    assert eml["X-Unsent"] == "1" and eml["To"] == "zoe@example.org"
    out = capsys.readouterr()
    _assert_secret_nowhere(tmp_path, out.out, out.err, repr(summary), "\n".join(summary.lines()), repr(settings))


def test_login_refused_keeps_the_secret(tmp_path, smtp_server, capsys):
    """The server offers no AUTH: login fails after the connection is up; still no secret anywhere."""
    song = kit.full_session(tmp_path)
    settings = kit.settings(host="127.0.0.1", port=smtp_server.port, security="none", user="zoe", password=SECRET,
                            to=("zoe@example.org",), timeout=5)
    summary = build_reports(tmp_path, settings, song)
    assert summary.email_status.startswith("email failed (SMTP")
    assert smtp_server.messages == []
    out = capsys.readouterr()
    _assert_secret_nowhere(tmp_path, out.out, out.err, repr(summary), "\n".join(summary.lines()))


def test_scrub_removes_every_form_of_the_password():
    plain = base64.b64encode(f"\0zoe\0{SECRET}".encode()).decode()
    text = f"535 bad {SECRET} / {plain} / {base64.b64encode(SECRET.encode()).decode()}"
    cleaned = scrub(text, SECRET, "zoe")
    assert SECRET not in cleaned and plain not in cleaned and cleaned.count("***") == 3


def test_rebuild_from_the_command_line(tmp_path):
    kit.full_session(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HANDTONE_ENV_FILE": str(tmp_path / "no.env"),
           "HANDTONE_DATA_DIR": os.environ["HANDTONE_DATA_DIR"]}   # the history goes to the run's private folder
    proc = subprocess.run([sys.executable, "-m", "reports.build", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "score: 10000 (Superstar)" in proc.stdout and "email not configured" in proc.stdout
    assert json.loads((tmp_path / "score.json").read_text())["player"] == PLAYER
    missing = subprocess.run([sys.executable, "-m", "reports.build", str(tmp_path / "nope")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no session folder" in missing.stderr


def test_stats_keep_the_landmark_models_threads(tmp_path):
    """stats.json (what bench audio and bench latency read) keeps the LiteRT threads a landmarks session ran on."""
    from reports.sessiondata import SessionData
    from reports.stats import build_stats
    kit.full_session(tmp_path)
    vision = json.loads((tmp_path / "stats-vision.json").read_text())
    (tmp_path / "stats-vision.json").write_text(json.dumps(vision | {"detector": "landmarks", "landmark_threads": 2}))
    procs = build_stats(SessionData(tmp_path))["processes"]
    assert procs["vision"]["detector"] == "landmarks" and procs["vision"]["landmark_threads"] == 2
