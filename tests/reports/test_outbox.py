"""The commands: `outbox [list|send]` (exit 0 when all sent or nothing queued, 1 when some remain), `email-test`
against a real server (STARTTLS, the test CA given as SMTP_CAFILE), and bad SMTP settings stopping `demo` before any
session folder is made."""
from __future__ import annotations

import email
import os
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from reports import outbox
from standins import HangingServer, SmtpServer, assert_secret_nowhere, free_port, make_cert

ROOT = Path(__file__).resolve().parents[2]
USER = "zoe"
SECRET = "pw-Qq7#outbox-SECRET-4410"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def server(cert):
    s = SmtpServer(tls="starttls", cert=cert, user=USER, password=SECRET).start()
    yield s
    s.stop()


def _env(data: Path, port: int | None = None, cafile="", **extra) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HANDTONE_ENV_FILE": "/nonexistent",
           "HANDTONE_DATA_DIR": str(data)}
    if port is not None:
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="starttls", SMTP_USER=USER,
                   SMTP_PASSWORD=SECRET, SMTP_FROM="Handtone <game@handtone.test>",
                   SMTP_TO="zoe@example.org, Coach <coach@example.org>", SMTP_TIMEOUT="5", SMTP_RETRIES="0",
                   SMTP_CAFILE=str(cafile))
    env.update(extra)
    return env


