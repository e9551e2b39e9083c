"""The outbox: emails that could not be sent wait here until `python main.py outbox send` gets them through.

One message is one `<queued>-<id>.eml` (exactly the bytes to send; named by the time queued, to the microsecond,
so they go in order) and a small `.json` beside it saying to whom, when, how many tries and the last reason
(scrubbed: never the password). Both are written atomically (a temporary file renamed over), so a crash mid-write
leaves the old file or the new one, never half a message. The same message queued again replaces its own entry
instead of adding a copy.

Also `python main.py email-test`: one short message, one try, the reason in one line when it does not go.
"""
from __future__ import annotations

import email
import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from game.atomicfile import write_atomic
from reports.smtpsend import BACKOFF_S, SendFailure, scrub, send

SEND_HINT = "python main.py outbox send"
NOT_CONFIGURED = ("email is not configured: set SMTP_HOST and SMTP_TO (and SMTP_USER and SMTP_PASSWORD if the "
                  "server needs a login) in .env or the environment; see .env.example")


@dataclass
class Entry:
    eml: Path
    meta: dict

    @property
    def sidecar(self) -> Path:
        return self.eml.with_suffix(".json")

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.eml.read_bytes(), policy=policy.default)


def queue(outbox: Path, msg: EmailMessage, *, to, reason: str, attempts: int, draft: Path | None = None) -> Path:
    """Put msg in the outbox (or update its entry) with why it is there; returns the .eml's path."""
    outbox = Path(outbox)
    outbox.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(str(msg.get("Message-ID") or bytes(msg)).encode()).hexdigest()[:12]
    existing = sorted(outbox.glob(f"*-{key}.eml"))
    eml = existing[0] if existing else outbox / f"{datetime.now().strftime('%Y%m%dT%H%M%S%f')}-{key}.eml"
    old = _meta(eml) if existing else {}
    now = datetime.now().isoformat(timespec="seconds")
    meta = {"queued": old.get("queued", now), "last_try": now, "subject": str(msg.get("Subject") or ""),
            "to": list(to), "attempts": int(old.get("attempts", 0)) + attempts, "reason": reason,
            "draft": str(draft) if draft else old.get("draft")}
    write_atomic(eml.with_suffix(".json"), json.dumps(meta, indent=1, ensure_ascii=False).encode(), fsync=True,
                 mode=0o600)
    write_atomic(eml, bytes(msg), fsync=True, mode=0o600)
    return eml


def entries(outbox: Path) -> list[Entry]:
    """The queued messages, oldest first."""
    outbox = Path(outbox)
    if not outbox.is_dir():
        return []
    return [Entry(p, _meta(p)) for p in sorted(outbox.glob("*.eml")) if not p.name.startswith(".")]


def send_queued(outbox: Path, smtp, *, backoff_s: float = BACKOFF_S) -> tuple[list[Entry], list[Entry]]:
    """Try every queued message with the usual send path; remove those sent, keep the others with the new reason.
    Once the server cannot be reached at all, the rest are kept untried (each would wait out the same timeouts)."""
    sent, kept = [], []
    unreachable = ""
    for entry in entries(outbox):
        msg = entry.message()
        to = entry.meta.get("to") or [a for _, a in getaddresses(msg.get_all("To", []))] or list(smtp.to)
        if unreachable:
            queue(outbox, msg, to=to, reason=f"not tried: {unreachable}", attempts=0)
            kept.append(Entry(entry.eml, _meta(entry.eml)))
            continue
        try:
            result = send(msg, smtp, to, backoff_s=backoff_s)
        except SendFailure as f:
            queue(outbox, msg, to=to, reason=f.reason, attempts=f.attempts)
            kept.append(Entry(entry.eml, _meta(entry.eml)))
            if f.connection:
                unreachable = f.reason
            continue
        if result.refused:
            queue(outbox, msg, to=list(result.refused), attempts=result.attempts,
                  reason="refused: " + "; ".join(f"{r}: {why}" for r, why in result.refused.items()))
            kept.append(Entry(entry.eml, _meta(entry.eml)))
        else:
            entry.sidecar.unlink(missing_ok=True)
            entry.eml.unlink(missing_ok=True)
            sent.append(entry)
            _mark_draft_sent(entry.meta.get("draft"), msg)
    return sent, kept


def _mark_draft_sent(draft, msg: EmailMessage) -> None:
    """The session's summary.eml said X-Unsent; now that its message went out, it is saved as sent."""
    if not draft or not Path(draft).is_file():
        return
    try:
        saved = email.message_from_bytes(Path(draft).read_bytes(), policy=policy.default)
        if saved["Message-ID"] == msg["Message-ID"] and saved["X-Unsent"]:
            del saved["X-Unsent"]
            write_atomic(Path(draft), bytes(saved), fsync=True, mode=0o600)
    except OSError:
        pass   # a session folder moved or read-only: the outbox's own copy was what mattered


def _meta(eml: Path) -> dict:
    try:
        meta = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def run_command(args, settings) -> int:
    """`outbox [list|send]` and `email-test`."""
    from game.settings import data_path
    if args.command == "email-test":
        return email_test(settings)
    outbox = data_path(settings) / "outbox"
    if getattr(args, "outbox_command", "list") == "send":
        return _send_command(outbox, settings.smtp)
    return _list_command(outbox)


def _list_command(outbox: Path) -> int:
    queued = entries(outbox)
    if not queued:
        print(f"the outbox is empty ({outbox})")
        return 0
    print(f"{len(queued)} email{'s' if len(queued) != 1 else ''} waiting in {outbox} "
          f"(`{SEND_HINT}` sends them):")
    for e in queued:
        m = e.meta
        print(f"  {e.eml.name}: {m.get('subject') or '(no subject)'}; to {', '.join(m.get('to') or []) or '?'}; "
              f"queued {m.get('queued', '?')}, last tried {m.get('last_try', '?')} ({m.get('attempts', '?')} "
              f"tries): {m.get('reason', 'reason unknown')}")
    return 0


def _send_command(outbox: Path, smtp) -> int:
    queued = entries(outbox)
    if not queued:
        print(f"the outbox is empty ({outbox}): nothing to send")
        return 0
    if not smtp.configured:
        print(f"handtone: error: {len(queued)} email(s) wait in {outbox}, but {NOT_CONFIGURED}", file=sys.stderr)
        return 2
    sent, kept = send_queued(outbox, smtp)
    for e in sent:
        print(f"sent {e.meta.get('subject') or e.eml.name} to {', '.join(e.meta.get('to') or smtp.to)}")
    for e in kept:
        print(f"not sent, kept in {e.eml}: {scrub(e.meta.get('reason', ''), smtp.password, smtp.user)}")
    if kept:
        print(f"{len(kept)} email(s) still waiting: fix what is said above, then run `{SEND_HINT}` again")
    return 1 if kept else 0


def email_test(settings) -> int:
    smtp = settings.smtp
    if not smtp.configured:
        print(f"handtone: error: {NOT_CONFIGURED}", file=sys.stderr)
        return 2
    msg = EmailMessage()
    msg["Subject"] = "handtone: email test"
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(smtp.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="handtone.local")
    msg.set_content(f"This is a test message from handtone ({smtp}).\nScorecards will arrive like this after each "
                    "session.\n")
    try:
        send(msg, smtp, retries=0)   # a test answers at once: one try, no backoff
    except SendFailure as f:
        print(f"handtone: error: email test failed via {smtp}: {f.reason}", file=sys.stderr)
        return 1
    print(f"test email sent to {', '.join(smtp.to)} via {smtp}")
    return 0
