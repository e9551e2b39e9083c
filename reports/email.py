"""The summary email: the score, ratings and timing in the body, the scorecard PDF (and the recording, when small
enough) attached.

It is always saved as summary.eml (as sent, or marked `X-Unsent: 1` so mail programs open it as a draft). A message
that could not be sent also waits in the outbox (reports/outbox.py) until `python main.py outbox send` gets it
through, so a report is never lost. Sending itself is reports/smtpsend.py; the password never reaches any text we
keep (`scrub`).
"""
from __future__ import annotations

import html
import math
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from game.lyrics import line_text
from reports.delaywords import delay_words
from reports import outbox as outbox_mod
from reports.smtpsend import BACKOFF_S, SendFailure, scrub, send as smtp_send  # noqa: F401 - scrub is used by build
from reports.stats import table_rows

MB = 1_000_000
SMTP_POLICY = policy.SMTP   # the bytes the server receives (CRLF lines): what a size limit counts


def compose(*, title: str, player: str, score: dict | None, stats: dict | None, warnings: list[str],
            pdf: Path | None, wav: Path | None = None, sender: str, to: tuple[str, ...] = (),
            attach_max_mb: float = 10.0) -> EmailMessage:
    """The session's email. performance.wav goes along only when the whole message stays under attach_max_mb
    (1 MB = 1,000,000 bytes as sent); otherwise the body says where it is."""
    headers = {"Subject": f"handtone: {title}: {_total(score)}", "From": sender or "handtone@localhost",
               "To": ", ".join(to), "Date": formatdate(localtime=True),
               "Message-ID": make_msgid(domain="handtone.local")}
    parts = dict(title=title, player=player, score=score, stats=stats, warnings=warnings, pdf=pdf, headers=headers)
    wav = Path(wav) if wav and Path(wav).is_file() else None
    limit = attach_max_mb * MB
    without = _message(**parts, wav=wav, wav_attached=False, limit_mb=attach_max_mb)
    if wav is None:
        return without
    encoded = math.ceil(wav.stat().st_size / 57) * 78          # base64: 76 characters + CRLF per 57 bytes
    if encoded > limit:        # the recording alone is over: no need to build the message to know
        return without
    msg = _message(**parts, wav=wav, wav_attached=True, limit_mb=attach_max_mb)
    return msg if len(msg.as_bytes(policy=SMTP_POLICY)) <= limit else without


def _total(score: dict | None) -> str:
    return f"{score.get('total')} points, {score.get('rating')}" if score else "no score"


def _message(*, title, player, score, stats, warnings, pdf, headers, wav, wav_attached, limit_mb) -> EmailMessage:
    msg = EmailMessage()
    for k, v in headers.items():
        if v:
            msg[k] = v
    headline = f"{player} played {title}: {_total(score)}."
    details = _details(score)
    lines = _line_ratings(score)
    rows = table_rows(stats) if stats else []
    pdf_ok = bool(pdf and Path(pdf).exists())
    files = ["The scorecard is attached (report.pdf)." if pdf_ok else "The scorecard PDF could not be made."]
    if wav is not None:
        size = wav.stat().st_size / MB
        files.append("The recording is attached (performance.wav)." if wav_attached else
                     f"The recording ({size:.1f} MB) is too large to attach (SMTP_ATTACH_MAX_MB is {limit_mb:g}): "
                     f"it is at {wav}")
    text = [headline] + details
    if lines:
        text += ["", "Line ratings:"] + [f"  line {n}: {rating} ({hit}){f' - {lyric}' if lyric else ''}"
                                         for n, rating, hit, lyric in lines]
    if rows:
        text += ["", "Timing (start-up s, CPU s, figures):"] + [f"  {p}: {s}, {c}; {f}" for p, s, c, f in rows]
    if warnings:
        text += ["", "Notes on this session:"] + [f"  - {w}" for w in warnings]
    text += [""] + files
    msg.set_content("\n".join(text) + "\n")
    msg.add_alternative(_html(headline, details, lines, rows, warnings, files), subtype="html")
    if pdf_ok:
        msg.add_attachment(Path(pdf).read_bytes(), maintype="application", subtype="pdf", filename="report.pdf")
    if wav is not None and wav_attached:
        msg.add_attachment(wav.read_bytes(), maintype="audio", subtype="wav", filename="performance.wav")
    return msg


def _details(score: dict | None) -> list[str]:
    if not score:
        return []
    out = [f"Difficulty {score.get('difficulty')} (within {score.get('tolerance')} semitones counts as a hit"
           f"{', octaves folded' if score.get('octave_fold') else ''})."]
    if score.get("notes_points") is not None and score.get("line_bonus") is not None:
        out.append(f"Notes {float(score['notes_points']):.0f} of 9000, line bonus {float(score['line_bonus']):.0f} "
                   "of 1000.")
    if score.get("longest_streak") is not None:
        out.append(f"Longest streak: {score['longest_streak']} notes hit in a row.")
    delay = score.get("delay") if isinstance(score.get("delay"), dict) else {}
    if delay.get("estimated_ms") is not None:
        out.append(f"Your delay: {delay_words(score)}.")
    return out


