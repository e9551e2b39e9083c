"""deliver() against real SMTP servers on 127.0.0.1: STARTTLS + AUTH, implicit TLS, a refused connection, a wrong
password, 5xx refusals, a server that hangs. Each time nothing is lost (sent, or queued in the outbox and sent later by
`python main.py outbox send` once the server works) and the password appears in no output or file."""
from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest

from game.settings import SmtpSettings
from reports import outbox
from reports.email import compose, deliver
from standins import HangingServer, SmtpServer, assert_secret_nowhere, free_port, make_cert

ROOT = Path(__file__).resolve().parents[2]
USER = "zoe"
SECRET = "pw-Zx9!handtone-SECRET-7731"      # distinctive: found by a byte search if it leaks anywhere
FAST = 0.05                                 # backoff base for the tests (the real one is 1 s)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def servers():
    started = []

    def start(server):
        started.append(server)
        return server.start()

    yield start
    for s in started:
        s.stop()


def _smtp(port, security="starttls", cafile="", password=SECRET, retries=2, timeout=5.0, **kw) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security=security, user=USER, password=password,
                        sender="game@handtone.test", to=kw.pop("to", ("zoe@example.org",)), timeout=timeout,
                        retries=retries, cafile=str(cafile), **kw)


def _message(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 scorecard bytes\n")
    return compose(title="Twinkle", player="Zoë", score={"total": 9100, "rating": "Superstar"}, stats=None,
                   warnings=[], pdf=pdf, wav=None, sender="game@handtone.test",
                   to=("zoe@example.org", "coach@example.org"), attach_max_mb=10)


def _session(tmp_path):
    d = tmp_path / "session"
    d.mkdir()
    return d


def _outbox_send(data_dir: Path, smtp: SmtpSettings, password: str = SECRET) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HANDTONE_ENV_FILE": "/nonexistent",
           "HANDTONE_DATA_DIR": str(data_dir), "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port),
           "SMTP_SECURITY": smtp.security, "SMTP_USER": USER, "SMTP_PASSWORD": password,
           "SMTP_FROM": "game@handtone.test", "SMTP_TO": "zoe@example.org", "SMTP_TIMEOUT": "5",
           "SMTP_RETRIES": "0", "SMTP_CAFILE": smtp.cafile}
    return subprocess.run([sys.executable, "main.py", "outbox", "send"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def _queued(data_dir: Path) -> list[outbox.Entry]:
    return outbox.entries(data_dir / "outbox")


def _check_queued_then_sent(tmp_path, session, status, server, smtp, capsys, msg):
    """The message waits in the outbox, the player is told where and how to send it; once the server works,
    `python main.py outbox send` delivers it and empties the outbox; the password is nowhere."""
    data = tmp_path / "data"
    assert f"queued in {data / 'outbox'}" in status and "python main.py outbox send" in status
    [entry] = _queued(data)
    assert entry.message()["Message-ID"] == msg["Message-ID"] and entry.meta["to"] == ["zoe@example.org"]
    assert entry.meta["reason"] and entry.meta["attempts"] >= 1
    draft = email.message_from_bytes((session / "summary.eml").read_bytes(), policy=policy.default)
    assert draft["X-Unsent"] == "1" and draft["Message-ID"] == msg["Message-ID"]
    assert not [p for p in (data / "outbox").iterdir() if p.name.startswith(".")]   # no half-written files left
    listed = subprocess.run([sys.executable, "main.py", "outbox", "list", "--data-dir", str(data)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "HANDTONE_ENV_FILE": "/nonexistent"})
    assert listed.returncode == 0 and entry.eml.name in listed.stdout and "1 email waiting" in listed.stdout
    out = capsys.readouterr()
    proc = _outbox_send(data, smtp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sent handtone: Twinkle" in proc.stdout
    assert _queued(data) == [] and not list((data / "outbox").iterdir())
    sent = [m for m in server.messages if msg["Message-ID"].encode() in m[2]]
    assert len(sent) == 1 and sent[0][1] == ["zoe@example.org"]
    saved = email.message_from_bytes((session / "summary.eml").read_bytes(), policy=policy.default)
    assert saved["X-Unsent"] is None        # the session's copy now says it went
    assert_secret_nowhere(SECRET, USER, folders=[session, data],
                          texts=[status, out.out, out.err, proc.stdout, proc.stderr, listed.stdout, listed.stderr])


def test_starttls_with_login_sends(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET))
    session, msg = _session(tmp_path), _message(tmp_path)
    smtp = _smtp(server.port, "starttls", cafile=cert[0], to=("zoe@example.org", "coach@example.org"))
    status = deliver(msg, smtp, session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True)
    assert status == "emailed the scorecard to zoe@example.org, coach@example.org"
    assert server.logins == 1 and len(server.messages) == 1
    mail_from, rcpts, raw = server.messages[0]
    assert mail_from == "game@handtone.test" and rcpts == ["zoe@example.org", "coach@example.org"]
    got = email.message_from_bytes(raw, policy=policy.default)
    assert [p.get_filename() for p in got.iter_attachments()] == ["report.pdf"]
    assert email.message_from_bytes((session / "summary.eml").read_bytes())["X-Unsent"] is None
    assert not (tmp_path / "data" / "outbox").exists()
    out = capsys.readouterr()
    assert_secret_nowhere(SECRET, USER, folders=[tmp_path], texts=[status, out.out, out.err])


def test_implicit_tls_sends(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="ssl", cert=cert, user=USER, password=SECRET))
    session, msg = _session(tmp_path), _message(tmp_path)
    status = deliver(msg, _smtp(server.port, "ssl", cafile=cert[0]), session / "summary.eml",
                     outbox=tmp_path / "data" / "outbox", send=True)
    assert status == "emailed the scorecard to zoe@example.org"
    assert server.logins == 1 and len(server.messages) == 1
    out = capsys.readouterr()
    assert_secret_nowhere(SECRET, USER, folders=[tmp_path], texts=[status, out.out, out.err])


def test_an_untrusted_certificate_is_refused_not_retried(tmp_path, cert, servers, capsys):
    """Certificates are verified as usual: without SMTP_CAFILE the self-signed server is not trusted (and nothing
    is sent to it); the message is queued and goes once the CA is given."""
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET))
    session, msg = _session(tmp_path), _message(tmp_path)
    status = deliver(msg, _smtp(server.port, "starttls", cafile="", retries=3), session / "summary.eml",
                     outbox=tmp_path / "data" / "outbox", send=True, backoff_s=FAST)
    assert "CERTIFICATE_VERIFY_FAILED" in status and "SMTP_CAFILE" in status
    assert _queued(tmp_path / "data")[0].meta["attempts"] == 1    # permanent: not retried
    assert server.logins == 0 and server.messages == []
    _check_queued_then_sent(tmp_path, session, status, server, _smtp(server.port, "starttls", cafile=cert[0]),
                            capsys, msg)


