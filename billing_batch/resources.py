"""Files shipped with billing-batch: Word templates, blank workbooks, the commented config.

In a wheel they sit under billing_batch/_data (pyproject force-include); in a source checkout or
an editable install they are read from the top of the repository, where developers edit them.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent
_IN_REPO = {"letter_templates": "letter_templates", "workbooks": "workbooks/templates",
            "config.yaml": "config.yaml"}


def data_path(name: str) -> Path:
    """`letter_templates`, `workbooks` or `config.yaml`."""
    packaged = _PACKAGE / "_data" / name
    if packaged.exists():
        return packaged
    return _REPO / _IN_REPO[name]