def _line_ratings(score: dict | None) -> list[tuple[int, str, str, str]]:
    """(line number from 1, rating, hit %, its lyrics) per sung line, from score["lines"] when it is there."""
    if not score or not isinstance(score.get("lines"), list):
        return []
    syllables: dict = {}
    for n in score.get("notes") or []:
        if isinstance(n, dict) and n.get("lyric"):
            syllables.setdefault(n.get("line"), []).append(str(n["lyric"]))
    lyrics = {line: line_text(s) for line, s in syllables.items()}
    out = []
    for i, rec in enumerate(score["lines"]):
        if not isinstance(rec, dict):
            continue
        line = rec.get("line", i)
        hit = rec.get("hit_fraction")
        words = " ".join(lyrics.get(line, "").split())
        out.append((int(line) + 1 if isinstance(line, int) else line, str(rec.get("rating") or "-"),
                    f"{float(hit) * 100:.0f}% hit" if hit is not None else "-",
                    words[:60] + ("..." if len(words) > 60 else "")))
    return out


def _html(headline: str, details: list[str], lines, rows, warnings: list[str], files: list[str]) -> str:
    e = html.escape
    table = "<table border='1' cellpadding='3' style='border-collapse:collapse'>"
    parts = [f"<html><body><h2>{e(headline)}</h2>"]
    parts += [f"<p>{e(d)}</p>" for d in details]
    if lines:
        parts.append(f"<h3>Line ratings</h3>{table}<tr><th>line</th><th>rating</th><th>hit</th><th>lyrics</th></tr>")
        parts += [f"<tr><td>{e(str(n))}</td><td>{e(r)}</td><td>{e(h)}</td><td>{e(w)}</td></tr>"
                  for n, r, h, w in lines]
        parts.append("</table>")
    if rows:
        parts.append(f"<h3>Timing</h3>{table}"
                     "<tr><th>process</th><th>start-up s</th><th>CPU s</th><th>figures</th></tr>")
        parts += [f"<tr><td>{e(p)}</td><td>{e(s)}</td><td>{e(c)}</td><td>{e(f)}</td></tr>" for p, s, c, f in rows]
        parts.append("</table>")
    if warnings:
        parts.append("<p>Notes on this session:</p><ul>" + "".join(f"<li>{e(w)}</li>" for w in warnings) + "</ul>")
    parts += [f"<p>{e(f)}</p>" for f in files]
    parts.append("</body></html>")
    return "\n".join(parts)


def deliver(msg: EmailMessage, smtp, eml_path: Path, *, outbox: Path, send: bool,
            backoff_s: float = BACKOFF_S) -> str:
    """Send when asked and SMTP is configured; always save eml_path; queue in outbox whatever was not sent.
    Returns the one line for the player."""
    eml = Path(eml_path)
    if not smtp.configured:
        _save_draft(msg, eml)
        return f"email not configured: saved {eml.name} (set SMTP_* in .env)"
    if not send:
        _save_draft(msg, eml)
        return f"email not sent: saved {eml.name} as a draft"
    try:
        result = smtp_send(msg, smtp, backoff_s=backoff_s)
    except SendFailure as f:
        _save_draft(msg, eml)
        try:
            queued = outbox_mod.queue(outbox, msg, to=smtp.to, reason=f.reason, attempts=f.attempts, draft=eml)
        except OSError as e:
            return (f"email failed ({f.reason}) and could not be queued ({type(e).__name__}: {e}): saved "
                    f"{eml.name}, send it from a mail program")
        return (f"email failed ({f.reason}): saved {eml.name}; queued in {queued.parent}, "
                f"send it later with `{outbox_mod.SEND_HINT}`")
    _write(msg, eml)
    line = f"emailed the scorecard to {', '.join(smtp.to)}"
    if result.refused:
        refused = "; ".join(f"{r}: {why}" for r, why in result.refused.items())
        queued = outbox_mod.queue(outbox, msg, to=list(result.refused), reason=f"refused: {refused}",
                                  attempts=result.attempts, draft=None)
        line = (f"emailed the scorecard, but the server refused {refused}: queued for them in {queued.parent}, "
                f"send it later with `{outbox_mod.SEND_HINT}`")
    return line


def _save_draft(msg: EmailMessage, eml: Path) -> None:
    """summary.eml marked X-Unsent (mail programs open it as a draft); the message itself stays as it will be sent."""
    draft = message_from_bytes(bytes(msg), policy=msg.policy)
    draft["X-Unsent"] = "1"
    _write(draft, eml)


def _write(msg: EmailMessage, eml: Path) -> None:
    eml.write_bytes(bytes(msg))
