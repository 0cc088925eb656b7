"""Table-driven intake cases (SPEC §3): every case in tests/workbook_cases.py, built by code and read
with `read_file` (or `is_ignored` / `scan_inbox` / the problems workbook round trip)."""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

import billing_batch.intake.workbook as workbook_module
from billing_batch.config import Settings
from billing_batch.intake.inbox import FileIntake, NotReady, is_ignored, read_file, scan_inbox
from billing_batch.problems import Problem
from billing_batch.reports.problems_workbook import write_problems_workbook
from tests import workbook_cases as wc


def _param(case: wc.Case):
    marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {case.bug}")] if case.bug else []
    return pytest.param(case, id=case.id, marks=marks)


# -- comparing ---------------------------------------------------------------------------------------

def canon(value: object) -> tuple:
    """Values compared with their type: Decimal by its exact text (12.50 is not 12.5), date is not
    datetime, "1001" is not 1001."""
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


def show(p: Problem) -> str:
    w = p.where
    return (f"[{p.level}] file={w.file!r} sheet={w.sheet!r} row={w.row!r} column={w.column!r} cell={w.cell!r} "
            f"message={p.message!r} value={p.value!r}")


def show_expected(e: wc.P) -> str:
    msg = e.message.pattern if isinstance(e.message, re.Pattern) else e.message
    return (f"[{e.level}] sheet={e.sheet!r} row={e.row!r} column={e.column!r} cell={e.cell!r} "
            f"message={msg!r} value={e.value!r}")


def matches(expected: wc.P, actual: Problem, file: str) -> bool:
    w = actual.where
    if (w.file, w.sheet, w.row, w.column, w.cell, actual.level) != (
            file, expected.sheet, expected.row, expected.column, expected.cell, expected.level):
        return False
    if isinstance(expected.message, re.Pattern):
        if not expected.message.fullmatch(actual.message):
            return False
    elif actual.message != expected.message:
        return False
    return expected.value is wc.ANY or canon(actual.value) == canon(expected.value)


def all_problems(intake: FileIntake) -> list[Problem]:
    return [*intake.problems, *(p for s in intake.sheets for p in s.problems)]


def assert_problems(intake: FileIntake, expected: tuple[wc.P, ...]) -> None:
    """Exactly the expected problems, no more, no fewer (order free)."""
    left = all_problems(intake)
    missing = []
    for e in expected:
        hit = next((a for a in left if matches(e, a, intake.name)), None)
        if hit is None:
            missing.append(e)
        else:
            left.remove(hit)
    assert not missing and not left, (
        "problems differ\n  expected but not reported:\n    " + "\n    ".join(map(show_expected, missing))
        + "\n  reported but not expected:\n    " + "\n    ".join(map(show, left)))


def assert_sheets(intake: FileIntake, expected: tuple[wc.Sheet, ...]) -> None:
    got = [(s.sheet, s.kind.name, s.header_row) for s in intake.sheets]
    assert got == [(e.sheet, e.kind, e.header_row) for e in expected]
    for parsed, exp in zip(intake.sheets, expected):
        assert all(r.file == intake.name and r.sheet == parsed.sheet for r in parsed.rows)
        actual_rows = [(r.row, {k: canon(v) for k, v in r.values.items()}) for r in parsed.rows]
        expected_rows = [(n, {k: canon(v) for k, v in vals.items()}) for n, vals in exp.rows]
        assert actual_rows == expected_rows, f"rows of sheet {parsed.sheet!r} differ"


