"""Word files to PDF with LibreOffice headless, in one `soffice --convert-to pdf` call per batch.

One call for many files: LibreOffice starts once (~1.2 s) and then takes ~0.1 s a file, against
~1.2-1.6 s a file one call each (LIBRARY-NOTES; benchmarks/run.py measures it). A batch larger
than MAX_FILES is split: LibreOffice drops files past ~247 in one call without a word. Each call has a profile of its own
(`-env:UserInstallation`) in a temporary folder, so it never hands the work to a LibreOffice the
user has open, nor collides with a second run. PDFs are made in that temporary folder and copied
into place beside their .docx under a temporary name, then renamed (render.write_atomic).

A call that outlives its time limit is killed with its whole process group (soffice starts
oosplash and soffice.bin). LibreOffice missing, a failed or a hung call: each PDF gets a reason,
the caller records it and the next run tries again; nothing here raises for that.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from billing_batch.documents.render import write_atomic

NOT_INSTALLED = "LibreOffice is not installed (no soffice or libreoffice on PATH)"
# Room left on the command line for soffice's own arguments and the environment.
_ARG_BUDGET = min(max(os.sysconf("SC_ARG_MAX") // 2, 32_000), 1_000_000) if hasattr(os, "sysconf") else 32_000


def soffice(configured: str = "") -> str | None:
    """The program to run: the one configured (documents.libreoffice), else soffice or libreoffice
    on PATH; None when there is none."""
    if configured:
        return shutil.which(configured)
    return shutil.which("soffice") or shutil.which("libreoffice")


@dataclass(frozen=True)
class Limits:
    start_seconds: float  # for LibreOffice to start and finish
    per_document_seconds: float  # added for each document of a call


# LibreOffice 7.4 silently stops after ~247 files of one call (exit 0; measured with 300 and 487
# invoices): a call takes at most this many.
MAX_FILES = 200


def chunks(sources: Sequence[Path], budget: int = _ARG_BUDGET, most: int = MAX_FILES) -> list[list[Path]]:
    """Calls of at most `budget` bytes of arguments and `most` files, and never two files with the
    same name in one call (LibreOffice would write both to one <name>.pdf). One call for a run of
    up to 200 documents."""
    out: list[list[Path]] = []
    size, names = budget, set()  # start "full" so the first file opens a call
    for src in sources:
        length = len(os.fsencode(str(src))) + 1
        if size + length > budget or src.stem in names or len(names) >= most:
            out.append([])
            size, names = 0, set()
        out[-1].append(src)
        size += length
        names.add(src.stem)
    return out


def convert(pairs: Sequence[tuple[Path, Path]], limits: Limits, configured: str = "") -> dict[Path, str | None]:
    """(docx, pdf target) pairs → {pdf target: None when written, else why not}."""
    if not pairs:
        return {}
    program = soffice(configured)
    if program is None:
        why = f"LibreOffice was not found at {configured} (documents.libreoffice)" if configured else NOT_INSTALLED
        return {target: why for _, target in pairs}
    target_of = {src: target for src, target in pairs}
    outcome: dict[Path, str | None] = {}
    for call in chunks([src for src, _ in pairs]):
        outcome |= _convert_call(program, call, target_of, limits)
    return outcome


def _convert_call(program: str, sources: list[Path], target_of: dict[Path, Path], limits: Limits) -> dict[Path, str | None]:
    limit = limits.start_seconds + limits.per_document_seconds * len(sources)
    with tempfile.TemporaryDirectory(prefix="billing-batch-pdf-") as scratch:
        work = Path(scratch)
        out_dir = work / "out"
        out_dir.mkdir()
        args = [program, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless", "--norestore",
                "--nologo", "--nodefault", "--nolockcheck", "--convert-to", "pdf", "--outdir", str(out_dir),
                *map(str, sources)]
        error = _run(args, limit)
        result: dict[Path, str | None] = {}
        for src in sources:
            made = out_dir / f"{src.stem}.pdf"
            target = target_of[src]
            if made.is_file() and made.stat().st_size > 0:
                try:
                    write_atomic(target, made.read_bytes())
                    result[target] = None
                except OSError as exc:
                    result[target] = f"could not be written ({exc.strerror or exc})"
            else:
                result[target] = error or "LibreOffice did not convert it (is the Word file damaged?)"
        return result


def _run(args: list[str], limit: float) -> str | None:
    """Run one soffice call in a process group of its own; None, or why it failed."""
    env = {**os.environ, "SAL_USE_VCLPLUGIN": "svp"}  # no display needed, whatever DISPLAY says
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, env=env)
    except OSError as exc:
        return f"LibreOffice could not be started ({exc.strerror or exc})"
    try:
        _, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return f"LibreOffice did not finish within {limit:g} s (documents.pdf_timeout_seconds) and was stopped"
    finally:
        _kill_group(proc)  # whatever it left running (a stray soffice.bin) goes with it
    if proc.returncode != 0:
        last = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return f"LibreOffice failed (exit {proc.returncode}) {last[0][:200]}".strip()
    return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError):
        pass
