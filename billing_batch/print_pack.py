"""The print pack and its mailing list (SPEC §4.7): every mailed document of a run in one PDF, one
envelope per client, in postal-code order so the stack goes to the post office sorted.

Each document starts on an odd page: a document with an odd number of pages is followed by a blank
one, so a duplex printer never puts two clients (or two documents) on one sheet. The PDFs are
merged with pypdf, never by hand. The mailing list has one row per envelope in the same order.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from openpyxl import Workbook

from billing_batch.documents.contexts import mailing_lines
from billing_batch.documents.render import write_atomic
from billing_batch.ledger.finishing import DOCUMENTS
from billing_batch.reports.xlsx import save_atomic, table_sheet

LIST_HEADERS = ["Sequence", "Client ID", "Name", "Attention", "Address Line 1", "Address Line 2",
                "Address Line 3", "Address Line 4", "Postal Code", "Documents", "Pages", "Sheets"]


@dataclass(frozen=True)
class Piece:
    """One document going into the pack."""
    outbox_id: int
    kind: str  # one of DOCUMENTS
    path: str  # the .docx, relative to the output folder
    pdf: Path
    bill_to: dict


@dataclass
class Envelope:
    client_id: str
    bill_to: dict
    pieces: list[Piece] = field(default_factory=list)
    pages: int = 0  # padded: always even

    @property
    def sheets(self) -> int:
        return self.pages // 2


# File names (ledger/numbering.py): `C1003-INV-2026-00001`, `C1003-reminder-000012`,
# `C1003-coverage_notice-N000003`; a client ID may itself hold a hyphen, so they are read from the right.
_LETTER_NAME = re.compile(r"-(?P<kind>[a-z_]+)-(?P<number>[A-Z]?\d{6})$")
_DOCUMENT_NUMBER = re.compile(r"(?P<number>[^-]+-\d{4}-\d{5})$")


def document_name(path: str) -> str:
    """How staff know a document in the envelope: its number (INV-…, CN-…), or for a letter its kind
    and the number printed in its file name ("Reminder letter 000001")."""
    stem = PurePosixPath(path).stem
    if stem.endswith("-statement"):
        return "Statement"
    letter = _LETTER_NAME.search(stem)
    if letter:
        kind = letter["kind"].removesuffix("_individual").removesuffix("_business").replace("_", " ")
        return f"{kind[:1].upper()}{kind[1:]} {'letter ' if 'notice' not in kind else ''}{letter['number']}"
    number = _DOCUMENT_NUMBER.search(stem)
    return number["number"] if number else stem


def envelopes(pieces: list[Piece]) -> list[Envelope]:
    """One per client, ordered by postal code then client ID; inside, invoices before credit notes
    before letters (DOCUMENTS' order), then in the order they were issued."""
    by_client: dict[str, Envelope] = {}
    for p in sorted(pieces, key=lambda p: (DOCUMENTS.index(p.kind), p.outbox_id)):
        client = str(p.bill_to.get("client_id", ""))
        by_client.setdefault(client, Envelope(client, p.bill_to)).pieces.append(p)
    return sorted(by_client.values(), key=lambda e: (str(e.bill_to.get("postal_code") or ""), e.client_id))


def write_pack(pieces: list[Piece], pack: Path, mailing_list: Path) -> list[Envelope]:
    """Merge the pieces' PDFs into `pack` and write `mailing_list`, each whole or not at all."""
    from pypdf import PdfReader, PdfWriter  # here: ~0.1 s to import, and most nights make no pack

    ordered = envelopes(pieces)
    writer = PdfWriter()
    for env in ordered:
        for piece in env.pieces:
            reader = PdfReader(piece.pdf)
            pages = len(reader.pages)
            writer.append(reader)
            if pages % 2:
                writer.add_blank_page()  # the size of the page before it
                pages += 1
            env.pages += pages
    buf = io.BytesIO()
    writer.write(buf)
    write_mailing_list(ordered, mailing_list)
    write_atomic(pack, buf.getvalue())  # last: the pack there means its list is there too
    return ordered


def write_mailing_list(ordered: list[Envelope], path: Path) -> None:
    rows = []
    for n, env in enumerate(ordered, start=1):
        b = env.bill_to
        lines = mailing_lines(list(b.get("address_lines") or []))  # as in the envelope window: no "USA"
        lines = lines[:3] + [", ".join(lines[3:])] if len(lines) > 4 else lines
        lines += [None] * (4 - len(lines))
        rows.append([n, env.client_id, b.get("name") or None, b.get("attention") or None, *lines,
                     str(b.get("postal_code") or ""), ", ".join(document_name(p.path) for p in env.pieces),
                     env.pages, env.sheets])
    wb = Workbook()
    table_sheet(wb, "Mailing List", LIST_HEADERS, rows, first=True,
                widths={"Name": 32, "Attention": 20, "Address Line 1": 28, "Address Line 2": 22,
                        "Address Line 3": 24, "Address Line 4": 16, "Documents": 40})
    save_atomic(wb, path)
