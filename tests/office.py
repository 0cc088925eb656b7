"""Building small offices in tests: a folder, a config and workbooks written by code."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from openpyxl import Workbook

from billing_batch.config import Settings, load_settings
from billing_batch.workspace import init_office


def write_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """sheets: name -> rows (first row headers). Decimals are written as numbers, like Excel does."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append([float(v) if isinstance(v, Decimal) else v for v in r])
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, (dt.date, dt.datetime)):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(cell.value, str):
                    cell.data_type = "s"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@dataclass
class Office:
    root: Path
    config: Path

    @classmethod
    def create(cls, root: Path, database_url: str, **overrides) -> "Office":
        init_office(root)
        config = root / "config.yaml"
        data = yaml.safe_load(config.read_text())
        data["database"] = database_url
        data["intake"]["settle_seconds"] = 0
        # Most tests are not about delivery, and a LibreOffice batch costs ~1.5 s a run: the print
        # pack is off unless a test turns it on (tests/test_delivery.py, the crash office).
        data["documents"]["print_pack"] = False
        for dotted, value in overrides.items():
            section, key = dotted.split("__")
            data[section][key] = value
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        return cls(root, config)

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def drop(self, name: str, sheets: dict[str, list[list[object]]]) -> Path:
        return write_workbook(self.inbox / name, sheets)
