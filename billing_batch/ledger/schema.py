"""The ledger's tables (SQLAlchemy Core). Alembic migrations create and upgrade them.

Design, for the whole spec:
- Inputs keep where they came from (source file, sheet, Excel row) and the run that posted them.
  Transactions carry their business identity + occurrence number, UNIQUE, so nothing posts twice
  (SPEC §3.3), and a content hash to tell "already posted" from "conflict".
- Money is integer cents. Quantities and percentages are exact decimal text / basis points.
- Documents (invoices, credit notes) are insert-only; `guard.py` refuses UPDATE and DELETE on them.
  A service line is billed when an invoice line points at it: nothing is updated to bill it.
- Every movement against an invoice (payment, credit applied, credit note, write-off, and later
  insurance payments and contractual adjustments) is an `allocations` row with its own date, so an
  item's balance as of D = amount − allocations dated ≤ D, and aging for any past date is exact.
  A payment's unapplied credit = its amount − its allocations.
- Work after commit (rendering documents, later printing and e-mail) is an `outbox` row, so a
  crash between commit and files is finished by the next run, never repeated.
- Input tables are derived from the input kinds (intake/kinds.py) by one naming rule (`db_name`),
  so a kind and its table cannot drift apart; the migration test compares them to the migrations.
- Transactions whose business stage comes later (adjustments, remittances, plans, contacts) are
  recorded once like the others with `applied_run_id` NULL, and applied when that stage runs.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, String, Table,
    Text, UniqueConstraint,
)

from billing_batch.intake.kinds import (
    ADJUSTMENTS, CLIENTS, CONTACT_LOG, MAX_LENGTH, PAYER_FEES, PAYMENT_PLANS, PAYMENTS, RATES, REMITTANCES,
    SERVICE_LOG, CellType, Kind,
)
from billing_batch.intake.kinds import Column as Column_

metadata = MetaData()

# Rates and payer fees with a blank Effective From apply from the beginning of time.
ALWAYS = date(1900, 1, 1)


def _source():
    return [
        Column("source_file_id", Integer, ForeignKey("source_files.id"), nullable=True),
        Column("source_sheet", String(100), nullable=True),
        Column("source_row", Integer, nullable=True),
        Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    ]


runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(20), nullable=False),  # ok | failed
    Column("billed", Boolean, nullable=False),  # invoicing ran (cycle day reached)
    Column("report", Text),  # the JSON run report
)

# The office this ledger belongs to (ledger/office.py; migration 0006). One row: `slot` is always 1,
# so two folders recording themselves at the same moment cannot both succeed.
office_identity = Table(
    "office_identity", metadata,
    Column("slot", Integer, CheckConstraint("slot = 1", name="ck_office_identity_one_row"), primary_key=True,
           autoincrement=False),
    Column("office_id", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

source_files = Table(
    "source_files", metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("stored_as", String(400)),
    Column("received_at", DateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

@cache
def db_name(column: Column_) -> str:
    """The ledger column for an input column: `Unit Price Override` -> unit_price_override_cents."""
    base = re.sub(r"[^a-z0-9]+", "_", column.name.lower()).strip("_")
    return base + {CellType.MONEY: "_cents", CellType.PERCENT: "_bp"}.get(column.type, "")


# Money is 64-bit cents: any amount intake accepts fits (32 bits stop at $21,474,836.47).
Money = BigInteger

_DB_TYPES: dict[CellType, Any] = {
    CellType.ID: lambda: String(MAX_LENGTH[CellType.ID]), CellType.TEXT: lambda: String(MAX_LENGTH[CellType.TEXT]),
    CellType.CHOICE: lambda: String(MAX_LENGTH[CellType.CHOICE]),
    CellType.DATE: Date, CellType.MONEY: Money, CellType.PERCENT: Integer, CellType.YES_NO: Boolean,
    CellType.INTEGER: Integer, CellType.QUANTITY: lambda: String(20),
}


def _input_columns(kind: Kind, primary_key: str | None = None, not_null: tuple[str, ...] = ()) -> list[Column]:
    """One ledger column per input column, NOT NULL where the input always gives a value."""
    return [Column(db_name(c), _DB_TYPES[c.type](), primary_key=c.name == primary_key,
                   nullable=not (c.required or c.default is not None or c.name in not_null))
            for c in kind.columns]


def _transaction_table(name: str, kind: Kind, *extra) -> Table:
    """A posted transaction: identity + occurrence UNIQUE (posted once), content hash (conflicts)."""
    return Table(
        name, metadata,
        Column("id", Integer, primary_key=True),
        Column("identity", String(64), nullable=False),
        Column("occurrence", Integer, nullable=False),
        Column("content_hash", String(64), nullable=False),
        *_input_columns(kind),
        *extra,
        *_source(),
        UniqueConstraint("identity", "occurrence", name=f"uq_{name}_identity"),
    )


def _applied():
    # The run whose business stage applied this record (allocations, credit notes, plans...);
    # NULL = recorded, not yet applied: a later stage picks it up, nothing is lost.
    return Column("applied_run_id", Integer, ForeignKey("runs.id"))


clients = Table("clients", metadata, *_input_columns(CLIENTS, primary_key="Client ID"), *_source())

rates = Table(
    "rates", metadata,
    Column("id", Integer, primary_key=True),
    *_input_columns(RATES, not_null=("Effective From",)),
    *_source(),
    UniqueConstraint("service_code", "effective_from", name="uq_rates_code_from"),
)

payer_fees = Table(
    "payer_fees", metadata,
    Column("id", Integer, primary_key=True),
    *_input_columns(PAYER_FEES, not_null=("Effective From",)),
    *_source(),
    UniqueConstraint("payer", "service_code", "effective_from", name="uq_payer_fees"),
)

service_lines = _transaction_table("service_lines", SERVICE_LOG)
payments = _transaction_table("payments", PAYMENTS, Column("reverses_payment_id", Integer, ForeignKey("payments.id")),
                              _applied())
remittances = _transaction_table("remittances", REMITTANCES, _applied())
adjustments = _transaction_table("adjustments", ADJUSTMENTS, _applied())
payment_plans = _transaction_table("payment_plans", PAYMENT_PLANS, _applied())
contacts = _transaction_table("contacts", CONTACT_LOG, _applied())
TRANSACTION_TABLES = {"Service Log": service_lines, "Payments": payments, "Remittances": remittances,
                      "Adjustments": adjustments, "Payment Plans": payment_plans, "Contact Log": contacts}

# Insurance (SPEC §4.6). A claim and its lines are issued once and never change; what happens to its
# money (a payer's payment, the contractual adjustment, the patient's share, a coordinator's write-off
# or Bill Patient) is a `claim_moves` row with its own date, so a claim as of D is exact. A move to the
# patient is billed on the client's next invoice: an invoice line names it (`claim_move_id`).
claims = Table(
    "claims", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("payer", String(500), nullable=False),
    Column("member_id", String(MAX_LENGTH[CellType.ID])),
    Column("claim_date", Date, nullable=False),
    Column("service_date", Date, nullable=False),
    Column("billed_cents", Money, nullable=False),
    Column("expected_allowed_cents", Money, nullable=False),
    Column("expected_patient_cents", Money, nullable=False),
    Column("copay_cents", Money, nullable=False),
    Column("coinsurance_bp", Integer, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

claim_lines = Table(
    "claim_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("claim_id", Integer, ForeignKey("claims.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("service_line_id", Integer, ForeignKey("service_lines.id"), nullable=False, unique=True),
    Column("service_code", String(MAX_LENGTH[CellType.ID]), nullable=False),
    Column("billing_code", String(MAX_LENGTH[CellType.ID])),
    Column("description", String(MAX_LENGTH[CellType.TEXT]), nullable=False),
    Column("quantity", String(20), nullable=False),
    Column("unit_price_cents", Money, nullable=False),
    Column("billed_cents", Money, nullable=False),
    Column("allowed_cents", Money, nullable=False),
    UniqueConstraint("claim_id", "line_no", name="uq_claim_line_no"),
)

claim_moves = Table(
    "claim_moves", metadata,
    Column("id", Integer, primary_key=True),
    Column("claim_id", Integer, ForeignKey("claims.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # payer_paid | contractual | patient | write_off | bill_patient
    Column("amount_cents", Money, nullable=False),
    Column("move_date", Date, nullable=False),
    Column("remittance_id", Integer, ForeignKey("remittances.id")),
    Column("adjustment_id", Integer, ForeignKey("adjustments.id")),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

# A service line of an insured client that the payer does not cover is listed on one coverage notice.
coverage_notice_lines = Table(
    "coverage_notice_lines", metadata,
    Column("service_line_id", Integer, ForeignKey("service_lines.id"), primary_key=True),
    Column("notice_id", Integer, ForeignKey("coverage_notices.id"), nullable=False),
)

counters = Table(
    "counters", metadata,
    Column("series", String(10), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)

invoices = Table(
    "invoices", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("invoice_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("terms_days", Integer, nullable=False),
    Column("subtotal_cents", Money, nullable=False),
    Column("tax_cents", Money, nullable=False),
    Column("tax_rate", String(12), nullable=False),  # percent as exact text
    Column("total_cents", Money, nullable=False),
    Column("bill_to", Text, nullable=False),  # JSON snapshot of name and address at issue
    Column("plan_summary", Text),  # JSON snapshot of the client's plan at issue, shown on the invoice
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

invoice_lines = Table(
    "invoice_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("service_line_id", Integer, ForeignKey("service_lines.id"), unique=True),
    Column("service_date", Date, nullable=False),
    Column("service_code", String(MAX_LENGTH[CellType.ID]), nullable=False),  # as intake accepts it
    Column("description", String(MAX_LENGTH[CellType.TEXT]), nullable=False),  # a rate's or service's
    Column("quantity", String(20), nullable=False),
    Column("unit_price_cents", Money, nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("taxable", Boolean, nullable=False),
    Column("discretionary", Boolean, nullable=False),
    # A patient's share of a claim billed on this line (then service_line_id is NULL).
    Column("claim_move_id", Integer, ForeignKey("claim_moves.id"), unique=True),
    UniqueConstraint("invoice_id", "line_no", name="uq_invoice_line_no"),
)

credit_notes = Table(
    "credit_notes", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("kind", String(10), nullable=False),  # credit | void
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("adjustment_id", Integer, ForeignKey("adjustments.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

allocations = Table(
    "allocations", metadata,
    Column("id", Integer, primary_key=True),
    # NULL for a refund: payment credit paid back out, against no invoice.
    Column("invoice_id", Integer, ForeignKey("invoices.id")),
    # payment | credit (earlier credit applied to a new invoice) | refund | write_off | credit_note
    Column("source", String(20), nullable=False),
    Column("payment_id", Integer, ForeignKey("payments.id")),
    Column("credit_note_id", Integer, ForeignKey("credit_notes.id")),
    Column("adjustment_id", Integer, ForeignKey("adjustments.id")),
    Column("amount_cents", Money, nullable=False),
    Column("alloc_date", Date, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    # Money applied to a payment plan's part of the invoice: what the plan has been paid, by date.
    Column("plan_id", Integer, ForeignKey("plans.id")),
)

# Payment plans (SPEC §4.5): agreed from a Payment Plans row and never changed after (the row's Cancel
# Date, given once, ends it). Its installments and its part of each invoice are fixed at agreement;
# its status as of any date is computed from the allocations that name it (billing/plans.py).
plans = Table(
    "plans", metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("agreement_id", Integer, ForeignKey("payment_plans.id"), nullable=False, unique=True),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("agreement_date", Date, nullable=False),
    Column("frequency", String(20), nullable=False),
    Column("installment_cents", Money, nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

plan_installments = Table(
    "plan_installments", metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("amount_cents", Money, nullable=False),
    UniqueConstraint("plan_id", "seq", name="uq_plan_installment"),
)

plan_items = Table(
    "plan_items", metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("invoice_id", Integer, ForeignKey("invoices.id"), nullable=False),
    Column("amount_cents", Money, nullable=False),  # the invoice's part on the plan
    UniqueConstraint("plan_id", "invoice_id", name="uq_plan_item"),
)

# What the last run saw of each plan, so a late episode, a cure and a default are each acted on once.
plan_state = Table(
    "plan_state", metadata,
    Column("plan_id", Integer, ForeignKey("plans.id"), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("episode", Integer, nullable=False),  # late episodes so far
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

plan_letters = Table(
    "plan_letters", metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("kind", String(10), nullable=False),  # missed | ended
    Column("episode", Integer, nullable=False),
    Column("letter_date", Date, nullable=False),
    Column("content", Text, nullable=False),  # JSON: what the letter says
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    UniqueConstraint("plan_id", "kind", "episode", name="uq_plan_letter_once"),
)

coverage_notices = Table(
    "coverage_notices", metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("notice_date", Date, nullable=False),
    Column("content", Text, nullable=False),  # JSON: what the notice says
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

# Collections (SPEC §4.4): the state decides, never exact dates. `series` starts again when the client
# is paid up, so a later overdue balance starts from the first level; a (series, level) is sent once.
collection_state = Table(
    "collection_state", metadata,
    Column("client_id", String(100), ForeignKey("clients.client_id"), primary_key=True),
    Column("series", Integer, nullable=False),
    Column("level", Integer, nullable=False),  # 0 = no letter in this series yet
    Column("last_letter_date", Date),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
)

letters = Table(
    "letters", metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("series", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("level_name", String(60), nullable=False),
    Column("letter_date", Date, nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("content", Text, nullable=False),  # JSON: items, address, offer — what the letter says
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    UniqueConstraint("client_id", "series", "level", name="uq_letter_once"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),  # invoice | credit_note | letter | email ...
    Column("ref_id", Integer, nullable=False),
    Column("path", String(400), nullable=False),  # relative to the output folder
    Column("status", String(10), nullable=False),  # pending | done | failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    UniqueConstraint("kind", "ref_id", name="uq_outbox_doc"),
)

# E-mail (SPEC §4.7): one message per client per run; each document is in at most one message, so it
# is e-mailed at most once. `attempts` counts tries (recorded before each try, so a crash counts);
# after email.max_attempts the message's documents go on paper (status paper).
email_messages = Table(
    "email_messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", String(100), ForeignKey("clients.client_id"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("to_address", String(500), nullable=False),  # blank: the client has none (paper at once)
    Column("subject", String(500), nullable=False),
    Column("message_key", String(100), nullable=False, unique=True),  # the Message-ID, the same on a resend
    Column("status", String(10), nullable=False),  # pending | sent | failed | paper
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("sent_at", DateTime),
)

email_items = Table(
    "email_items", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", Integer, ForeignKey("email_messages.id"), nullable=False),
    Column("doc_kind", String(20), nullable=False),
    Column("doc_ref", Integer, nullable=False),
    Column("path", String(400), nullable=False),  # the .docx, relative to the output folder
    UniqueConstraint("doc_kind", "doc_ref", name="uq_email_item_doc"),
)

Index("ix_service_lines_client", service_lines.c.client_id, service_lines.c.service_date)
Index("ix_allocations_invoice", allocations.c.invoice_id, allocations.c.alloc_date)
Index("ix_invoices_client", invoices.c.client_id)
Index("ix_payments_client", payments.c.client_id)
Index("ix_payments_reverses", payments.c.reverses_payment_id)
Index("ix_allocations_payment", allocations.c.payment_id)
Index("ix_allocations_plan", allocations.c.plan_id)
Index("ix_plans_client", plans.c.client_id)
Index("ix_claims_client", claims.c.client_id)
Index("ix_claim_moves_claim", claim_moves.c.claim_id, claim_moves.c.move_date)
Index("ix_email_messages_run", email_messages.c.run_id, email_messages.c.status)

# Issued documents: insert-only (SPEC §6.2).
IMMUTABLE_TABLES = ("invoices", "invoice_lines", "credit_notes", "claims", "claim_lines")
