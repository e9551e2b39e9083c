"""`python main.py report SESSION_DIR`: a real session's score, notes and stats rebuilt from its logs, judged with the
session's own settings unless the command line gives others."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import run_app


def _report(folder: Path, *flags, env) -> tuple[int, str, str, dict]:
    proc = run_app("report", folder, *flags, env=env, timeout=180)
    score = json.loads((folder / "score.json").read_text()) if (folder / "score.json").exists() else {}
    return proc.returncode, proc.stdout, proc.stderr, score


def test_report_rebuilds_a_real_session_with_its_own_or_the_given_settings(no_audio_env, tmp_path):
    env = no_audio_env | {"HANDTONE_DATA_DIR": str(tmp_path / "data")}
    env.pop("HANDTONE_DIFFICULTY", None)
    proc = run_app("demo", "--no-window", "--duration", "6", "--out", tmp_path / "out", "--player", "Zoë",
                   "--difficulty", "medium", env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [folder] = [d for d in (tmp_path / "out").iterdir() if d.is_dir()]
    for name in ("score.json", "notes.csv", "stats.json"):
        (folder / name).unlink()

    code, out, err, easy = _report(folder, "--difficulty", "easy", env=env)
    assert code == 0, out + err
    assert f"score: {easy['total']} ({easy['rating']})" in out and str(folder) in out
    assert easy["difficulty"] == "easy" and easy["tolerance"] == 2.0
    assert easy["player"] == "Zoë", "the player comes from session.json"
    assert easy["total"] > 0, "the demo hand plays the melody's first notes"
    assert (folder / "stats.json").is_file()
    with open(folder / "notes.csv", newline="", encoding="utf-8") as f:
        assert list(next(csv.reader(f))) == ["start", "end", "name", "midi", "hz"]

    code, out, err, hard = _report(folder, "--difficulty", "hard", env=env)
    assert code == 0, out + err
    assert hard["difficulty"] == "hard" and hard["tolerance"] == 0.5
    assert hard["total"] < easy["total"], "a tighter tolerance cannot hit more"
    pairs = [(h["hit_fraction"], e["hit_fraction"]) for h, e in zip(hard["notes"], easy["notes"])]
    assert all(h <= e for h, e in pairs) and any(h < e for h, e in pairs)

    # no flags: the session's own difficulty, folding and delay
    code, out, err, own = _report(folder, env=env)
    assert code == 0, out + err
    assert own["difficulty"] == "medium" and own["octave_fold"] is False
    assert own["delay"]["mode"] == "fixed" and own["delay"]["applied_ms"] == 0
    assert isinstance(own["delay"]["estimated_ms"], int) and abs(own["delay"]["estimated_ms"]) <= 500
    assert easy["total"] >= own["total"] >= hard["total"]

    code, out, err, auto = _report(folder, "--delay", "auto", "--octave-fold", env=env)
    assert code == 0, out + err
    assert auto["octave_fold"] is True and auto["delay"]["mode"] == "auto"
    assert auto["delay"]["applied_ms"] == auto["delay"]["estimated_ms"]
    assert "(auto)" in out

    code, out, err, named = _report(folder, "--player", "Ana", env=env)
    assert code == 0 and named["player"] == "Ana", out + err

    code, out, err, late = _report(folder, "--delay", "120", env=env)
    assert code == 0 and late["delay"] | {"estimated_ms": None} == {
        "estimated_ms": None, "applied_ms": 120, "mode": "fixed",
        "hit_share_at_estimate": own["delay"]["hit_share_at_estimate"],
        "hit_share_at_zero": own["delay"]["hit_share_at_zero"]}


def test_report_on_a_missing_or_non_session_folder_says_so_in_one_line(tmp_path):
    proc = run_app("report", tmp_path / "nope", "--data-dir", tmp_path / "data", timeout=60)
    assert proc.returncode == 2 and "no session folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    proc = run_app("report", tmp_path, "--data-dir", tmp_path / "data", timeout=60)
    assert proc.returncode == 2 and "not a session folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "score.json").exists()


def test_report_refuses_a_bad_delay_before_touching_the_session(tmp_path):
    (tmp_path / "session.json").write_text(json.dumps({"song": "twinkle", "difficulty": "medium"}))
    proc = run_app("report", tmp_path, "--delay", "soon", "--data-dir", tmp_path / "data", timeout=60)
    assert proc.returncode == 2 and "delay must be auto or milliseconds" in proc.stderr
    assert not (tmp_path / "score.json").exists()
