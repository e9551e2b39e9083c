"""Handing one message to the SMTP server: timeouts, a few retries with backoff, and the failure in one scrubbed line.

Shared by the session's email, `outbox send` and `email-test`, so all three behave alike. A failure that another try
cannot fix (wrong password, a 5xx refusal, a certificate that does not verify) is not retried: the player would only
wait longer for the same answer. The password is only ever handed to smtplib; every error text we keep goes through
`scrub` first.
"""
from __future__ import annotations

import base64
import smtplib
import ssl
import sys
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

PLATFORM = sys.platform   # the advice for a certificate that does not verify depends on it
BACKOFF_S = 1.0   # wait before the first retry; doubled before each next one (1 s, 2 s, 4 s...)


@dataclass(eq=False)
class SendFailure(Exception):
    """Why a message was not sent, already scrubbed of the password."""
    reason: str
    permanent: bool = False        # another try would get the same answer
    connection: bool = False       # the server could not be reached at all (the next message will fail alike)
    attempts: int = 1

    def __str__(self) -> str:
        return self.reason


@dataclass
class SendResult:
    attempts: int
    refused: dict[str, str] = field(default_factory=dict)   # recipient -> the server's scrubbed answer


def send(msg: EmailMessage, smtp, to: list[str] | tuple[str, ...] | None = None, *,
         retries: int | None = None, backoff_s: float = BACKOFF_S) -> SendResult:
    """Send msg to `to` (default smtp.to): up to 1 + retries attempts, backoff_s * 2**i apart.
    Raises SendFailure when no attempt got it accepted; returns the recipients the server refused (if only some)."""
    recipients = [parseaddr(a)[1] or a for a in (to if to is not None else smtp.to)]
    retries = smtp.retries if retries is None else retries
    attempt = 0
    while True:
        attempt += 1
        try:
            refused = _send_once(msg, smtp, recipients)
        except Exception as e:  # noqa: BLE001 - every failure is classified and reported, scrubbed
            failure = _classify(e, smtp)
            failure.attempts = attempt
            if failure.permanent or attempt > retries:
                raise failure from None
            time.sleep(backoff_s * 2 ** (attempt - 1))
            continue
        return SendResult(attempt, {r: scrub(f"{code} {_text(resp)}", smtp.password, smtp.user)
                                    for r, (code, resp) in refused.items()})


def tls_context(smtp) -> ssl.SSLContext:
    """Certificates are verified as usual; SMTP_CAFILE trusts one CA instead of the system's (a self-signed server).
    Without it, OpenSSL's SSL_CERT_FILE environment variable is honoured too."""
    return ssl.create_default_context(cafile=smtp.cafile or None)


def _send_once(msg: EmailMessage, smtp, recipients: list[str]) -> dict:
    if smtp.security == "ssl":
        server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=tls_context(smtp))
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with server:
        if smtp.security == "starttls":
            server.starttls(context=tls_context(smtp))
        if smtp.user:
            server.login(smtp.user, smtp.password)
        return server.send_message(msg, from_addr=parseaddr(smtp.sender)[1] or smtp.sender, to_addrs=recipients)


def _classify(e: Exception, smtp) -> SendFailure:
    reason = scrub(_describe(e), smtp.password, smtp.user)[:300]
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return SendFailure(f"the server refused the login (check SMTP_USER and SMTP_PASSWORD): {reason}", True)
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return SendFailure(f"{reason} (check SMTP_SECURITY, and SMTP_USER for a server without login)", True)
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in e.recipients.values()]
        return SendFailure(reason, permanent=all(500 <= c < 600 for c in codes))
    if isinstance(e, smtplib.SMTPResponseException):
        return SendFailure(reason, permanent=500 <= e.smtp_code < 600)
    if isinstance(e, ssl.SSLCertVerificationError) and PLATFORM == "darwin":
        # python.org's macOS Python has no certificate store until its "Install Certificates.command" has run
        return SendFailure(f"{reason} (on macOS with python.org's Python, run 'Install Certificates.command' in its "
                           "Applications folder once; or set SMTP_CAFILE)", True)
    if isinstance(e, ssl.SSLError):   # a certificate that does not verify, or SMTP_SECURITY not what the port speaks
        return SendFailure(f"{reason} (check SMTP_SECURITY, SMTP_PORT and SMTP_CAFILE)", True)
    if isinstance(e, (OSError, smtplib.SMTPServerDisconnected)):
        return SendFailure(reason, connection=True)
    return SendFailure(reason)


def _describe(e: Exception) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        parts = [f"{r}: {code} {_text(resp)}" for r, (code, resp) in e.recipients.items()]
        return "SMTPRecipientsRefused: " + "; ".join(parts)
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{type(e).__name__}: {e.smtp_code} {_text(e.smtp_error)}"
    # smtplib reports a reply that never came as a disconnection "...: timed out"
    if isinstance(e, TimeoutError) or (isinstance(e, smtplib.SMTPServerDisconnected) and "timed out" in str(e)):
        return f"TimeoutError: the server did not answer within SMTP_TIMEOUT ({e or 'timed out'})"
    return f"{type(e).__name__}: {e}"


def _text(resp) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


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
