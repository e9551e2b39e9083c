"""The summary email: the score and timing in the body, the scorecard PDF attached.

It is always saved as summary.eml (as sent, or marked `X-Unsent: 1` so mail programs open it as a draft to send when
it could not be sent). The SMTP password is only ever handed to smtplib: every error text we keep is scrubbed of it
(and of the encodings AUTH would carry it in) first.
"""
from __future__ import annotations

import base64
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from reports.stats import table_rows


def compose(*, title: str, player: str, score: dict | None, stats: dict | None, warnings: list[str],
            pdf: Path | None, sender: str, to: tuple[str, ...] = ()) -> EmailMessage:
    msg = EmailMessage()
    total = f"{score['total']} points, {score['rating']}" if score else "no score"
    msg["Subject"] = f"handtone: {title}: {total}"
    msg["From"] = sender or "handtone@localhost"
    if to:
        msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="handtone.local")
    lines = [f"{player} played {title}: {total}."]
    if score:
        delay = (score.get("player_delay") or {}).get("delay_ms")
        lines += [f"Difficulty {score.get('difficulty')} (within {score.get('tolerance')} semitones counts as a hit).",
                  f"Notes {score['notes_points']:.0f} of 9000, line bonus {score['line_bonus']:.0f} of 1000.",
                  f"Estimated player delay: {'-' if delay is None else f'{delay:+d} ms'} (not applied)."]
    rows = table_rows(stats) if stats else []
    if rows:
        lines += ["", "Timing (start-up s, CPU s, figures):"]
        lines += [f"  {p}: {s}, {c}; {f}" for p, s, c, f in rows]
    if warnings:
        lines += ["", "Notes on this session:"] + [f"  - {w}" for w in warnings]
    lines += ["", "The scorecard is attached (report.pdf)." if pdf else "The scorecard PDF could not be made."]
    msg.set_content("\n".join(lines) + "\n")
    msg.add_alternative(_html(lines[0], lines[1:4] if score else [], rows, warnings), subtype="html")
    if pdf and Path(pdf).exists():
        msg.add_attachment(Path(pdf).read_bytes(), maintype="application", subtype="pdf", filename="report.pdf")
    return msg


def _html(headline: str, details: list[str], rows, warnings: list[str]) -> str:
    e = html.escape
    parts = [f"<html><body><h2>{e(headline)}</h2>"]
    parts += [f"<p>{e(d)}</p>" for d in details]
    if rows:
        parts.append("<table border='1' cellpadding='3' style='border-collapse:collapse'>"
                     "<tr><th>process</th><th>start-up s</th><th>CPU s</th><th>figures</th></tr>")
        parts += [f"<tr><td>{e(p)}</td><td>{e(s)}</td><td>{e(c)}</td><td>{e(f)}</td></tr>" for p, s, c, f in rows]
        parts.append("</table>")
    if warnings:
        parts.append("<p>Notes on this session:</p><ul>" + "".join(f"<li>{e(w)}</li>" for w in warnings) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def deliver(msg: EmailMessage, smtp, eml: Path) -> str:
    """Send when SMTP is configured; always save eml. Returns the one-line status for the player."""
    eml = Path(eml)
    if not smtp.configured:
        msg["X-Unsent"] = "1"
        _save(msg, eml)
        return f"email not configured: saved {eml.name} (set SMTP_* in .env)"
    try:
        _send(msg, smtp)
    except Exception as e:  # noqa: BLE001 - any failure queues the mail; the reason is shown, scrubbed
        reason = scrub(f"{type(e).__name__}: {e}", smtp.password, smtp.user)[:200]
        msg["X-Unsent"] = "1"
        _save(msg, eml)
        return f"email failed ({reason}): saved {eml.name}, send it from a mail program"
    _save(msg, eml)
    return f"emailed the scorecard to {', '.join(smtp.to)}"


def _send(msg: EmailMessage, smtp) -> None:
    context = ssl.create_default_context()
    if smtp.security == "ssl":
        server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with server:
        if smtp.security == "starttls":
            server.starttls(context=context)
        if smtp.user:
            server.login(smtp.user, smtp.password)
        server.send_message(msg, from_addr=smtp.sender, to_addrs=list(smtp.to))


def _save(msg: EmailMessage, eml: Path) -> None:
    eml.write_bytes(bytes(msg))


def scrub(text: str, password: str, user: str = "") -> str:
    """text with the password (plain and as AUTH PLAIN/LOGIN would encode it) replaced by ***."""
    if not password:
        return text
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    for secret in sorted({password, b64(password), b64(f"\0{user}\0{password}"), b64(f"{user}\0{password}"),
                          repr(password)[1:-1]}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text
