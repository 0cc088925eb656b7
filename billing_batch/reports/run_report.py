"""The JSON run report in output/runs/ (SPEC §6.1, §6.8): counts, IDs, files, rows — never client
names, addresses or cell values (a value could be a name)."""

from __future__ import annotations

import json
from pathlib import Path

from billing_batch.documents.render import write_atomic
from billing_batch.problems import Problem


def problem_entry(p: Problem) -> dict:
    w = p.where
    return {"level": p.level, "file": w.file, "sheet": w.sheet, "row": w.row, "column": w.column,
            "cell": w.cell, "message": p.message}


def write_run_report(path: Path, report: dict) -> None:
    write_atomic(path, json.dumps(report, indent=2, default=str).encode("utf-8"))
