"""After a session: score -> notes -> mix -> stats -> pdf -> email, from whatever the children left.

Every step is guarded: a step that fails is noted in the warnings (shown to the player and printed in the report)
and the next still runs, so a crashed child or a broken file never costs the player their scorecard.
Rebuild a session's reports later with `python -m reports.build SESSION_DIR`.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from game.child import write_json
from reports import email as mail
from reports.mix import mix
from reports.notes import played_notes, write_notes
from reports.pdf import write_pdf
from game.scoring import score as score_track
from game.settings import data_path
from reports.sessiondata import SessionData
from reports.stats import build_stats
from game.logfiles import SYNTH_COLUMNS
from reports.track import max_gap, on_song_clock, played_track


SYNTH_NO_STATS = "the synth process left no stats (killed, or it never started)"  # as reports.stats says it


@dataclass
class ReportSummary:
    total: int | None                  # None when there was no song to score against
    rating: str
    files: dict[str, Path] = field(default_factory=dict)   # "score.json" -> path, ... (only files written)
    email_status: str = ""
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the launcher prints for the player."""
        out = [f"score: {self.total} ({self.rating})" if self.total is not None else "score: none"]
        if self.files:
            folder = next(iter(self.files.values())).parent
            out.append(f"reports in {folder}: {', '.join(self.files)}")
        if self.email_status:
            out.append(self.email_status)
        out += [f"note: {w}" for w in self.warnings]
        return out


def build_reports(session_dir: Path, settings, song, send_email: bool = True,
                  timings: dict | None = None, history: bool = True) -> ReportSummary:
    """Write score.json, notes.csv, performance.wav, stats.json, report.pdf, summary.eml into session_dir, and
    record the session in the history. ``send_email=False`` (python main.py report) saves summary.eml as a draft.
    ``timings``, when given, gets each step's seconds (bench report). ``history=False`` (python main.py analyze:
    a video analysed is not a session played) leaves the history as it is."""
    d = Path(session_dir)
    data = SessionData(d)
    files: dict[str, Path] = {}
    session = data.json("session.json", "the launcher did not record the session")
    state: dict = {"score": None, "stats": None, "track": None, "pdf": None, "status": "", "history": None}
    song = song if song is not None else _song_from(session, data)
    transpose = int(getattr(settings, "transpose", 0) or 0)
    player = str(settings.player)   # a live session's own; `report` puts session.json's in unless --player is given
    # what the children told the player during the session (no speaker, no microphone...): already shown live,
    # so kept out of the summary's warnings, but the scorecard and the email keep them with the warnings
    raw_notices = session.get("notices")
    notices = [str(n) for n in raw_notices if str(n).strip()] if isinstance(raw_notices, list) else []

    def step(name: str, fn) -> None:
        started = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one broken step must not cost the others
            data.warn(f"{name} failed: {type(e).__name__}: {e}")
        if timings is not None:
            timings[name] = time.perf_counter() - started

    def do_score():
        synth = data.csv("synth.csv", SYNTH_COLUMNS, "nothing the synth played was logged; scored as silence")
        synth = on_song_clock(synth, data.pauses())   # paused moments neither hit nor miss
        t_dac = synth["t_dac"]
        last = float(np.nanmax(t_dac)) if np.isfinite(t_dac).any() else 0.0
        end = max(song.duration if song else 0.0, last)
        synth_stats = data.json("stats-synth.json", SYNTH_NO_STATS)
        state["track"] = played_track(synth, end, gap=max_gap(synth_stats, t_dac))
        played = session.get("duration_s")
        if song and isinstance(played, (int, float)) and played < song.duration - 0.05:
            data.warn(f"the session stopped at {played:.1f} s of the song's {song.duration:.1f} s "
                      "(notes after that count as missed)")
        if song is None:
            return
        result = score_track(state["track"], song, tolerance=settings.tolerance, transpose=transpose,
                             difficulty=settings.difficulty, octave_fold=settings.octave_fold, delay=settings.delay)
        result["player"] = player
        state["score"] = result
        files["score.json"] = write_json(d / "score.json", result)

    def do_notes():
        track = state["track"] if state["track"] is not None else played_track({}, 0.0)
        files["notes.csv"] = write_notes(d / "notes.csv", played_notes(track))

    def do_mix():
        out = mix(data, d / "performance.wav")
        if out:
            files["performance.wav"] = out

    def do_stats():
        state["stats"] = build_stats(data)
        files["stats.json"] = write_json(d / "stats.json", state["stats"])
        for problem in (underflow_warning(state["stats"]), silent_microphone_warning(state["stats"])):
            if problem:
                data.warn(problem)

    def do_history():
        # this session's row (updated when the reports are rebuilt), the song's personal best before it and its
        # recent sessions, for the scorecard's second page
        from reports import history
        state["history"] = history.record_session(settings, d, session, state["score"], state["stats"],
                                                  song_s=song.duration if song else None)

    def do_pdf():
        state["pdf"] = write_pdf(d / "report.pdf", song=song, player=player, started=_date(session),
                                 score=state["score"], stats=state["stats"], track=state["track"],
                                 warnings=notices + list(data.warnings), transpose=transpose,
                                 history=state["history"])
        files["report.pdf"] = state["pdf"]

    def do_email():
        msg = mail.compose(title=song.title if song else str(session.get("song") or "handtone session"),
                           player=player, score=state["score"], stats=state["stats"],
                           warnings=notices + list(data.warnings), pdf=state["pdf"],
                           wav=d / "performance.wav" if (d / "performance.wav").exists() else None,
                           sender=settings.smtp.sender, to=settings.smtp.to,
                           attach_max_mb=settings.smtp.attach_max_mb)
        state["status"] = mail.deliver(msg, settings.smtp, d / "summary.eml", outbox=data_path(settings) / "outbox",
                                       send=send_email)
        if (d / "summary.eml").exists():
            files["summary.eml"] = d / "summary.eml"

    for name, fn in (("score", do_score), ("notes", do_notes), ("mix", do_mix), ("stats", do_stats),
                     ("history", do_history), ("pdf", do_pdf), ("email", do_email)):
        if name != "history" or history:
            step(name, fn)
    if not state["status"]:
        state["status"] = "email not sent: see the notes"
    secret = settings.smtp.password
    warnings = [mail.scrub(w, secret, settings.smtp.user) for w in data.warnings]
    sc = state["score"]
    return ReportSummary(sc["total"] if sc else None, sc["rating"] if sc else "no score", files,
                         mail.scrub(state["status"], secret, settings.smtp.user), warnings)


