"""Rendering Word documents from docxtpl templates, safely and atomically.

Values are escaped (autoescape) and a missing key is an error (StrictUndefined) in a sandboxed
Jinja environment: a client named `Smith & Sons <Ltd>` prints as written and cannot run template
code. Files appear under their final name only when complete (temp file, fsync, os.replace).

Rendering goes through `fast_render`: each template is prepared once per process and every
document is byte for byte, part for part, what docxtpl would write (tests/test_fast_render.py).
`render_many` renders a batch over all cores.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment

from billing_batch.documents.fast_render import Job, Rendered, iter_render_many, render_bytes, strict_env
from billing_batch.documents.fast_render import render_many as _render_many

__all__ = ["Job", "Rendered", "iter_render_many", "jinja_env", "render_docx", "render_many", "write_atomic"]


def jinja_env() -> SandboxedEnvironment:
    return strict_env()


def render_docx(template: Path, context: dict) -> bytes:
    return render_bytes(Path(template), context)


def render_many(jobs: list[Job], workers: int | None = None) -> list[Rendered]:
    """Render and write each (template_path, context, output_path) job, over `workers` processes
    (default: every usable core; small batches stay in this process). Returns one `Rendered` per
    job in job order; a job that fails has `error` set and the others are still written."""
    return _render_many(jobs, workers)


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
