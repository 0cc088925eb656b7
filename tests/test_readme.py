"""The README's quick start: exactly two commands, and the first one really produces invoices and an
aging workbook for the demo office (run here with this checkout's code, without reinstalling)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quickstart() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quickstart -->(.*?)<!-- /quickstart -->", text, re.S).group(1)
    return re.findall(r"```sh\n(.*?)\n```", block, re.S)


def test_quickstart_is_two_commands_install_and_run_then_install_and_test():
    run, tests = quickstart()
    assert "\n" not in run and "\n" not in tests
    assert "pip install ." in run and "billing-batch init demo-office --demo" in run
    assert "billing-batch run --config demo-office/config.yaml" in run
    assert "pip install '.[test]'" in tests and tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text()
    assert "<!-- quickstart -->" in script and 'bash -c "$test_command"' in script


def test_quickstart_run_command_produces_invoices_and_aging(tmp_path):
    run, _ = quickstart()
    steps = [s.strip() for s in run.split("&&") if "billing-batch" in s]
    for step in steps:
        args = step.split()[1:]  # drop ".venv/bin/billing-batch": run this checkout's code instead
        if args[0] == "run":  # the demo inbox was just written: no need to wait for copies to settle
            cfg = tmp_path / "demo-office" / "config.yaml"
            cfg.write_text(cfg.read_text().replace("settle_seconds: 2", "settle_seconds: 0"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", "billing_batch", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Invoices:" in out and "Aging workbook:" in out
    office = tmp_path / "demo-office"
    assert len(list((office / "output" / "invoices").rglob("*-INV-*.docx"))) > 40
    assert len(list((office / "output" / "reports").glob("aging-2*.xlsx"))) == 1
