"""A quiet night loads only what it uses (issue 17.3), and the benchmark can be installed and compared
(issue 17.5). Nothing here is timed: the benchmark measures; these check behaviour."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from openpyxl import load_workbook

from billing_batch.ledger.db import alembic_config, head_revision, open_ledger

REPO = Path(__file__).resolve().parents[1]
# What a quiet night must not import: it reads no sheet, changes no schema, makes no print pack.
NOT_ON_A_QUIET_NIGHT = ("pandas", "pandera", "alembic", "pypdf")

_CHILD = """
import runpy, sys
sys.argv = ["billing-batch", "run", "--config", sys.argv[1], "--as-of", sys.argv[2]]
try:
    runpy.run_module("billing_batch", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("MODULES", " ".join(sorted({m.split(".")[0] for m in sys.modules})))
print("EXIT", code)
"""


def _run_in_child(config: Path, day: str) -> tuple[int, set[str]]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(config), day], capture_output=True, text=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=300)
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("MODULES ", "EXIT ")))
    assert "EXIT" in lines, out.stdout[-2000:] + out.stderr[-2000:]
    return int(lines["EXIT"]), set(lines["MODULES"].split())


def test_the_head_read_from_the_scripts_is_alembics_head():
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_quiet_night_imports_no_pandas_pandera_alembic_or_pypdf_and_still_writes_its_workbook(sqlite_office):
    office = sqlite_office
    first, modules = _run_in_child(office.config, "2026-03-31")  # a new ledger: Alembic creates it
    assert first == 0
    assert "alembic" in modules
    code, modules = _run_in_child(office.config, "2026-04-01")  # nothing new, ledger at head
    assert code == 0
    assert not set(NOT_ON_A_QUIET_NIGHT) & modules
    # A new business date still gets its own aging workbook (SPEC §5), read back.
    book = load_workbook(office.settings.output / "reports" / "aging-2026-04-01.xlsx", read_only=True)
    assert book.sheetnames[0] == "Summary"
    engine = open_ledger(office.settings.database_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [head_revision()]
            assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 2
    finally:
        engine.dispose()


def _third_party_imports(folder: Path) -> set[str]:
    found = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("billing_batch", "benchmarks")}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()


def test_everything_the_benchmark_imports_is_installed_by_the_bench_extra():
    """`pip install '.[bench]'` then `python -m benchmarks.run` (README): each library the benchmark
    imports comes with the project or with its `bench` extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["bench"]}
    dists = packages_distributions()
    imports = _third_party_imports(REPO / "benchmarks")
    assert "xlsxwriter" in imports
    missing = {m for m in imports if not {_name(d) for d in dists.get(m, [m])} & declared}
    assert missing == set()


def test_the_benchmark_json_names_its_commit_or_says_unknown(tmp_path, monkeypatch):
    from benchmarks import run

    info = run.provenance()
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", info["commit"])
    assert dt.datetime.fromisoformat(info["date"])
    monkeypatch.setattr(run, "REPO", tmp_path)  # a copy outside any git checkout
    assert run.provenance()["commit"] == "unknown"
    json.dumps(info)


def test_import_times_are_read_from_importtime_lines():
    from benchmarks.run import _import_times

    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:       100 |        300 |   sqlalchemy.sql\n"
              "import time:       200 |       1000 | sqlalchemy\n"
              "import time:        50 |        500 | billing_batch\n"
              "a warning line\n")
    seconds, heavy = _import_times(stderr)  # the top-level entries (one space after the bar) add up
    assert seconds == 0.0015
    assert heavy == ["sqlalchemy"]