def _run(*args, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _queue(box: Path, subject: str, to=("zoe@example.org",)) -> Path:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, "game@handtone.test", ", ".join(to)
    msg["Message-ID"] = make_msgid(domain="handtone.local")
    msg.set_content(f"{subject}\n")
    return outbox.queue(box, msg, to=list(to), reason="ConnectionRefusedError: [Errno 111] Connection refused",
                        attempts=4)


def test_email_test_sends_a_message(tmp_path, cert, server):
    proc = _run("email-test", env=_env(tmp_path, server.port, cert[0]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"test email sent to zoe@example.org, Coach <coach@example.org> via "
                                   f"smtp://zoe@127.0.0.1:{server.port} (starttls)")
    [(mail_from, rcpts, raw)] = server.messages
    assert mail_from == "game@handtone.test" and rcpts == ["zoe@example.org", "coach@example.org"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "handtone: email test" and server.logins == 1
    assert_secret_nowhere(SECRET, USER, folders=[tmp_path], texts=[proc.stdout, proc.stderr])


def test_email_test_failures_are_one_scrubbed_line(tmp_path, cert, server):
    wrong = _run("email-test", env=_env(tmp_path, server.port, cert[0], SMTP_PASSWORD="not-" + SECRET))
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert "email test failed" in wrong.stderr and "535" in wrong.stderr and "SMTP_PASSWORD" in wrong.stderr
    refused = _run("email-test", env=_env(tmp_path, free_port(), cert[0]))
    assert refused.returncode == 1 and "ConnectionRefusedError" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    untrusted = _run("email-test", env=_env(tmp_path, server.port, ""))
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    hang = HangingServer().start()
    try:
        hung = _run("email-test", env=_env(tmp_path, hang.port, cert[0], SMTP_TIMEOUT="0.5", SMTP_RETRIES="3"))
    finally:
        hang.stop()
    assert hung.returncode == 1 and "did not answer within SMTP_TIMEOUT" in hung.stderr
    assert hang.connections == 1           # a test answers at once: one try, whatever SMTP_RETRIES says
    assert server.messages == [] and not (tmp_path / "outbox").exists()    # a test message is never queued
    for p in (wrong, refused, untrusted, hung):
        assert_secret_nowhere(SECRET, USER, texts=[p.stdout, p.stderr])
    assert_secret_nowhere("not-" + SECRET, USER, folders=[tmp_path], texts=[wrong.stderr])


def test_email_test_without_smtp_names_the_keys(tmp_path):
    proc = _run("email-test", env=_env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("handtone: error: email is not configured: set SMTP_HOST and SMTP_TO")
    assert len(proc.stderr.strip().splitlines()) == 1 and ".env.example" in proc.stderr


def test_outbox_list_and_send(tmp_path, cert, server):
    box = tmp_path / "outbox"
    empty = _run("outbox", env=_env(tmp_path))
    assert empty.returncode == 0 and "the outbox is empty" in empty.stdout
    assert _run("outbox", "send", env=_env(tmp_path, server.port, cert[0])).returncode == 0
    first, second = _queue(box, "first session"), _queue(box, "second session", to=("coach@example.org",))
    listed = _run("outbox", "list", env=_env(tmp_path))
    assert listed.returncode == 0
    assert "2 emails waiting" in listed.stdout and "python main.py outbox send" in listed.stdout
    for name, subject in ((first.name, "first session"), (second.name, "second session")):
        line = next(ln for ln in listed.stdout.splitlines() if name in ln)
        assert subject in line and "Connection refused" in line and "4 tries" in line
    # not configured: the queue stays and the player is told which keys to set
    unconfigured = _run("outbox", "send", env=_env(tmp_path))
    assert unconfigured.returncode == 2 and "SMTP_HOST" in unconfigured.stderr
    assert len(outbox.entries(box)) == 2
    # the server down: both kept (the second not even tried once the first found nobody), exit 1
    down = _run("outbox", "send", env=_env(tmp_path, free_port(), cert[0]))
    assert down.returncode == 1 and down.stdout.count("not sent, kept in") == 2
    metas = {e.eml.name: e.meta for e in outbox.entries(box)}
    assert metas[first.name]["attempts"] == 5 and "ConnectionRefusedError" in metas[first.name]["reason"]
    assert metas[second.name]["attempts"] == 4 and metas[second.name]["reason"].startswith("not tried: ")
    # one refused by the server, one sent: the sent one is removed, the other kept with the new reason, exit 1
    server.refuse_rcpt = {"coach@example.org": "550 5.1.1 no such mailbox"}
    some = _run("outbox", "send", env=_env(tmp_path, server.port, cert[0]))
    assert some.returncode == 1, some.stdout + some.stderr
    assert "sent first session to zoe@example.org" in some.stdout
    [kept] = outbox.entries(box)
    assert kept.eml == second and "550 5.1.1" in kept.meta["reason"]
    server.refuse_rcpt.clear()
    done = _run("outbox", "send", env=_env(tmp_path, server.port, cert[0]))
    assert done.returncode == 0 and "sent second session to coach@example.org" in done.stdout
    assert outbox.entries(box) == [] and list(box.iterdir()) == []
    assert [(m[1], email.message_from_bytes(m[2])["Subject"]) for m in server.messages] == [
        (["zoe@example.org"], "first session"), (["coach@example.org"], "second session")]
    for p in (listed, unconfigured, down, some, done):
        assert_secret_nowhere(SECRET, USER, texts=[p.stdout, p.stderr])
    assert_secret_nowhere(SECRET, USER, folders=[tmp_path])


@pytest.mark.parametrize("key,value,expected", [
    ("SMTP_PORT", "99999", "SMTP_PORT must be 1..65535"),
    ("SMTP_PORT", "smtp", "SMTP_PORT: 'smtp' is not a whole number"),
    ("SMTP_SECURITY", "tls", "SMTP_SECURITY must be one of starttls, ssl, none"),
    ("SMTP_TO", "zoe@example.org, coach.example.org", "SMTP_TO: 'coach.example.org' is not an email address"),
    ("SMTP_FROM", "game at handtone", "SMTP_FROM: 'game at handtone' is not an email address"),
    ("SMTP_PASSWORD", "", "SMTP_USER is set but SMTP_PASSWORD is empty"),
    ("SMTP_USER", "", "SMTP_PASSWORD is set but SMTP_USER is empty"),
    ("SMTP_TIMEOUT", "-1", "SMTP_TIMEOUT must be more than 0 seconds"),
    ("SMTP_RETRIES", "-2", "SMTP_RETRIES must be 0 or more"),
    ("SMTP_ATTACH_MAX_MB", "-5", "SMTP_ATTACH_MAX_MB must be 0 or more"),
    ("SMTP_CAFILE", "/nonexistent/ca.pem", "SMTP_CAFILE: no file /nonexistent/ca.pem"),
])
def test_a_bad_smtp_setting_stops_demo_before_the_session(tmp_path, key, value, expected):
    sessions = tmp_path / "sessions"
    env = _env(tmp_path / "data", free_port(), **{key: value})
    proc = _run("demo", "--no-window", "--duration", "1", "--out", str(sessions), env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]          # one line
    assert proc.stderr.startswith("handtone: error: ") and expected in proc.stderr, proc.stderr
    assert not sessions.exists() or not any(sessions.iterdir())
    assert SECRET not in proc.stderr + proc.stdout


def test_env_example_documents_every_smtp_key_and_loads():
    import re
    from game import settings
    read = set(re.findall(r'"(SMTP_[A-Z_]+)"', (ROOT / "game" / "settings.py").read_text()))
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^(SMTP_[A-Z_]+)=", example, flags=re.M))
    assert read == documented and len(read) == 11
    s = settings.build({}, {"HANDTONE_ENV_FILE": str(ROOT / ".env.example")})
    assert not s.smtp.configured and s.smtp.retries == 3 and s.smtp.attach_max_mb == 10.0
