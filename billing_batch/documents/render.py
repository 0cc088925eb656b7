"""Rendering Word documents from docxtpl templates, safely and atomically.

Values are escaped (autoescape) and a missing key is an error (StrictUndefined) in a sandboxed
Jinja environment: a client named `Smith & Sons <Ltd>` prints as written and cannot run template
code. Files appear under their final name only when complete (temp file, fsync, os.replace).

Rendering goes through `fast_render`: each template is prepared once per process and every
document is, part for part and byte for byte, what docxtpl writes (tests/test_fast_render.py).
`render_many` renders and writes a batch over all cores.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from billing_batch import faults
from billing_batch.files import file_mode, is_temp, sync_folder, temp_prefix

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from billing_batch.documents import fast_render
    from billing_batch.documents.fast_render import Job, Rendered, iter_render_many, write_durably

# fast_render (python-docx, docxtpl, lxml) loads when a document is rendered, not for write_atomic:
# a quiet night writes workbooks and reports, no document.
_LAZY = ("fast_render", "Job", "Rendered", "iter_render_many", "write_durably")


def __getattr__(name: str):
    if name in _LAZY:
        from billing_batch.documents import fast_render

        return fast_render if name == "fast_render" else getattr(fast_render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Job", "Rendered", "iter_render_many", "jinja_env", "render_docx", "render_many", "write_atomic",
           "write_durably"]


def jinja_env() -> SandboxedEnvironment:
    from billing_batch.documents import fast_render

    return fast_render.strict_env()


def render_docx(template: Path, context: dict) -> bytes:
    from billing_batch.documents import fast_render

    return fast_render.render_bytes(Path(template), context)


def render_many(jobs: Iterable[Job], workers: int | None = None) -> list[Rendered]:
    """Render and write each (template_path, context, output_path) job, over `workers` processes
    (default: every usable core; small batches stay in this process). Returns one `Rendered`
    (path, error) per job in job order; a job that fails has `error` set ("Type: message") and
    the others are still written. Files are written as `write_atomic` writes them, fsynced in
    groups. `iter_render_many` yields the same outcomes as each chunk lands, so a caller can mark
    its outbox rows done in batches while the rest renders."""
    from billing_batch.documents import fast_render

    return fast_render.render_many(jobs, workers)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` so that it appears whole or not at all (temp file, fsync, rename), readable by the
    office like any file it saves (mkstemp alone would make it private to this user)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=path.suffix)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), file_mode())
            os.fsync(fh.fileno())
        faults.reach("temp")
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.filename is None or is_temp(str(exc.filename))):
            exc.filename = str(path)  # a full disk names no file; staff never see our temporary name
        raise
    sync_folder(path.parent)