def guard_calamine(monkeypatch) -> list:
    """Any call of the workbook reader is recorded and fails the read."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("python_calamine must not see this file")

    monkeypatch.setattr(workbook_module.python_calamine.CalamineWorkbook, "from_path", refuse)
    return calls


# -- the cases ---------------------------------------------------------------------------------------

def check_read(case: wc.Case, exp: wc.Read, tmp_path: Path, monkeypatch) -> None:
    path = case.build(tmp_path)
    calls = guard_calamine(monkeypatch) if exp.calamine_never else []
    started = time.perf_counter()
    intake = read_file(path, Settings(**case.settings))
    elapsed = time.perf_counter() - started
    assert calls == []
    if exp.max_seconds is not None:
        assert elapsed < exp.max_seconds, f"read_file took {elapsed:.2f} s"
    assert intake.unreadable is exp.unreadable
    assert_problems(intake, exp.problems)
    if exp.unreadable:
        assert intake.sheets == [] or all(not s.rows for s in intake.sheets)
    if exp.sheets is not None:
        assert_sheets(intake, exp.sheets)


def check_waits(case: wc.Case, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    with pytest.raises(NotReady):
        read_file(path, Settings(**case.settings))


def check_ignored(case: wc.Case, exp: wc.Ignored, tmp_path: Path) -> None:
    folder = case.build(tmp_path)
    assert {n: is_ignored(folder / n) for n in exp.ignored + exp.kept} == (
        {n: True for n in exp.ignored} | {n: False for n in exp.kept})


def check_scan(case: wc.Case, exp: wc.Scan, tmp_path: Path) -> None:
    inbox = case.build(tmp_path)
    slept = []

    def sleep(seconds):  # the copy goes on between the two looks
        slept.append(seconds)
        with (inbox / exp.grows).open("ab") as fh:
            fh.write(b"\0" * 4096)

    scan = scan_inbox(inbox, 2, sleep=sleep)
    assert slept == [2]
    assert sorted(p.name for p in scan.ready) == sorted(exp.ready)
    assert sorted((p.name, why) for p, why in scan.waiting) == sorted((n, exp.reason) for n in exp.waiting)
    assert sorted(p.name for p in scan.ignored) == sorted(exp.ignored)


def put_fix(cell, value) -> None:
    if isinstance(value, Decimal):
        value = float(value)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
    elif isinstance(value, (date, datetime)):
        cell.number_format = "yyyy-mm-dd"


def check_round_trip(case: wc.Case, exp: wc.RoundTrip, tmp_path: Path) -> None:
    settings = Settings(**case.settings)
    first = read_file(case.build(tmp_path), settings)
    assert_problems(first, exp.first)

    rejected = tmp_path / "rejected" / f"{first.name}.problems.xlsx"
    rejected.parent.mkdir()
    assert write_problems_workbook(first, rejected) is True

    # Dropped back as it is: the same problems on the same logical rows, now rows 2..n; the
    # Problems and Occurrence columns it added are not "unknown columns".
    again = read_file(rejected, settings)
    assert not again.unreadable
    assert not [p for p in all_problems(again) if p.where.column in ("Problems", "Occurrence")]
    assert_problems(again, exp.again)

    # Fixed by staff in Excel (here openpyxl) and dropped back: nothing wrong, the fixed values.
    wb = load_workbook(rejected)
    for (sheet_name, ref), value in exp.fixes.items():
        put_fix(wb[sheet_name][ref], value)
    dropped = tmp_path / "inbox" / rejected.name
    dropped.parent.mkdir()
    wb.save(dropped)
    fixed = read_file(dropped, settings)
    assert not fixed.unreadable
    assert_problems(fixed, ())
    assert_sheets(fixed, exp.fixed)


@pytest.mark.parametrize("case", [_param(c) for c in wc.CASES])
def test_workbook_case(case: wc.Case, tmp_path: Path, monkeypatch) -> None:
    exp = case.expected
    if isinstance(exp, wc.Read):
        check_read(case, exp, tmp_path, monkeypatch)
    elif isinstance(exp, wc.Waits):
        check_waits(case, tmp_path)
    elif isinstance(exp, wc.Ignored):
        check_ignored(case, exp, tmp_path)
    elif isinstance(exp, wc.Scan):
        check_scan(case, exp, tmp_path)
    elif isinstance(exp, wc.RoundTrip):
        check_round_trip(case, exp, tmp_path)
    else:
        raise AssertionError(f"unknown expectation {exp!r}")


def test_the_table_covers_enough_cases() -> None:
    assert len(wc.CASES) >= 45
