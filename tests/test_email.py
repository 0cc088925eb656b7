"""E-mail delivery (SPEC §4.7, issue 14) against a real SMTP server in-process (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from decimal import Decimal

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import create_engine, select

from billing_batch.ledger.emails import documents_for_paper
from billing_batch.ledger.schema import clients, email_messages, invoices
from billing_batch.pipeline import run_batch
from tests.office import Office

D = dt.date
HEADERS = ["Client ID", "Name", "Type", "Address Line 1", "City", "Postal Code", "Email", "Delivery"]
RATES = [["Service Code", "Description", "Unit Price"], ["OV", "Office visit", Decimal("100.00")]]


class Handler:
    """Keeps what it accepts; from the (accept + 1)th DATA on it answers `reply` instead."""

    def __init__(self, accept: int | None = None, reply: str = "451 4.3.0 Mailbox busy, try later"):
        self.accept, self.reply, self.got = accept, reply, []

    async def handle_DATA(self, server, session, envelope):
        if self.accept is not None and len(self.got) >= self.accept:
            return self.reply
        self.got.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    servers = []

    def start(handler: Handler, port: int | None = None, password: str | None = None) -> int:
        def check(server, session, envelope, mechanism, auth_data):
            return AuthResult(success=auth_data.login == b"office" and auth_data.password == password.encode(),
                              handled=False)

        extra = dict(authenticator=check, auth_require_tls=False) if password else {}
        c = Controller(handler, hostname="127.0.0.1", port=port or free_port(), **extra)
        c.start()
        servers.append(c)
        return c.port

    yield start
    for c in servers:
        c.stop()


def make_office(tmp_path, port: int, clients: list[list], **email) -> Office:
    settings = {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "billing@office.example",
                "timeout": 5, **email}
    office = Office.create(tmp_path / "office", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                           **{f"email__{k}": v for k, v in settings.items()})
    office.drop("clients.xlsx", {"Clients": [HEADERS, *clients]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [["Service Date", "Client ID", "Service Code", "Quantity"],
                                             *[[D(2026, 3, 10), c[0], "OV", 1] for c in clients]]})
    return office


def client(cid: str, delivery: str, address: str | None = "x") -> list:
    return [cid, f"Name of {cid} & Co", "Individual", "1 Main St", "Springfield", "62701",
            f"{cid.lower()}@clients.example" if address else None, delivery]


def messages(office: Office) -> list:
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        rows = c.execute(select(email_messages).order_by(email_messages.c.id)).all()
    engine.dispose()
    return rows


def test_email_and_both_clients_get_their_documents_once(tmp_path, smtp):
    handler = Handler()
    office = make_office(tmp_path, smtp(handler), [client("E1", "Email"), client("B1", "Both"), client("M1", "Mail"),
                                                   client("N1", "Email", address=None), client("N2", "Both", address=None)])
    first = run_batch(office.settings, D(2026, 3, 31))

    got = {tuple(to): msg for to, msg in handler.got}
    assert set(got) == {("e1@clients.example",), ("b1@clients.example",)}  # the Mail client gets none
    invoice_dir = office.root / "output" / "invoices" / "2026-03"
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        numbers = dict(c.execute(select(invoices.c.client_id, invoices.c.number)).all())
        paper = documents_for_paper(c)
        n1_invoice = c.execute(select(invoices.c.id).where(invoices.c.client_id == "N1")).scalar_one()
    engine.dispose()
    for cid in ("E1", "B1"):
        msg = got[(f"{cid.lower()}@clients.example",)]
        files = [(a.get_filename(), a.get_content()) for a in msg.iter_attachments()]
        assert files == [(f"{cid}-{numbers[cid]}.docx", (invoice_dir / f"{cid}-{numbers[cid]}.docx").read_bytes())]
        assert msg["From"] == "Your Office Name <billing@office.example>"
        body = msg.get_body(("plain",)).get_content()
        assert f"Dear Name of {cid} & Co," in body and f"Invoice ({cid}-{numbers[cid]}.docx)" in body  # & stays &
    # No address and Delivery = Email: a Review warning, and the invoice goes on paper at once.
    assert [(f["check"], f["client_id"]) for f in first.report["review"]] == [("No e-mail address", "N1"),
                                                                               ("No e-mail address", "N2")]
    assert paper == [("invoice", n1_invoice)]  # N2 (Both) is on paper anyway: no message, not listed twice
    assert [m.client_id for m in messages(office)] == ["B1", "E1", "N1"]
    e = first.report["email"]
    assert (e["sent"], e["failed"], e["waiting"], e["paper"]) == (2, 0, 0, 1)
    assert [d["client_id"] for d in e["paper_documents"]] == ["N1"]
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(first.aging_path)["Summary"].iter_rows(
        max_col=2, values_only=True) if r[0]}
    assert summary["E-mails sent"] == 2
    log_text = first.report_path.read_text()
    assert "clients.example" not in log_text and "Name of" not in log_text  # IDs only in the report

    second = run_batch(office.settings, D(2026, 3, 31))
    assert len(handler.got) == 2 and second.report["email"]["sent"] == 0  # nothing sent twice


def test_a_server_failing_after_n_of_m_messages_gets_exactly_the_rest_next_run(tmp_path, smtp):
    handler = Handler(accept=2)
    port = smtp(handler)
    office = make_office(tmp_path, port, [client(f"E{i}", "Email") for i in range(1, 6)])  # M = 5, N = 2
    first = run_batch(office.settings, D(2026, 3, 31))
    e = first.report["email"]
    assert (e["sent"], e["failed"], e["paper"]) == (2, 3, 0)
    assert {f["reason"] for f in e["failures"]} == {"the server replied 451 4.3.0"}  # codes only: a server's words may name the client
    sent_first = [to for to, _ in handler.got]

    # The remaining documents now have a PDF beside them: that is what goes.
    for path in (office.root / "output" / "invoices" / "2026-03").glob("*.docx"):
        path.with_suffix(".pdf").write_bytes(b"%PDF-1.4 " + path.stem.encode())
    handler.accept = None
    run_batch(office.settings, D(2026, 3, 31))
    later = handler.got[2:]
    assert len(later) == 3 and not {tuple(t) for t, _ in later} & {tuple(t) for t in sent_first}
    assert sorted(t[0] for t, _ in handler.got) == [f"e{i}@clients.example" for i in range(1, 6)]  # each once
    assert all([a.get_filename().endswith(".pdf") for a in m.iter_attachments()] == [True] for _, m in later)
    assert [m.status for m in messages(office)] == ["sent"] * 5


def test_login_refused_then_the_password_from_the_named_variable(tmp_path, smtp, monkeypatch):
    handler = Handler()
    office = make_office(tmp_path, smtp(handler, password="s3cret"), [client("E1", "Email")], username="office",
                         password_env="OFFICE_SMTP_PASSWORD")
    monkeypatch.delenv("OFFICE_SMTP_PASSWORD", raising=False)
    first = run_batch(office.settings, D(2026, 3, 31))
    assert "OFFICE_SMTP_PASSWORD" in first.report["email"]["failures"][0]["reason"]  # not set: says which
    monkeypatch.setenv("OFFICE_SMTP_PASSWORD", "wrong")
    second = run_batch(office.settings, D(2026, 3, 31))
    assert second.report["email"]["failures"] == []  # the failure is the first run's message, retried:
    [retried] = second.report["email"]["earlier_failures"]
    assert retried["reason"].startswith("the server refused the login (535") and retried["attempts"] == 2
    assert messages(office)[0].last_error.startswith("the server refused the login (535")
    monkeypatch.setenv("OFFICE_SMTP_PASSWORD", "s3cret")
    run_batch(office.settings, D(2026, 3, 31))
    assert len(handler.got) == 1 and messages(office)[0].status == "sent" and messages(office)[0].attempts == 3


def test_after_max_attempts_the_documents_go_on_paper(tmp_path):
    office = make_office(tmp_path, free_port(), [client("E1", "Email"), client("M1", "Mail")], max_attempts=2)
    first = run_batch(office.settings, D(2026, 3, 31))  # nothing listens on the port
    e = first.report["email"]
    assert (e["sent"], e["failed"], e["paper"]) == (0, 1, 0)
    assert e["failures"][0]["reason"].startswith("could not reach the server")
    second = run_batch(office.settings, D(2026, 4, 1))
    moved = second.report["email_earlier_runs"]  # the first run's message, out of tries in the second
    assert (moved["sent"], moved["paper"]) == (0, 1)
    assert moved["paper_documents"] == ["invoices/2026-03/E1-INV-2026-00001.docx"]
    assert "its documents go on paper" in moved["failures"][0]
    reread = __import__("json").loads(first.report_path.read_text())
    assert reread["email"]["failed"] == 1  # the report as written by the first run
    [msg] = messages(office)
    assert (msg.status, msg.attempts) == ("paper", 2)
    engine = create_engine(office.settings.database_url)
    with engine.connect() as c:
        assert [k for k, _ in documents_for_paper(c)] == ["invoice"]
    engine.dispose()


def test_dry_run_writes_the_messages_and_sends_nothing(tmp_path, smtp):
    handler = Handler()
    office = make_office(tmp_path, smtp(handler), [client("E1", "Email")])
    run_batch(office.settings, D(2026, 3, 31), dry_run=True)
    assert handler.got == [] and messages(office) == []
    eml = email.message_from_bytes((office.root / "output" / "dry-run" / "email" / "E1.eml").read_bytes(),
                                   policy=email.policy.default)
    assert eml["To"] == "e1@clients.example"
    [attached] = eml.iter_attachments()
    assert attached.get_content() == (office.root / "output" / "dry-run" / "invoices" / "2026-03" /
                                      attached.get_filename()).read_bytes()  # the draft document


def test_email_off_is_said_once_and_nothing_fails(tmp_path):
    office = make_office(tmp_path, 25, [client("E1", "Email")], host="")
    result = run_batch(office.settings, D(2026, 3, 31))
    assert result.exit_code == 0 and messages(office) == []
    assert result.report["email"]["note"].startswith("e-mail is off")


@pytest.mark.parametrize("point", ["documents:1", "email:1"])
def test_a_run_killed_before_or_while_sending_sends_each_message_once_but_the_window(tmp_path, smtp, point):
    """Killed before the e-mails (documents half written): the next run sends each message once.
    Killed after the server accepted a message, before it was marked sent: that one message is sent
    again — the window the README names — with the same Message-ID; no other message twice."""
    from billing_batch.faults import ENV as KILL_AT
    from tests.crashkit import run_child

    handler = Handler()
    office = make_office(tmp_path, smtp(handler), [client(f"E{i}", "Email") for i in range(1, 4)])
    args = ["run", "--config", office.config, "--as-of", "2026-03-31"]
    assert run_child(args, env={KILL_AT: point}, log=tmp_path / "killed.log").killed
    assert run_child(args, log=tmp_path / "next.log").exit_code == 0
    ids = [m["Message-ID"] for _, m in handler.got]
    again = 1 if point.startswith("email") else 0
    assert len(ids) == 3 + again and len(set(ids)) == 3
    assert [m.status for m in messages(office)] == ["sent"] * 3


def test_config_reads_older_email_keys_and_wants_a_sender(tmp_path):
    from billing_batch.config import ConfigError, load_settings

    path = tmp_path / "config.yaml"
    path.write_text("email:\n  enabled: false\n  host: ''\n  sender: ''\n  use_tls: false\n")
    e = load_settings(path).email
    assert (e.on, e.security, e.from_address) == (False, "none", "")
    path.write_text("email:\n  host: smtp.example.com\n  password_env: not a name\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert any("password_env" in m for m in err.value.messages)
    assert any("email.from_address (found '') must be the office's e-mail address" in m and "line 1" in m
               for m in err.value.messages)


def test_an_address_is_one_plain_address_and_the_current_one(tmp_path, smtp):
    """A second address, a name or a line break in Email is a problem on the client row (never a second
    recipient); one that reached the ledger before that rule fails its message instead of the run; a
    corrected address or a client moved to Mail is honoured on the retry."""
    handler = Handler(accept=0, reply="550 5.1.1 mailbox unavailable")
    port = smtp(handler)
    office = make_office(tmp_path, port, [client("E1", "Email"), client("E2", "Email"), client("E3", "Email"),
                                          [*client("E4", "Email")[:6], "e4@x.example, spy@y.example", "Email"],
                                          [*client("E5", "Email")[:6], "e5@x.example\nBcc: spy@y.example", "Email"]])
    first = run_batch(office.settings, D(2026, 3, 31))
    assert sorted((p.where.row, p.where.column) for p in first.problems
                  if p.level == "error" and p.where.file == "clients.xlsx") == [(5, "Email"), (6, "Email")]
    assert first.report["email"]["failed"] == 3  # the server refused E1..E3
    # An address from before the rule, straight into the ledger: the message fails, the run does not.
    engine = create_engine(office.settings.database_url)
    with engine.begin() as c:
        c.execute(clients.update().where(clients.c.client_id == "E1").values(email="e1@x.example\nBcc: spy@y.example"))
        c.execute(clients.update().where(clients.c.client_id == "E2").values(delivery="Mail"))
        c.execute(clients.update().where(clients.c.client_id == "E3").values(email="fixed@clients.example"))
    engine.dispose()
    handler.accept = None
    second = run_batch(office.settings, D(2026, 4, 1))
    assert [tuple(to) for to, _ in handler.got] == [("fixed@clients.example",)]
    status = {m.client_id: (m.status, m.last_error) for m in messages(office)}
    assert status["E2"] == ("paper", "the client's Delivery is now Mail") and status["E3"][0] == "sent"
    assert status["E1"][0] == "failed" and "not one plain address" in status["E1"][1]  # retried, then paper


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test server's certificate")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_starttls_and_ssl_with_a_login_over_a_verified_certificate(tmp_path, monkeypatch, security):
    """A server with its own certificate (trusted through SSL_CERT_FILE, as an office would install its
    provider's): the login and the message go over TLS, the certificate and the host name checked."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("BB_TEST_SMTP", "s3cret")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler()

    def check(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == b"office" and auth_data.password == b"s3cret", handled=False)

    port = free_port()
    if security == "starttls":
        controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                                authenticator=check, auth_require_tls=True)
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context, authenticator=check,
                                auth_require_tls=False)
    controller.start()
    try:
        office = make_office(tmp_path, port, [client("E1", "Email")], security=security, username="office",
                             password_env="BB_TEST_SMTP")
        result = run_batch(office.settings, D(2026, 3, 31))
    finally:
        controller.stop()
    assert result.report["email"]["sent"] == 1
    assert [tuple(to) for to, _ in handler.got] == [("e1@clients.example",)]