def underflow_warning(stats: dict) -> str | None:
    """One line for the player when a speaker stream ran dry (clicks and gaps they heard), and what to do."""
    procs = stats.get("processes", {}) if isinstance(stats, dict) else {}
    counts = {}
    for name, label in (("synth", "hand tone"), ("music", "backing")):
        p = procs.get(name) or {}
        if p.get("mode") != "device" and not p.get("device_lost"):
            continue   # no speaker: a late clock thread is not something the player heard
        n = max(p.get("underflows_flag") or 0, p.get("underflows_clock") or 0)
        if n:
            counts[label] = n
    if not counts:
        return None
    what = ", ".join(f"{label} {n}" for label, n in counts.items())
    return (f"the speaker ran dry ({what} underflows: clicks or gaps): try --latency high, a larger --block, "
            "or fewer programs running")


#: recorded seconds of nothing but zeros that say the microphone gave us no sound at all
SILENT_AFTER_S = 2.0


def silent_microphone_warning(stats: dict, platform: str = sys.platform) -> str | None:
    """One line when the microphone delivered only digital silence (every sample 0) for a whole session: a room is
    never that quiet, so the input is muted or the system refused it to us (macOS and Windows ask per program)."""
    p = (stats.get("processes", {}) if isinstance(stats, dict) else {}).get("recorder") or {}
    if p.get("peak") != 0 or not p.get("recording") or (p.get("seconds") or 0) < SILENT_AFTER_S:
        return None
    where = {"darwin": "allow the microphone for your terminal in System Settings > Privacy & Security > "
                       "Microphone, then play again",
             "win32": "allow desktop apps to use the microphone in Settings > Privacy & security > Microphone, "
                      "then play again"}.get(platform, "check that the input is not muted (or choose another with "
                                                        "--input-device; `python main.py devices` lists them)")
    return f"the microphone recorded only silence ({p.get('device') or 'default input'}): {where}"


def _song_from(session: dict, data: SessionData):
    """The notes the session was played to: its song file with the session's own voice, track and tempo."""
    from game.song import SongError, load, with_tempo
    for ref in (session.get("song_path"), session.get("song")):
        if ref:
            try:
                track = session.get("track")
                song = load(str(ref), voice=int(session.get("voice") or 1),
                            track=None if track is None else str(track))
                return with_tempo(song, float(session.get("tempo") or 1.0))
            except (SongError, OSError, ValueError, TypeError) as e:
                data.warn(f"song {ref!r} could not be loaded: {e}")
    data.warn("no song to score against: score.json not written")
    return None


