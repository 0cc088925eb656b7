"""Rendering Word documents from docxtpl templates, safely and atomically.

Values are escaped (autoescape) and a missing key is an error (StrictUndefined) in a sandboxed
Jinja environment: a client named `Smith & Sons <Ltd>` prints as written and cannot run template
code. Files appear under their final name only when complete (temp file, fsync, os.replace).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from docxtpl import DocxTemplate
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment


def jinja_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


def render_docx(template: Path, context: dict) -> bytes:
    doc = DocxTemplate(str(template))
    doc.render(context, jinja_env=jinja_env())
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
