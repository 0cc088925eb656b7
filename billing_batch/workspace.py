"""`billing-batch init DIR [--demo]`: the office folder of SPEC §2."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from billing_batch.resources import data_path

FOLDERS = ("inbox", "processed", "rejected", "templates", "blank-workbooks",
           "output/invoices", "output/letters", "output/statements", "output/print", "output/reports",
           "output/runs")

DEMO_OFFICE = """office:                         # printed on invoices, letters and statements
  name: "Maple Street Family Practice"
  address_lines:
    - "1420 Maple Street, Suite 200"
    - "Springfield, IL 62704"
  phone: "(217) 555-0142"
  email: "billing@maplestreetpractice.example"
  tax_id: "EIN 37-1234567"
  remit_to_lines: ["Maple Street Family Practice", "PO Box 4410", "Springfield, IL 62708"]
  payment_instructions: "Pay by check to the address below, by card at the front desk or at (217) 555-0142."
  financial_assistance: "If paying is hard for you, ask us about our financial assistance program: a short form at the front desk or at (217) 555-0142 is all it takes."
"""


@dataclass(frozen=True)
class InitResult:
    office: Path
    config: Path
    demo_files: tuple[str, ...] = ()


def init_office(office: Path, demo: bool = False, today: date | None = None) -> InitResult:
    office = Path(office)
    for folder in FOLDERS:
        (office / folder).mkdir(parents=True, exist_ok=True)
    config = office / "config.yaml"
    if not config.exists():
        text = data_path("config.yaml").read_text(encoding="utf-8")
        if demo:
            text = re.sub(r"^office:.*?(?=^\S)", DEMO_OFFICE + "\n", text, count=1, flags=re.S | re.M)
            text = text.replace("tax_rate: 0 ", "tax_rate: 8.25")
        config.write_text(text, encoding="utf-8")
    for src in sorted([*data_path("letter_templates").glob("*.docx"), *data_path("letter_templates").glob("*.txt")]):
        dest = office / "templates" / src.name
        if not dest.exists():  # an office's own edits are never overwritten
            shutil.copyfile(src, dest)
    for src in sorted(data_path("workbooks").glob("*.xlsx")):
        shutil.copyfile(src, office / "blank-workbooks" / src.name)
    files: tuple[str, ...] = ()
    if demo:
        from billing_batch.config import load_settings
        from billing_batch.demo import write_demo_inbox

        # The demo's "today" is the business date its first run will use: today in the office's zone,
        # not the machine's (late evening in New York is already tomorrow in UTC).
        today = today or datetime.now(load_settings(config).tz).date()
        info = write_demo_inbox(office / "inbox", today)
        files = tuple(Path(f).name for f in info.files)
    return InitResult(office, config, files)
