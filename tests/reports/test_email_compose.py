"""The summary email's content: both bodies carry the score, the session and line ratings, the delay and the timing
table; the PDF is attached; the recording only when the whole message stays under the size limit."""
from __future__ import annotations

import email
from email import policy

import numpy as np

from reports.email import MB, SMTP_POLICY, compose
from sessionkit import write_wav

SCORE = {"total": 7412, "rating": "Rising Star", "notes_points": 6650.4, "line_bonus": 761.6, "difficulty": "hard",
         "tolerance": 0.5, "octave_fold": True, "longest_streak": 9,
         "delay": {"estimated_ms": 143.0, "applied_ms": 143.0, "mode": "auto"},
         "lines": [{"line": 0, "hit_fraction": 0.93, "points": 2400, "rating": "Superstar"},
                   {"line": 1, "hit_fraction": 0.31, "points": 800, "rating": "Amateur"}],
         "notes": [{"line": 0, "lyric": "Twin-"}, {"line": 0, "lyric": "kle,"}, {"line": 0, "lyric": ""},
                   {"line": 0, "lyric": "twin-"}, {"line": 0, "lyric": "kle"}, {"line": 1, "lyric": "lit-"},
                   {"line": 1, "lyric": "tle"}, {"line": 1, "lyric": "star"}]}
STATS = {"processes": {"synth": {"startup_s": 0.41, "cpu_s": 3.2, "mode": "device", "blocks": 900,
                                 "latency_ms": {"p50": 11.5, "p95": 14.0, "p99": 19.25},
                                 "underflows_flag": 0, "underflows_clock": 1}}}


def _compose(tmp_path, wav=None, limit=10.0, score=SCORE):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    msg = compose(title="Twinkle Twinkle", player="Zoë <b>Ångström</b>", score=score, stats=STATS,
                  warnings=["the camera dropped 3 frames"], pdf=pdf, wav=wav, sender="game@handtone.test",
                  to=("zoe@example.org", "coach@example.org"), attach_max_mb=limit)
    return email.message_from_bytes(msg.as_bytes(policy=SMTP_POLICY), policy=policy.default), msg


def _wav(tmp_path, seconds: float):
    path = tmp_path / "performance.wav"
    write_wav(path, np.zeros(int(seconds * 48000)), 48000)
    return path


def test_bodies_carry_score_ratings_delay_and_timing(tmp_path):
    msg, _ = _compose(tmp_path)
    assert msg["Subject"] == "handtone: Twinkle Twinkle: 7412 points, Rising Star"
    assert msg["To"] == "zoe@example.org, coach@example.org" and msg["From"] == "game@handtone.test"
    plain = msg.get_body(("plain",)).get_content()
    for text in ("7412 points, Rising Star", "Difficulty hard", "octaves folded", "Notes 6650 of 9000",
                 "line bonus 762 of 1000", "Longest streak: 9", "Your delay: you played about 143 ms late; corrected by +143 ms before scoring (--delay auto).",
                 "line 1: Superstar (93% hit) - Twinkle, twinkle\r\n", "line 2: Amateur (31% hit) - little star\r\n",
                 "synth: 0.41, 3.20", "motion-to-sound 11.5/14.0/19.2", "the camera dropped 3 frames",
                 "report.pdf"):
        assert text in plain, text
    html = msg.get_body(("html",)).get_content()
    assert "Zoë &lt;b&gt;Ångström&lt;/b&gt;" in html and "<b>" not in html     # the name is text, not markup
    assert "<td>Superstar</td>" in html and "<td>31% hit</td>" in html and "<td>synth</td>" in html
    pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert [p.get_filename() for p in pdfs] == ["report.pdf"]
    assert pdfs[0].get_content() == (tmp_path / "report.pdf").read_bytes()


def test_a_score_without_line_ratings_or_delay_still_composes(tmp_path):
    bare = {k: SCORE[k] for k in ("total", "rating", "difficulty", "tolerance")}
    msg, _ = _compose(tmp_path, score=bare)
    plain = msg.get_body(("plain",)).get_content()
    assert "7412 points" in plain and "Line ratings" not in plain and "delay" not in plain
    none, _ = _compose(tmp_path, score=None)
    assert "no score" in none["Subject"]


def test_the_recording_is_attached_under_the_limit(tmp_path):
    wav = _wav(tmp_path, 2.0)        # 192 kB
    msg, raw = _compose(tmp_path, wav=wav, limit=1.0)
    wavs = [p for p in msg.iter_attachments() if p.get_filename() == "performance.wav"]
    assert len(wavs) == 1 and wavs[0].get_content_type() == "audio/wav"
    assert wavs[0].get_content() == wav.read_bytes()
    assert len(raw.as_bytes(policy=SMTP_POLICY)) <= 1.0 * MB
    assert "The recording is attached" in msg.get_body(("plain",)).get_content()


def test_over_the_limit_the_body_names_the_recording_instead(tmp_path):
    wav = _wav(tmp_path, 8.0)        # 768 kB raw, ~1.04 MB as base64: the whole message would pass 1 MB
    msg, raw = _compose(tmp_path, wav=wav, limit=1.0)
    assert [p.get_filename() for p in msg.iter_attachments()] == ["report.pdf"]
    plain = msg.get_body(("plain",)).get_content()
    assert "too large to attach (SMTP_ATTACH_MAX_MB is 1)" in plain and str(wav) in plain
    assert str(wav) in msg.get_body(("html",)).get_content()
    # at the edge: a limit the whole message fits under attaches it, a limit just under it does not
    with_wav = _compose(tmp_path, wav=wav, limit=10.0)[1]
    size = len(with_wav.as_bytes(policy=SMTP_POLICY))
    fits = _compose(tmp_path, wav=wav, limit=(size + 100) / MB)[0]
    assert "performance.wav" in [p.get_filename() for p in fits.iter_attachments()]
    over = _compose(tmp_path, wav=wav, limit=(size - 100) / MB)[0]
    assert [p.get_filename() for p in over.iter_attachments()] == ["report.pdf"]
    zero = _compose(tmp_path, wav=wav, limit=0.0)[0]
    assert [p.get_filename() for p in zero.iter_attachments()] == ["report.pdf"]