def _date(session: dict) -> str:
    started = session.get("started")
    try:
        return datetime.fromisoformat(str(started)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(started) if started else "date unknown"


# what a rebuilt report takes from the session itself unless the command line says otherwise
SESSION_FIELDS = ("difficulty", "player", "octave_fold", "delay", "transpose")


class NotASession(Exception):
    """A folder that cannot be rebuilt; the message is the one line for the player."""


def session_info(session_dir: Path) -> dict:
    """session.json of a session folder, or NotASession saying what is wrong."""
    import json
    d = Path(session_dir)
    if not d.is_dir():
        raise NotASession(f"no session folder {d}: give the path of a folder under sessions/")
    path = d / "session.json"
    if not path.is_file():
        raise NotASession(f"{d} is not a session folder (no session.json): give a folder under sessions/")
    try:
        session = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise NotASession(f"{path} cannot be read ({e}): the session cannot be rebuilt") from None
    if not isinstance(session, dict):
        raise NotASession(f"{path} is not a session record: the session cannot be rebuilt")
    return session


def with_session(settings, session: dict, given=()):
    """settings with session.json's difficulty, player, octave folding, delay and transpose, except the fields
    in ``given`` (set on the command line), so a rebuilt report scores the session as it was played."""
    from game import settings as gs
    changes = {k: session[k] for k in SESSION_FIELDS if k not in given and session.get(k) is not None}
    if "transpose" in changes:
        changes["transpose"] = int(changes["transpose"])
    if "delay" in changes:
        changes["delay"] = str(changes["delay"])
    out = settings.replace(**changes)
    gs.validate(out)
    return out


def rebuild(session_dir: Path, settings=None, given=(), timings: dict | None = None) -> ReportSummary:
    """Rebuild a finished session's reports from its folder, scored as session.json says it was played (see
    with_session) unless ``given`` names fields the caller's settings decide. The email is only a draft
    (summary.eml): the player had theirs when the session ended."""
    from game import settings as gs
    d = Path(session_dir)
    session = session_info(d)
    settings = with_session(settings if settings is not None else gs.build({}), session, given)
    return build_reports(d, settings, None, send_email=False, timings=timings)


def _scoring_line(session_dir: Path) -> str | None:
    """How the rebuilt score was judged: difficulty, folding and the player's delay."""
    import json
    try:
        sc = json.loads((Path(session_dir) / "score.json").read_text(encoding="utf-8"))
        delay = sc.get("delay") or {}
        est = delay.get("estimated_ms")
        return (f"judged at {sc['difficulty']} (within {sc['tolerance']} semitones), octave folding "
                f"{'on' if sc.get('octave_fold') else 'off'}; your delay: "
                f"{'not found' if est is None else f'about {est} ms'}, applied {delay.get('applied_ms', 0)} ms"
                f"{' (auto)' if delay.get('mode') == 'auto' else ''}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def run_command(args, settings) -> int:
    """python main.py report SESSION_DIR: score, notes, stats, scorecard and an email draft again from the logs.
    Flags left out (None in args) take the session's own values."""
    from game.settings import SettingsError
    given = {k for k in SESSION_FIELDS if getattr(args, k, None) is not None}
    try:
        summary = rebuild(Path(args.session_dir), settings, given)
    except (NotASession, SettingsError) as e:
        print(f"handtone: error: {e}", file=sys.stderr)
        return 2
    for line in summary.lines()[:1] + ([_scoring_line(args.session_dir)] if summary.total is not None else []) \
            + summary.lines()[1:]:
        if line:
            print(line)
    return 0 if summary.total is not None else 1


def main(argv: list[str] | None = None) -> int:
    """python -m reports.build SESSION_DIR: the report command with the session's own settings."""
    from game.settings import SettingsError, build
    ap = argparse.ArgumentParser(prog="python -m reports.build", description="Rebuild a session's reports.")
    ap.add_argument("session_dir", type=Path)
    args = ap.parse_args(argv)
    try:
        settings = build({})
    except SettingsError as e:
        print(f"handtone: error: {e}", file=sys.stderr)
        return 2
    return run_command(argparse.Namespace(session_dir=args.session_dir, **{k: None for k in SESSION_FIELDS}),
                       settings)


if __name__ == "__main__":
    sys.exit(main())
