"""Large audio blocks, the motion-to-sound rule shared with the synth, clock mode, notices, the piano roll legend,
player-facing wording and rebuilding a transposed session."""
from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy
from pathlib import Path

import numpy as np
import pytest

import sessionkit as kit
from game.song import load
from reports.build import build_reports, rebuild
from reports.sessiondata import SessionData
from reports.stats import build_stats, table_rows
from game.logfiles import SYNTH_COLUMNS
from reports.track import max_gap, played_track

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("block", [256, 1024, 4096])
def test_a_continuous_tone_sounds_throughout_at_any_block_size(tmp_path, block):
    kit.write_synth(tmp_path, lambda t: (64.0, 0.8), 10.0, block=block)
    data = SessionData(tmp_path)
    rows = data.csv("synth.csv", SYNTH_COLUMNS)
    gap = max_gap(data.json("stats-synth.json"), rows["t_dac"])
    assert gap == pytest.approx(max(0.05, 1.5 * block / 48000))
    track = played_track(rows, 10.0, gap=gap)
    last = rows["t_dac"].max()
    assert track.sounding[track.t <= last].all()
    # without the stats the median step between blocks gives the same
    assert played_track(rows, 10.0).sounding[track.t <= last].all()
    assert max_gap({}, rows["t_dac"]) == pytest.approx(gap, abs=1e-4)


def test_a_stall_longer_than_a_block_is_still_silence(tmp_path):
    kit.write_synth(tmp_path, lambda t: (64.0, 0.8), 6.0, block=4096)
    rows = SessionData(tmp_path).csv("synth.csv", SYNTH_COLUMNS)
    keep = (rows["t_dac"] < 2.0) | (rows["t_dac"] > 3.0)       # the synth logged nothing for a second
    track = played_track({k: v[keep] for k, v in rows.items()}, 6.0, gap=max_gap({"block": 4096,
                                                                                  "sample_rate": 48000}))
    assert not track.sounding[(track.t > 2.2) & (track.t < 2.9)].any()
    assert track.sounding[(track.t > 3.2) & (track.t < 5.5)].all()


def test_large_block_session_scores_a_perfect_performance(tmp_path):
    song = kit.full_session(tmp_path)
    kit.write_synth(tmp_path, kit.perfect(song), song.duration + 1.0, block=4096)
    summary = build_reports(tmp_path, kit.settings(), song)
    score = json.loads((tmp_path / "score.json").read_text())
    assert summary.total > 9000, summary.total    # blocks start up to 85 ms into a note: only that edge is lost
    assert score["sounding_share"] > 0.8


def _synthlog_csv(path: Path) -> dict:
    """synth.csv written by the synth's own SynthLog: frames before t0 (t_capture < 0), silence at the start, a
    frame that spans several blocks, and a tone later."""
    from audio.synth import SynthLog
    log = SynthLog(path)
    rng = np.random.default_rng(7)
    rows, block = [], 256 / 48000
    for k in range(3000):
        t_dac = k * block - 0.2
        age = 0.012 + rng.uniform(0, 0.01)
        frame = int(np.floor((t_dac - age) * 30))
        amp = 0.0 if k < 1500 else 0.7           # half the session silent: its frames still count
        rows.append((t_dac, 64.0, 329.6, amp, float(frame), frame / 30, 0.0))
    log(np.asarray(rows))
    return log.percentiles()


def test_latency_follows_the_synths_rule(tmp_path):
    own = _synthlog_csv(tmp_path / "synth.csv")
    kit.stats(tmp_path, "synth", mode="device", block=256, sample_rate=48000, latency_ms=own)
    stats = build_stats(SessionData(tmp_path))
    lat = stats["processes"]["synth"]["latency_ms"]
    assert lat["from"] == "synth.csv" and lat["samples"] == own["n"]
    for q in ("p50", "p95", "p99"):
        assert lat[q] == pytest.approx(own[q], abs=0.01), q
    assert stats["summary"]["latency_ms_p50"] == lat["p50"]