def test_on_macos_an_unverified_certificate_points_at_pythons_certificate_installer(tmp_path, cert, servers,
                                                                                  monkeypatch):
    """python.org's macOS Python trusts no certificate until its Install Certificates.command has run."""
    from reports import smtpsend
    monkeypatch.setattr(smtpsend, "PLATFORM", "darwin")
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET))
    status = deliver(_message(tmp_path), _smtp(server.port, "starttls", cafile="", retries=0),
                     _session(tmp_path) / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True,
                     backoff_s=FAST)
    assert "CERTIFICATE_VERIFY_FAILED" in status and "Install Certificates.command" in status, status
    assert server.messages == []


def test_refused_connection_is_retried_then_queued(tmp_path, cert, servers, capsys):
    port = free_port()
    session, msg = _session(tmp_path), _message(tmp_path)
    smtp = _smtp(port, "starttls", cafile=cert[0], retries=2)
    t0 = time.monotonic()
    status = deliver(msg, smtp, session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True,
                     backoff_s=FAST)
    waited = time.monotonic() - t0
    assert status.startswith("email failed (ConnectionRefusedError") and "saved summary.eml" in status
    assert waited >= FAST * (1 + 2)               # two retries, 0.05 then 0.1 s apart
    assert _queued(tmp_path / "data")[0].meta["attempts"] == 3
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET, port=port))
    _check_queued_then_sent(tmp_path, session, status, server, smtp, capsys, msg)


