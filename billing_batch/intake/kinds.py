"""The nine kinds of input sheet (SPEC §3): their columns, types, defaults and aliases.

Everything the intake knows about a kind is declared here, so the header detector, the cell
parsers, the validators, the blank workbooks and the demo office all read one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum


class CellType(str, Enum):
    ID = "id"  # text identifier: 00123 stays 00123
    TEXT = "text"
    DATE = "date"
    MONEY = "money"  # Decimal, may be negative only where the kind allows it
    PERCENT = "percent"  # Decimal 0..100
    YES_NO = "yn"
    INTEGER = "int"
    QUANTITY = "quantity"  # Decimal with up to 3 decimals
    CHOICE = "choice"  # one of `choices`, matched ignoring case


# The longest text the ledger keeps per cell type (ledger/schema.py sizes its columns from this, so
# intake rejects what the ledger could not store instead of the database refusing the whole run).
MAX_LENGTH = {CellType.ID: 100, CellType.TEXT: 500, CellType.CHOICE: 40}


@dataclass(frozen=True)
class Column:
    name: str
    type: CellType
    required: bool = False
    default: object = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    help: str = ""  # one line for the Instructions sheet of the blank workbook


@dataclass(frozen=True)
class Kind:
    name: str
    columns: tuple[Column, ...]
    master: bool  # master data is processed before transactions
    help: str = ""
    identity: tuple[str, ...] = field(default=())  # business identity of a transaction row

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def C(name, type_, required=False, default=None, choices=(), aliases=(), help=""):
    return Column(name, type_, required, default, tuple(choices), tuple(aliases), help)


T = CellType
YN = T.YES_NO

CLIENTS = Kind(
    "Clients",
    (
        C("Client ID", T.ID, True, aliases=("Patient ID", "Customer ID", "Account ID"),
          help="Your ID for the client. Kept as text, so leading zeros stay."),
        C("Name", T.TEXT, True, aliases=("Client Name", "Patient Name", "Customer Name"),
          help="Full name of the person or business as it should appear on invoices."),
        C("Type", T.CHOICE, True, choices=("Individual", "Business")),
        C("Attention", T.TEXT, help="For businesses: the person invoices are addressed to."),
        C("Address Line 1", T.TEXT, True, aliases=("Address", "Street")),
        C("Address Line 2", T.TEXT),
        C("City", T.TEXT, True),
        C("Region", T.TEXT, aliases=("State", "Province", "County")),
        C("Postal Code", T.ID, True, aliases=("ZIP", "ZIP Code", "Postcode")),
        C("Country", T.TEXT),
        C("Email", T.TEXT),
        C("Phone", T.ID, aliases=("Telephone", "Phone Number")),
        C("Terms Days", T.INTEGER, help="Days to pay. Blank = the office default."),
        C("Delivery", T.CHOICE, default="Mail", choices=("Mail", "Email", "Both")),
        C("Tax Exempt", YN, default=False),
        C("Payer", T.TEXT, aliases=("Insurer", "Insurance"), help="Insurer name; blank = self-pay."),
        C("Member ID", T.ID),
        C("Copay", T.MONEY),
        C("Coinsurance %", T.PERCENT, aliases=("Coinsurance",)),
        C("Monthly Budget", T.MONEY, help="What the client says they can pay per month."),
        C("Collections Hold", YN, default=False),
    ),
    master=True,
    help="One row per client. A later file replaces the fields it gives.",
)

RATES = Kind(
    "Rates",
    (
        C("Service Code", T.ID, True, aliases=("Code", "Service")),
        C("Description", T.TEXT, True),
        C("Unit Price", T.MONEY, True, aliases=("Price", "Rate")),
        C("Unit", T.TEXT, default="each"),
        C("Taxable", YN, default=False),
        C("Discretionary", YN, default=False,
          help="Y = elective, cosmetic or optional: never on a payment plan."),
        C("Effective From", T.DATE, help="Blank = always."),
        C("Effective To", T.DATE, help="Blank = open."),
        C("Billing Code", T.ID, aliases=("CPT", "HCPCS", "CPT Code", "HCPCS Code", "CPT/HCPCS", "HCPCS/CPT")),
    ),
    master=True,
    help="The rate card. A price change is a new row with a later Effective From.",
)

PAYER_FEES = Kind(
    "Payer Fees",
    (
        C("Payer", T.TEXT, True, aliases=("Insurer",)),
        C("Service Code", T.ID, True, aliases=("Code",)),
        C("Allowed Amount", T.MONEY, True, aliases=("Allowed",)),
        C("Covered", YN, default=True),
        C("Effective From", T.DATE),
    ),
    master=True,
    help="What each insurer has contracted to allow per service.",
)

SERVICE_LOG = Kind(
    "Service Log",
    (
        C("Service Date", T.DATE, True, aliases=("Date of Service", "DOS", "Date")),
        C("Client ID", T.ID, True, aliases=("Patient ID", "Customer ID", "Account ID")),
        C("Service Code", T.ID, True, aliases=("Code", "CPT", "HCPCS", "CPT Code", "HCPCS Code", "CPT/HCPCS",
                                                "CPT/HCPCS Code", "HCPCS/CPT", "HCPCS/CPT Code", "CPT-4")),
        C("Quantity", T.QUANTITY, default=Decimal(1), aliases=("Qty", "Units", "Hours")),
        C("Provider", T.TEXT),
        C("Description", T.TEXT, help="Optional; the rate card's description is used when blank."),
        C("Unit Price Override", T.MONEY, aliases=("Price Override",),
          help="Only when this service is charged differently from the rate card."),
        C("Reference", T.ID),
    ),
    master=False,
    help="One row per service delivered.",
    identity=("Client ID", "Service Date", "Service Code", "Provider", "Reference"),
)

PAYMENTS = Kind(
    "Payments",
    (
        C("Payment Date", T.DATE, True, aliases=("Date Received", "Date")),
        C("Client ID", T.ID, True, aliases=("Patient ID", "Customer ID", "Account ID")),
        C("Amount", T.MONEY, True, aliases=("Amount Paid",)),
        C("Method", T.TEXT),
        C("Reference", T.ID, aliases=("Check Number", "Cheque Number")),
        C("Invoice Number", T.ID, aliases=("Invoice", "Invoice No")),
    ),
    master=False,
    identity=("Client ID", "Payment Date", "Amount", "Reference", "Method"),
)

REMITTANCES = Kind(
    "Remittances",
    (
        C("Claim Number", T.ID, True, aliases=("Claim",)),
        C("Payer", T.TEXT, True),
        C("Paid Date", T.DATE, True),
        C("Paid", T.MONEY, True, aliases=("Paid Amount",)),
        C("Allowed", T.MONEY),
        C("Patient Responsibility", T.MONEY),
        C("Reason Code", T.ID),
        C("Reference", T.ID),
    ),
    master=False,
    identity=("Claim Number", "Paid Date", "Paid", "Reference"),
)

ADJUSTMENTS = Kind(
    "Adjustments",
    (
        C("Date", T.DATE, True),
        C("Client ID", T.ID, True, aliases=("Patient ID", "Customer ID", "Account ID")),
        C("Kind", T.CHOICE, True, choices=("Write-off", "Credit", "Void", "Refund", "Bill Patient")),
        C("Amount", T.MONEY),
        C("Invoice Number", T.ID),
        C("Claim Number", T.ID, help="A Write-off or Bill Patient of what is left open with the insurer on that claim."),
        C("Reason", T.TEXT, True, help="Internal: never printed."),
        C("Note on document", T.TEXT, help="What the credit note tells the client; blank = a plain standard line."),
    ),
    master=False,
    identity=("Client ID", "Date", "Kind", "Invoice Number", "Amount"),
)

PAYMENT_PLANS = Kind(
    "Payment Plans",
    (
        C("Client ID", T.ID, True, aliases=("Patient ID", "Customer ID", "Account ID")),
        C("Agreement Date", T.DATE, True),
        C("Installment Amount", T.MONEY, True, aliases=("Installment",)),
        C("Frequency", T.CHOICE, True, choices=("Weekly", "Biweekly", "Monthly")),
        C("First Due Date", T.DATE, True),
        C("Plan Amount", T.MONEY),
        C("Notes", T.TEXT),
        C("Cancel Date", T.DATE),
    ),
    master=False,
    identity=("Client ID", "Agreement Date"),
)

CONTACT_LOG = Kind(
    "Contact Log",
    (
        C("Contact Date", T.DATE, True, aliases=("Date",)),
        C("Client ID", T.ID, True, aliases=("Patient ID", "Customer ID", "Account ID")),
        C("Outcome", T.CHOICE, True, choices=(
            "Promise to pay", "Dispute", "Dispute resolved", "No answer", "Left message",
            "Wrong number", "Plan requested", "Other")),
        C("Promise Date", T.DATE),
        C("Promise Amount", T.MONEY),
        C("Notes", T.TEXT),
    ),
    master=False,
    identity=("Client ID", "Contact Date", "Outcome"),
)

# Master data first (SPEC §3.3), then transactions in the order the run applies them.
ALL_KINDS: tuple[Kind, ...] = (
    CLIENTS, RATES, PAYER_FEES, SERVICE_LOG, PAYMENTS, REMITTANCES, ADJUSTMENTS,
    PAYMENT_PLANS, CONTACT_LOG,
)
KINDS_BY_NAME = {k.name: k for k in ALL_KINDS}


def header_key(text: object) -> str:
    """Header matching ignores case, spaces, punctuation and surrounding whitespace."""
    return re.sub(r"[\W_]+", "", str(text or "").replace("\u00a0", " ")).casefold()


def header_lookup(kind: Kind) -> dict[str, str]:
    """Normalised header text (name or alias) -> canonical column name."""
    lookup: dict[str, str] = {}
    for col in kind.columns:
        for text in (col.name, *col.aliases):
            lookup.setdefault(header_key(text), col.name)
    return lookup