def test_clock_mode_reports_latency_as_not_measured(tmp_path):
    pdftotext = kit_tool("pdftotext")
    song = kit.full_session(tmp_path)
    kit.write_synth(tmp_path, kit.perfect(song), song.duration + 1.0, mode="clock")
    build_reports(tmp_path, kit.settings(), song)
    stats = json.loads((tmp_path / "stats.json").read_text())
    lat = stats["processes"]["synth"]["latency_ms"]
    assert lat["p50"] is None and lat["p95"] is None and lat["not_measured"] == "no speaker (clock mode)"
    assert stats["summary"]["latency_ms_p50"] is None
    assert stats["summary"]["latency_not_measured"] == "no speaker (clock mode)"
    row = dict((p, f) for p, _, _, f in table_rows(stats))["synth"]
    assert "motion-to-sound latency: not measured, no speaker (clock mode)" in row and " ms (p50" not in row
    body = email.message_from_bytes((tmp_path / "summary.eml").read_bytes(), policy=policy.default)
    assert "not measured, no speaker (clock mode)" in body.get_body(("plain",)).get_content()
    text = subprocess.run([pdftotext, "-enc", "UTF-8", str(tmp_path / "report.pdf"), "-"], capture_output=True,
                          check=True).stdout.decode()
    assert "no speaker (clock mode)" in " ".join(text.split())


def kit_tool(name):
    from standins import require_tool
    return require_tool(name)


NOTICES = ["synth: no speaker: playing silently, the tone is still logged and scored",
           "recorder: no microphone: not recording (plug one in and restart to record)"]


def test_notices_reach_the_pdf_and_the_email(tmp_path):
    pdftotext = kit_tool("pdftotext")
    song = kit.full_session(tmp_path)
    session = json.loads((tmp_path / "session.json").read_text())
    session["notices"] = NOTICES
    (tmp_path / "session.json").write_text(json.dumps(session))
    (tmp_path / "frames.csv").unlink()                       # and one warning alongside
    summary = build_reports(tmp_path, kit.settings(), song)
    assert not any("no speaker" in w for w in summary.warnings)   # the player saw these live already
    body = email.message_from_bytes((tmp_path / "summary.eml").read_bytes(), policy=policy.default)
    plain = body.get_body(("plain",)).get_content()
    html = body.get_body(("html",)).get_content()
    text = " ".join(subprocess.run([pdftotext, "-enc", "UTF-8", str(tmp_path / "report.pdf"), "-"],
                                   capture_output=True, check=True).stdout.decode().split())
    for notice in NOTICES + ["frames.csv missing"]:
        assert notice in plain and notice in html, notice
        assert " ".join(notice.split()) in text, notice
    assert "Notes on this session" in text


def test_piano_roll_legend_names_targets_and_golden_notes():
    from reports.pdf import _roll_figure
    from reports.track import Track
    song = load("twinkle")
    t = (np.arange(500) + 0.5) * 0.01
    fig = _roll_figure(song, Track(t, np.full(500, 64.0)), {"tolerance": 1.0}, 0)
    labels = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert labels == ["target notes", "golden notes", "played", "hit"]


def test_a_dead_synth_is_explained_in_player_words(tmp_path):
    song = kit.full_session(tmp_path)
    (tmp_path / "stats-synth.json").unlink()
    summary = build_reports(tmp_path, kit.settings(), song)
    text = "\n".join(summary.warnings)
    assert "the synth process stopped without saving its timing: synth.wav placed at session time 0" in text
    assert "stats-synth.json has no wav_t_start: synth.wav" not in text


def _transposed_session(d: Path, transpose: int) -> None:
    song = kit.full_session(d, kit.perfect(load("twinkle"), transpose))
    kit.write_synth(d, kit.perfect(song, transpose), song.duration + 1.0)
    session = json.loads((d / "session.json").read_text())
    session.update(transpose=transpose, difficulty="hard", player="Ana")
    (d / "session.json").write_text(json.dumps(session))


def test_rebuild_scores_a_transposed_session_against_the_transposed_notes(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDTONE_ENV_FILE", str(tmp_path / "no.env"))
    for k in ("HANDTONE_TRANSPOSE", "HANDTONE_DIFFICULTY", "HANDTONE_PLAYER"):
        monkeypatch.delenv(k, raising=False)
    _transposed_session(tmp_path, 3)
    summary = rebuild(tmp_path)
    score = json.loads((tmp_path / "score.json").read_text())
    assert summary.total == 10000 and score["transpose"] == 3
    assert score["difficulty"] == "hard" and score["tolerance"] == 0.5 and score["player"] == "Ana"
    assert score["notes"][0]["midi"] == load("twinkle").notes[0].midi + 3


def test_rebuild_command_line_on_a_transposed_session(tmp_path):
    _transposed_session(tmp_path, -5)
    env = {"PATH": "/usr/bin:/bin", "HANDTONE_ENV_FILE": str(tmp_path / "no.env")}
    proc = subprocess.run([sys.executable, "-m", "reports.build", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "score: 10000 (Superstar)" in proc.stdout