def test_wrong_password_is_not_retried_and_waits_for_the_right_one(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET))
    session, msg = _session(tmp_path), _message(tmp_path)
    wrong = "wrong-" + SECRET[::-1]
    status = deliver(msg, _smtp(server.port, cafile=cert[0], password=wrong, retries=3), session / "summary.eml",
                     outbox=tmp_path / "data" / "outbox", send=True, backoff_s=FAST)
    assert "535" in status and "SMTP_PASSWORD" in status
    # one attempt, not 4 (smtplib's one login tries AUTH PLAIN, then LOGIN)
    assert server.failed_logins == 2 and server.messages == []
    assert _queued(tmp_path / "data")[0].meta["attempts"] == 1
    assert_secret_nowhere(wrong, USER, folders=[tmp_path], texts=[status])
    _check_queued_then_sent(tmp_path, session, status, server, _smtp(server.port, cafile=cert[0]), capsys, msg)


def test_data_refused_with_5xx_is_queued_until_the_server_accepts(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET,
                                data_reply="554 5.6.0 message rejected by policy"))
    session, msg = _session(tmp_path), _message(tmp_path)
    smtp = _smtp(server.port, cafile=cert[0], retries=3)
    status = deliver(msg, smtp, session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True,
                     backoff_s=FAST)
    assert "SMTPDataError: 554 5.6.0 message rejected by policy" in status
    assert server.logins == 1                                          # one attempt: 5xx is permanent
    assert _queued(tmp_path / "data")[0].meta["attempts"] == 1
    server.data_reply = None
    _check_queued_then_sent(tmp_path, session, status, server, smtp, capsys, msg)


def test_a_temporary_4xx_is_retried(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET,
                                data_reply="451 4.3.0 try again later"))
    session, msg = _session(tmp_path), _message(tmp_path)
    status = deliver(msg, _smtp(server.port, cafile=cert[0], retries=2), session / "summary.eml",
                     outbox=tmp_path / "data" / "outbox", send=True, backoff_s=FAST)
    assert "451 4.3.0" in status and server.logins == 3
    server.data_reply = None
    _check_queued_then_sent(tmp_path, session, status, server, _smtp(server.port, cafile=cert[0]), capsys, msg)


def test_rcpt_refused_for_one_recipient_queues_it_for_that_one(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET,
                                refuse_rcpt={"coach@example.org": "550 5.1.1 no such mailbox"}))
    session, msg = _session(tmp_path), _message(tmp_path)
    smtp = _smtp(server.port, cafile=cert[0], to=("zoe@example.org", "coach@example.org"))
    status = deliver(msg, smtp, session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True,
                     backoff_s=FAST)
    assert "refused coach@example.org: 550 5.1.1 no such mailbox" in status
    assert [m[1] for m in server.messages] == [["zoe@example.org"]]
    [entry] = _queued(tmp_path / "data")
    assert entry.meta["to"] == ["coach@example.org"]
    server.refuse_rcpt.clear()
    proc = _outbox_send(tmp_path / "data", smtp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [m[1] for m in server.messages] == [["zoe@example.org"], ["coach@example.org"]]
    assert _queued(tmp_path / "data") == []
    out = capsys.readouterr()
    assert_secret_nowhere(SECRET, USER, folders=[tmp_path], texts=[status, out.out, out.err, proc.stdout,
                                                                   proc.stderr])


def test_all_recipients_refused_is_queued(tmp_path, cert, servers, capsys):
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET,
                                refuse_rcpt={"zoe@example.org": "550 5.1.1 no such mailbox"}))
    session, msg = _session(tmp_path), _message(tmp_path)
    smtp = _smtp(server.port, cafile=cert[0], retries=3)
    status = deliver(msg, smtp, session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True,
                     backoff_s=FAST)
    assert "SMTPRecipientsRefused" in status and "550 5.1.1" in status and server.logins == 1
    server.refuse_rcpt.clear()
    _check_queued_then_sent(tmp_path, session, status, server, smtp, capsys, msg)


