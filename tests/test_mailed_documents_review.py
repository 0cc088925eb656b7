"""Hostile review of issue 15's mailed documents: cases the first tests did not try (client IDs that
sanitise to the same file name, an invoice paid in full from the client's credit, the how-to-pay block
kept with the totals)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from click.testing import CliRunner

from billing_batch.cli import main
from billing_batch.ledger import numbering
from billing_batch.pipeline import run_batch
from tests.office import Office
from tests.test_mailed_documents import (
    CLIENT_HEADERS,
    LOG_HEADERS,
    RATES,
    tables_rows,
    words,
)
from tests.test_posting import PAY_HEADERS

D = dt.date


def test_two_client_ids_that_sanitise_alike_get_two_statements(sqlite_office: Office):
    """`B/1 x.ü` and `B_1_x__` both made `B_1_x__-statement.docx`: the second overwrote the first, so one
    client's statement was lost (and a print pack would mail the other client's statement twice)."""
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS,
        ["B/1 x.ü", "Slash Co", "Business", None, "5 Harbor Way", "Springfield", "IL", "62701", None, 30],
        ["B_1_x__", "Under Co", "Business", None, "6 Harbor Way", "Springfield", "IL", "62701", None, 30]]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS,
        [D(2026, 3, 10), "B/1 x.ü", "OV", 1, None, None, None],
        [D(2026, 3, 10), "B_1_x__", "OV", 2, None, None, None]]})
    run_batch(office.settings, D(2026, 3, 31))
    result = CliRunner().invoke(main, ["statements", "--config", str(office.config), "--as-of", "2026-04-01"])
    assert result.exit_code == 0, result.output
    files = sorted((office.root / "output" / "statements" / "2026-04-01").iterdir())
    assert len(files) == 2, [f.name for f in files]
    texts = {f.name: words(f) for f in files}
    assert sum("Slash Co" in t for t in texts.values()) == 1 and sum("Under Co" in t for t in texts.values()) == 1
    # An ID that needs no change keeps its plain name; the changed one is told apart by a digest.
    assert "B_1_x__-statement.docx" in texts
    assert numbering.safe_id("B/1 x.ü") != numbering.safe_id("B_1_x__")
    assert numbering.safe_id("../x").startswith("___x.") and "/" not in numbering.safe_id("../x")


def test_an_invoice_paid_in_full_from_credit_asks_for_nothing(sqlite_office: Office):
    """A client with $500.00 on account gets a $100.00 invoice: credit applied $100.00, amount due $0.00.
    It printed "Amount due $0.00 by April 30, 2026" and a remittance slip to send back with $0.00."""
    office = sqlite_office
    office.drop("clients.xlsx", {"Clients": [CLIENT_HEADERS,
        ["P3", "Prepaid Pam", "Individual", None, "9 Oak Ave", "Springfield", "IL", "62703", None, 30]]})
    office.drop("rates.xlsx", {"Rates": RATES})
    office.drop("pay.xlsx", {"Payments": [PAY_HEADERS, [D(2026, 3, 1), "P3", Decimal("500.00"), "Check", "9", None]]})
    office.drop("log.xlsx", {"Service Log": [LOG_HEADERS, [D(2026, 3, 10), "P3", "OV", 1, None, None, None]]})
    run_batch(office.settings, D(2026, 3, 31))
    path = office.root / "output" / "invoices" / "2026-03" / "P3-INV-2026-00001.docx"
    rows, text = tables_rows(path), words(path)
    assert ["Invoice total", "$100.00"] in rows and ["Credit applied", "-$100.00"] in rows
    assert ["Amount due", "$0.00"] in rows
    assert "Nothing to pay on this invoice: it was paid from the credit on your account." in text
    assert "Please detach" not in text and "Amount enclosed" not in text and "by April 30, 2026" not in text
