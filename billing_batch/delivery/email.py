"""E-mail delivery (SPEC §4.7): one message per client per run with its documents attached, sent
over SMTP after commit, from the ledger (ledger/emails.py).

Each document goes into at most one message (UNIQUE in the ledger), and a message is marked sent
only after the server accepted it. A try is counted (committed) before the server is asked, and
the acceptance is committed right after `send_message` returns: a kill in between — after the
server's "250 OK", before that commit — is the one window in which the next run sends the message
again, with the same Message-ID. A failure keeps the server's reply (addresses blanked out) and is
retried by the next run; after `email.max_attempts` tries the documents go on paper.

Logs and reports carry message and client IDs only, never a name or an address.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import smtplib
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection

from billing_batch import faults
from billing_batch.billing.review import Finding
from billing_batch.config import Settings
from billing_batch.documents.contexts import office_context
from billing_batch.documents.render import write_atomic
from billing_batch.intake.validate import one_address
from billing_batch.ledger import emails

log = logging.getLogger("billing_batch")

TEMPLATE = "email_body.txt"
EMAILED = ("Email", "Both")
TITLES = {"invoice": "Invoice", "credit_note": "Credit note", "letter": "Letter", "plan_letter": "Payment plan letter",
          "coverage_notice": "Coverage notice"}
NO_ADDRESS = "the client has no e-mail address"
_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")


class MailError(Exception):
    """A try that failed; the message is the reason kept in the ledger and the report."""


@dataclass
class Sent:
    sent: int = 0
    failed: int = 0
    paper: int = 0
    reasons: list[str] = field(default_factory=list)  # "e-mail N (client ID): why"
    paper_documents: list[str] = field(default_factory=list)  # .docx paths, of messages out of tries


def body_env() -> SandboxedEnvironment:
    """The office edits the body template, so it runs sandboxed and a missing key is an error. Plain
    text has no markup to escape: values are inserted as they are (a name with & stays a name), and
    they are data, never template source."""
    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)


def _render(template_path: Path, ctx: dict) -> tuple[str, str]:
    """(subject, body): a first line `Subject: ...` is the subject, the rest the body."""
    text = body_env().from_string(template_path.read_text(encoding="utf-8")).render(ctx)
    first, _, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        subject, body = first[len("subject:"):], rest.lstrip("\n")
    else:
        subject, body = f"Documents from {ctx['office']['name']}", text
    return " ".join(subject.split())[:400], body  # one line: a header never takes a line break


def _docs_context(documents: list[tuple[str, int, str]], out: Path) -> list[dict]:
    return [{"kind": k, "title": TITLES.get(k, k), "file": attachment(out, p).name} for k, _, p in documents]


def attachment(out: Path, docx: str) -> Path:
    """The PDF beside the .docx when one was made, else the .docx."""
    path = out / docx
    pdf = path.with_suffix(".pdf")
    return pdf if pdf.is_file() else path


def _codes(code: int, text: object) -> str:
    """The reply's code and enhanced status code (`550 5.1.1`) only: the server's words may name the
    client ("… Recipient address rejected: Eve … unknown"), and a reason is printed and logged."""
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    enhanced = re.match(r"\s*([245]\.\d{1,3}\.\d{1,3})\b", words)
    return f"{code} {enhanced[1]}" if enhanced else str(code)


def _reply(exc: BaseException) -> str:
    """What went wrong, as the server's codes say it, without any address or name in it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, msg = next(iter(exc.recipients.values()))
        text = f"the server refused the recipient ({_codes(code, msg)})"
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"the server refused the login ({_codes(exc.smtp_code, exc.smtp_error)})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"the server replied {_codes(exc.smtp_code, exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        text = "the server closed the connection"
    elif isinstance(exc, (socket.timeout, TimeoutError)):
        text = "the server did not answer in time (email.timeout)"
    elif isinstance(exc, ssl.SSLError):
        text = f"the secure connection failed ({exc.reason or exc})"
    elif isinstance(exc, OSError):
        text = f"could not reach the server ({exc.strerror or exc})"
    else:
        text = str(exc)
    return _ADDRESS.sub("<address>", " ".join(text.split()))[:1000]


class Mailer:
    def __init__(self, settings: Settings, out: Path, template: Path, dry_run: bool = False):
        self.s, self.out, self.template, self.dry_run = settings, out, template, dry_run
        self.cfg = settings.email

    # -- which documents, in which message -------------------------------------------------------
    def planned(self, conn: Connection, run_id: int, written_only: bool | None = None) -> list[tuple[str, dict | None, str, list[tuple[str, int, str]]]]:
        """(client ID, contact or None when unknown, Delivery, documents) for the run's documents to be e-mailed
        and not yet in a message. A dry run plans from documents queued, not yet marked written."""
        written_only = not self.dry_run if written_only is None else written_only
        docs = emails.run_documents(conn, run_id, written_only)
        keys = [(d["kind"], d["ref_id"]) for d in docs]
        taken = emails.already_in_messages(conn, keys)
        owners: dict[tuple[str, int], tuple[str, str | None]] = {}
        for kind in {k for k, _ in keys}:
            for ref, owner in emails.document_clients(conn, kind, [r for k, r in keys if k == kind]).items():
                owners[(kind, ref)] = owner
        contacts = emails.client_contacts(conn, {c for c, _ in owners.values()})
        by_client: dict[str, list[tuple[str, int, str]]] = {}
        how: dict[str, str] = {}
        for d in docs:
            key = (d["kind"], d["ref_id"])
            if key in taken or key not in owners:
                continue
            client_id, delivery = owners[key]
            delivery = delivery or contacts.get(client_id, {}).get("delivery") or "Mail"  # as the document says
            if delivery in EMAILED:
                by_client.setdefault(client_id, []).append((d["kind"], d["ref_id"], d["path"]))
                how[client_id] = "Email" if "Email" in (how.get(client_id), delivery) else delivery
        return [(c, contacts.get(c), how[c], by_client[c]) for c in sorted(by_client)]

    def context(self, contact: dict | None, client_id: str, documents: list[tuple[str, int, str]]) -> dict:
        return {"office": office_context(self.s), "client": {"id": client_id, "name": (contact or {}).get("name", "")},
                "documents": _docs_context(documents, self.out)}

    def plan(self, conn: Connection, run_id: int) -> list[dict]:
        """Record the run's messages (committed): a client with Delivery = Email and no address goes on
        paper at once; one with Both and no address has its paper copy already, so gets no message."""
        made = []
        for client_id, contact, delivery, documents in self.planned(conn, run_id):
            address = (contact or {}).get("email", "")
            if not address and delivery == "Both":
                continue
            subject, _ = _render(self.template, self.context(contact, client_id, documents))
            key = f"<billing-batch.{uuid.uuid4().hex}@{self.cfg.from_address.rpartition('@')[2] or 'localhost'}>"
            status, note = ("pending", None) if address else ("paper", NO_ADDRESS)
            mid = emails.add_message(conn, run_id, client_id, address, subject, key, status, documents, note)
            made.append({"id": mid, "client_id": client_id, "to_address": address, "subject": subject,
                         "message_key": key, "status": status, "attempts": 0, "run_id": run_id})
        if not self.dry_run:
            conn.commit()
        return made

    # -- the message -----------------------------------------------------------------------------
    def compose(self, conn: Connection, message: dict, documents: list[tuple[str, int, str]] | None = None) -> EmailMessage:
        if documents is None:
            documents = [(i["doc_kind"], i["doc_ref"], i["path"]) for i in emails.items(conn, message["id"])]
        contact = emails.client_contacts(conn, {message["client_id"]}).get(message["client_id"])
        # The address as the client list has it now (staff may have corrected it since the message was
        # planned), and only ever one plain address: never a second recipient, never a broken header.
        address = (contact or {}).get("email") or message["to_address"]
        if not one_address(address):
            raise MailError("the client's e-mail address is not one plain address; correct it on the client list")
        _, body = _render(self.template, self.context(contact, message["client_id"], documents))
        msg = EmailMessage()
        msg["From"] = formataddr((" ".join(self.s.office.name.split()), self.cfg.from_address))
        msg["To"] = address
        msg["Subject"] = message["subject"]
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = message["message_key"]  # the same on a resend, so mail programs can tell
        msg.set_content(body)
        for _, _, docx in documents:
            path = attachment(self.out, docx)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise MailError(f"{docx}: the document cannot be read ({exc.strerror or exc})") from None
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            maintype, _, subtype = ctype.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
        return msg

    # -- sending ---------------------------------------------------------------------------------
    def connect(self) -> smtplib.SMTP:
        c = self.cfg
        password = None
        if c.username:
            password = os.environ.get(c.password_env)
            if password is None:
                raise MailError(f"the environment variable {c.password_env} (email.password_env) holding the SMTP "
                                "password is not set")
        smtp: smtplib.SMTP
        if c.security == "ssl":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        try:
            if c.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if c.username:
                smtp.login(c.username, password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, conn: Connection, run_id: int | None) -> Sent:
        """Send the open messages (of `run_id` when given, else of every run), one connection for all."""
        done = Sent()
        messages = emails.open_messages(conn, run_id)
        smtp: smtplib.SMTP | None = None
        broken: str | None = None  # the connection failed: every message left fails with that reason
        try:
            for m in messages:
                # A try cut short by a crash was counted but neither failed nor sent: it is tried again
                # (the one window for a resend, README), never sent on paper as well.
                contact = emails.client_contacts(conn, {m["client_id"]}).get(m["client_id"])
                if contact is not None and contact["delivery"] not in EMAILED:
                    # Staff changed the client to Mail since: no e-mail, their documents go on paper.
                    emails.mark_failed(conn, m["id"], "the client's Delivery is now Mail", 0)
                    done.paper += 1
                    done.paper_documents += [i["path"] for i in emails.items(conn, m["id"])]
                    continue
                emails.count_attempt(conn, m["id"])
                try:
                    if broken:
                        raise MailError(broken)
                    msg = self.compose(conn, m)
                    if smtp is None:
                        try:
                            smtp = self.connect()
                        except (MailError, smtplib.SMTPException, OSError) as exc:
                            broken = exc.args[0] if isinstance(exc, MailError) else _reply(exc)
                            raise MailError(broken) from None
                    smtp.send_message(msg)
                except (MailError, TemplateError) as exc:
                    self._failed(conn, m, str(exc), done)
                    continue
                except ValueError:  # a header the email package refuses: never the whole run
                    self._failed(conn, m, "the message could not be made (a header it would carry is not valid)",
                                 done)
                    continue
                except OSError as exc:  # smtplib's errors are OSErrors too
                    if isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(exc, smtplib.SMTPException):
                        broken, smtp = _reply(exc), None  # the connection is gone: the rest fail alike
                    self._failed(conn, m, _reply(exc), done)
                    continue
                # Accepted by the server: the only window for a resend is from here to this commit.
                faults.reach("email")
                emails.mark_sent(conn, m["id"], datetime.now())
                done.sent += 1
                log.info("e-mail %s to client %s sent", m["id"], m["client_id"])
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        return done

    def _failed(self, conn: Connection, m: dict, reason: str, done: Sent) -> None:
        status = emails.mark_failed(conn, m["id"], reason, self.cfg.max_attempts)
        if status == "paper":
            done.paper += 1
            done.paper_documents += [i["path"] for i in emails.items(conn, m["id"])]
        else:
            done.failed += 1
        done.reasons.append(f"e-mail {m['id']} (client {m['client_id']}): {reason} ("
                            + ("its documents go on paper)" if status == "paper" else "retried by the next run)"))
        log.info("e-mail %s to client %s not sent (%s): %s", m["id"], m["client_id"],
                 "its documents go on paper" if status == "paper" else "retried by the next run", reason)

    # -- dry run ---------------------------------------------------------------------------------
    def write_drafts(self, conn: Connection, run_id: int) -> int:
        """--dry-run: the messages the run would send, as .eml files staff can open; nothing is sent."""
        for stale in (self.out / "email").glob("*.eml"):  # an earlier dry run's: not what this one would send
            stale.unlink()
        n = 0
        for message in self.plan(conn, run_id):
            if message["status"] != "pending":
                continue
            documents = [(i["doc_kind"], i["doc_ref"], i["path"]) for i in emails.items(conn, message["id"])]
            try:
                msg = self.compose(conn, message, documents)
            except (MailError, TemplateError, ValueError):
                continue  # the real run reports it; a dry run never stops for it
            name = re.sub(r"[^A-Za-z0-9._-]", "_", message["client_id"])
            write_atomic(self.out / "email" / f"{name}.eml", bytes(msg))
            n += 1
        return n


def missing_address_findings(conn: Connection, settings: Settings, run_id: int) -> list[Finding]:
    """Review warnings, before commit, for the run's clients who asked for e-mail and have no address."""
    if not settings.email.on:
        return []
    mailer = Mailer(settings, settings.output, Path(), dry_run=True)
    found = []
    for client_id, contact, delivery, _ in mailer.planned(conn, run_id):
        if contact is None or contact["email"]:
            continue
        if delivery == "Both":
            detail = "Delivery is Both but there is no e-mail address: sent on paper only"
        else:
            detail = "Delivery is Email but there is no e-mail address: the documents go on paper"
        found.append(Finding("No e-mail address", client_id, detail))
    return found