def test_a_hanging_server_is_given_up_after_the_timeouts(tmp_path, cert, servers, capsys):
    hang = servers(HangingServer())
    session, msg = _session(tmp_path), _message(tmp_path)
    timeout, retries = 0.5, 2
    t0 = time.monotonic()
    status = deliver(msg, _smtp(hang.port, "starttls", cafile=cert[0], timeout=timeout, retries=retries),
                     session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True, backoff_s=FAST)
    waited = time.monotonic() - t0
    bound = timeout * (retries + 1) + FAST * (2 ** retries - 1)
    print(f"hanging server: gave up after {waited:.2f} s (timeouts + backoff: {bound:.2f} s)")
    assert bound <= waited < bound + 10.0        # gave up: the timeouts and backoff, not much more
    assert "did not answer within SMTP_TIMEOUT" in status and hang.connections == retries + 1
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET))
    _check_queued_then_sent(tmp_path, session, status, server, _smtp(server.port, cafile=cert[0]), capsys, msg)


def test_not_configured_or_not_asked_saves_only_the_draft(tmp_path):
    session, msg = _session(tmp_path), _message(tmp_path)
    status = deliver(msg, SmtpSettings(), session / "summary.eml", outbox=tmp_path / "data" / "outbox", send=True)
    assert status == "email not configured: saved summary.eml (set SMTP_* in .env)"
    draft = email.message_from_bytes((session / "summary.eml").read_bytes(), policy=policy.default)
    assert draft["X-Unsent"] == "1" and "X-Unsent" not in msg       # the message itself is left as it will be sent
    status = deliver(msg, _smtp(free_port()), session / "summary.eml", outbox=tmp_path / "data" / "outbox",
                     send=False)
    assert status == "email not sent: saved summary.eml as a draft"
    assert not (tmp_path / "data").exists()


def test_queueing_the_same_message_again_updates_its_entry(tmp_path):
    msg = _message(tmp_path)
    box = tmp_path / "outbox"
    first = outbox.queue(box, msg, to=["a@x"], reason="first", attempts=2)
    second = outbox.queue(box, msg, to=["a@x"], reason="second", attempts=1)
    assert first == second and len(outbox.entries(box)) == 1
    meta = json.loads(first.with_suffix(".json").read_text())
    assert meta["reason"] == "second" and meta["attempts"] == 3
    assert sorted(p.name for p in box.iterdir()) == sorted([first.name, first.with_suffix(".json").name])


def test_a_session_whose_email_fails_is_sent_later_by_outbox_send(tmp_path, cert, servers, capsys):
    """The whole path: build_reports after a session, the server refusing the login; the player's line says where
    the email waits; `python main.py outbox send` delivers it, scorecard attached, once the password is right."""
    import sessionkit as kit
    from reports.build import build_reports
    server = servers(SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET))
    session = tmp_path / "session"
    song = kit.full_session(session)
    settings = kit.settings(host="127.0.0.1", port=server.port, security="starttls", user=USER,
                            password="not-" + SECRET, sender="game@handtone.test", to=("zoe@example.org",),
                            timeout=5, retries=1, cafile=str(cert[0])).replace(data_dir=str(tmp_path / "data"))
    summary = build_reports(session, settings, song)
    status = summary.email_status
    assert status.startswith("email failed (the server refused the login") and server.messages == []
    [entry] = _queued(tmp_path / "data")
    msg = entry.message()
    assert "summary.eml" in summary.files and "10000" in msg["Subject"]
    _check_queued_then_sent(tmp_path, session, status, server, _smtp(server.port, cafile=cert[0]), capsys, msg)
    got = email.message_from_bytes(server.messages[0][2], policy=policy.default)
    [pdf] = [p for p in got.iter_attachments() if p.get_filename() == "report.pdf"]
    assert pdf.get_content() == (session / "report.pdf").read_bytes()
    assert_secret_nowhere("not-" + SECRET, USER, folders=[tmp_path], texts=summary.lines())
