"""Reports of a paused session: the logs are on the session clock, session.json lists the pauses, and the reports
score and transcribe on song time, so paused moments neither hit nor miss."""
from __future__ import annotations

import csv
import json

import numpy as np

import sessionkit as kit
from game.pause import song_times
from game.song import load
from reports.build import build_reports

PAUSES = [[4.05, 7.3], [11.2, 12.0]]   # session seconds


def paused_session(d, during_pause):
    """Twinkle played perfectly on song time, with PAUSES in the session; ``during_pause``: (midi, amp) meanwhile."""
    song = load("twinkle")
    perfect = kit.perfect(song)
    paused_s = sum(e - s for s, e in PAUSES)

    def pitch(t):
        if any(s <= t < e for s, e in PAUSES):
            return during_pause
        return perfect(float(song_times(np.array([t]), PAUSES)[0]))
    seconds = song.duration + 1.0 + paused_s
    d.mkdir(parents=True, exist_ok=True)
    kit.write_session(d, song, "Zoë", song.duration + 1.0)
    info = json.loads((d / "session.json").read_text())
    info.update(pauses=PAUSES, paused_s=paused_s)
    (d / "session.json").write_text(json.dumps(info))
    kit.write_synth(d, pitch, seconds)
    kit.write_vision(d, seconds)
    kit.write_music(d, song, seconds)
    kit.write_recorder(d, seconds)
    return song


def notes_csv(d):
    with open(d / "notes.csv", newline="") as f:
        return [(float(r["start"]), float(r["end"]), r["name"]) for r in csv.DictReader(f)]


def test_a_paused_session_scores_and_transcribes_like_one_never_paused(tmp_path):
    plain = tmp_path / "plain"
    song = kit.full_session(plain)
    build_reports(plain, kit.settings(), song)
    for name, meanwhile in (("silent", (60.0, 0.0)), ("noisy", (40.0, 0.9))):
        d = tmp_path / name
        paused_session(d, meanwhile)
        summary = build_reports(d, kit.settings(), song)
        assert summary.total == 10000, (name, summary.lines())
        score = json.loads((d / "score.json").read_text())
        assert all(n["hit_fraction"] == 1.0 for n in score["notes"]), name
        got, want = notes_csv(d), notes_csv(plain)
        assert len(got) == len(want) and all(g[2] == w[2] for g, w in zip(got, want)), name
        assert max(abs(g[0] - w[0]) + abs(g[1] - w[1]) for g, w in zip(got, want)) < 0.021, \
            "notes.csv is on song time"
        stats = json.loads((d / "stats.json").read_text())
        launcher = stats["processes"]["launcher"]
        assert launcher["pauses"] == 2 and abs(launcher["paused_s"] - 4.05) < 1e-9


def test_without_the_pauses_in_session_json_the_same_logs_score_lower(tmp_path):
    """The test above can fail: the pauses in session.json are what makes the paused session score."""
    song = paused_session(tmp_path, (40.0, 0.9))
    info = json.loads((tmp_path / "session.json").read_text())
    del info["pauses"]
    (tmp_path / "session.json").write_text(json.dumps(info))
    assert build_reports(tmp_path, kit.settings(), song).total < 8000
