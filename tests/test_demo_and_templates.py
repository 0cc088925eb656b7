"""The blank input workbooks and the demo office's inbox."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from billing_batch.demo import write_demo_inbox
from billing_batch.intake.kinds import CLIENTS, KINDS_BY_NAME, RATES, SERVICE_LOG, CellType
from billing_batch.workbook_templates import TEMPLATES, build_input_templates, repo_templates_dir

END = date(2026, 11, 26)

# --------------------------------------------------------------------------- blank templates


def _zip_parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_templates_build_byte_for_byte_the_same(tmp_path):
    first = build_input_templates(tmp_path / "a")
    second = build_input_templates(tmp_path / "b")
    assert [p.name for p in first] == [name for name, _ in TEMPLATES]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_committed_templates_equal_a_fresh_build(tmp_path):
    for fresh in build_input_templates(tmp_path):
        committed = repo_templates_dir() / fresh.name
        assert committed.exists(), f"run: python -m billing_batch.workbook_templates ({fresh.name})"
        assert _zip_parts(committed) == _zip_parts(fresh), (
            f"{fresh.name} is stale: run python -m billing_batch.workbook_templates")


@pytest.mark.parametrize("file_name,kinds", TEMPLATES, ids=[n for n, _ in TEMPLATES])
def test_template_headers_and_drop_downs(tmp_path, file_name, kinds):
    build_input_templates(tmp_path)
    wb = load_workbook(tmp_path / file_name)
    assert wb.sheetnames == [k.name for k in kinds] + ["Instructions"]
    for kind in kinds:
        ws = wb[kind.name]
        headers = [c.value for c in ws[1]][: len(kind.columns)]
        assert headers == [c.name for c in kind.columns]
        assert ws.max_column == len(kind.columns)
        lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation
                 if dv.type == "list"}
        for idx, column in enumerate(kind.columns, start=1):
            letter = get_column_letter(idx)
            if column.type is CellType.YES_NO:
                assert lists[f"{letter}2:{letter}1000"] == '"Y,N"', column.name
            elif column.type is CellType.CHOICE:
                assert lists[f"{letter}2:{letter}1000"] == '"' + ",".join(column.choices) + '"'
            if column.type is CellType.ID:
                assert ws[f"{letter}2"].number_format == "@", column.name
        instructions = [r[0] for r in wb["Instructions"].iter_rows(values_only=True)]
        assert all(c.name in instructions for c in kind.columns)


# --------------------------------------------------------------------------- demo office


def _cell_values(folder: Path) -> dict:
    values = {}
    for path in sorted(folder.glob("*.xlsx")):
        wb = load_workbook(path)
        for ws in wb:
            values[(path.name, ws.title)] = [list(r) for r in ws.iter_rows(values_only=True)]
    return values


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("demo") / "inbox"
    return inbox, write_demo_inbox(inbox, END, seed=7)


def _table(path: Path, sheet: str, kind_name: str) -> tuple[int, list[str], list[tuple]]:
    """(header row, headers, data rows) of a sheet, finding the header row like the intake does."""
    ws = load_workbook(path)[sheet]
    required = set(KINDS_BY_NAME[kind_name].required)
    for row in range(1, 11):
        headers = [c.value for c in ws[row]]
        if required <= set(headers):
            data = [r for r in ws.iter_rows(min_row=row + 1, values_only=True)
                    if any(v not in (None, "") for v in r)]
            return row, headers, data
    raise AssertionError(f"no {kind_name} header in {path.name}/{sheet}")


def _service_logs(inbox: Path) -> list[Path]:
    return sorted(inbox.glob("service log *.xlsx"))


def test_demo_is_deterministic(demo, tmp_path):
    inbox, info = demo
    again = write_demo_inbox(tmp_path / "again", END, seed=7)
    assert again.mistakes == info.mistakes and again.rows == info.rows
    assert _cell_values(tmp_path / "again") == _cell_values(inbox)
    assert [p.read_bytes() for p in again.files] == [p.read_bytes() for p in info.files]


def test_demo_files(demo):
    inbox, info = demo
    names = [p.name for p in info.files]
    assert names == ["clients.xlsx", "rate card.xlsx", "service log 2026-09.xlsx",
                     "service log 2026-10.xlsx", "service log 2026-11.xlsx", "remittances.xlsx",
                     "payment plans.xlsx"]
    assert sorted(p.name for p in inbox.iterdir()) == sorted(names)
    assert (info.first_day, info.last_day) == (date(2026, 8, 26), date(2026, 11, 25))
    assert 5 <= len(info.mistakes) <= 7
    assert len({m.file for m in info.mistakes}) >= 4


def test_demo_clients(demo):
    inbox, info = demo
    _, headers, rows = _table(inbox / "clients.xlsx", "Clients", "Clients")
    assert headers == [c.name for c in CLIENTS.columns]
    col = {h: i for i, h in enumerate(headers)}
    assert len(rows) >= 40 and info.rows_by_file()["clients.xlsx"] == len(rows)
    ids = [r[col["Client ID"]] for r in rows]
    assert "00042" in ids and all(isinstance(i, str) for i in ids)  # text, zeros kept
    assert len(set(ids)) == len(ids)
    names = [r[col["Name"]] for r in rows]
    assert any("&" in n for n in names) and any("'" in n for n in names)
    assert {"José Núñez", "Zoë Müller", "Renée Lefèvre"} <= set(names)
    types = [r[col["Type"]] for r in rows]
    assert 0.25 <= types.count("Business") / len(types) <= 0.45
    assert all(r[col["Attention"]] for r in rows if r[col["Type"]] == "Business")
    assert any(r[col["Payer"]] and r[col["Coinsurance %"]] == 20 for r in rows)
    assert [r[col["Collections Hold"]] for r in rows].count("Y") == 1
    assert [r[col["Tax Exempt"]] for r in rows].count("Y") >= 2


def test_demo_rate_card(demo):
    inbox, _ = demo
    wb = load_workbook(inbox / "rate card.xlsx")
    assert {"Rates", "Payer Fees"} <= set(wb.sheetnames) and len(wb.sheetnames) == 3
    _, headers, rows = _table(inbox / "rate card.xlsx", "Rates", "Rates")
    assert headers == [c.name for c in RATES.columns]
    col = {h: i for i, h in enumerate(headers)}
    codes = [r[col["Service Code"]] for r in rows]
    assert len(set(codes)) >= 15
    changed = [c for c in set(codes) if codes.count(c) > 1]
    assert len(changed) == 1
    old, new = sorted((r for r in rows if r[col["Service Code"]] == changed[0]),
                      key=lambda r: r[col["Effective From"]])
    assert old[col["Effective From"]] != new[col["Effective From"]]
    assert (new[col["Effective From"]] - old[col["Effective To"]]).days == 1
    assert date(2026, 8, 26) < new[col["Effective From"]].date() < date(2026, 11, 25)
    assert old[col["Unit Price"]] != new[col["Unit Price"]]
    _, _, fees = _table(inbox / "rate card.xlsx", "Payer Fees", "Payer Fees")
    assert [f[3] for f in fees].count("N") == 1


def test_demo_service_logs(demo):
    inbox, info = demo
    _, _, clients = _table(inbox / "clients.xlsx", "Clients", "Clients")
    client_ids = {r[0] for r in clients}
    _, _, rates = _table(inbox / "rate card.xlsx", "Rates", "Rates")
    codes = {r[0] for r in rates}
    bad_rows = {(m.file, m.row) for m in info.mistakes}
    total, text_dates, title_rows = 0, [], 0
    for path in _service_logs(inbox):
        ws_name = load_workbook(path).sheetnames[0]
        header_row, headers, rows = _table(path, ws_name, "Service Log")
        title_rows += header_row == 3
        assert set(headers) >= {c.name for c in SERVICE_LOG.columns}
        assert info.rows_by_file()[path.name] == len(rows)
        total += len(rows)
        col = {h: i for i, h in enumerate(headers)}
        for offset, r in enumerate(rows, start=header_row + 1):
            if (path.name, offset) in bad_rows:
                continue
            day = r[col["Service Date"]]
            if isinstance(day, str):
                text_dates.append(day)
                day = (date.fromisoformat(day) if "-" in day
                       else datetime.strptime(day, "%m/%d/%Y").date())
            else:
                day = day.date()
            assert info.first_day <= day <= info.last_day and day.weekday() < 5
            assert r[col["Client ID"]] in client_ids
            assert r[col["Service Code"]] in codes
            assert r[col["Quantity"]] is None or r[col["Quantity"]] > 0
    assert total >= 500
    assert title_rows == 1
    assert sum("-" in d for d in text_dates) >= 2 and sum("/" in d for d in text_dates) == 1


def test_each_recorded_mistake_is_in_its_cell(demo):
    inbox, info = demo
    _, _, clients = _table(inbox / "clients.xlsx", "Clients", "Clients")
    _, _, rates = _table(inbox / "rate card.xlsx", "Rates", "Rates")
    for m in info.mistakes:
        ws = load_workbook(inbox / m.file)[m.sheet]
        header_row = next(r for r in range(1, 11) if m.column in [c.value for c in ws[r]])
        col = [c.value for c in ws[header_row]].index(m.column) + 1
        value = ws.cell(row=m.row, column=col).value
        expected = re.search(r'"([^"]*)"', m.description).group(1)
        assert ("" if value is None else str(value)) == expected, m
        assert m.row > header_row
        if "Client ID" == m.column:
            assert value not in {r[0] for r in clients}
        if "unknown Service Code" in m.description:
            assert value not in {r[0] for r in rates}
        if m.file.startswith("service log") and m.column != "Service Date":
            day_col = [c.value for c in ws[header_row]].index("Service Date") + 1
            day = ws.cell(row=m.row, column=day_col).value.date()
            assert (day - info.first_day).days >= 14 and (info.last_day - day).days >= 3
