"""A stand-in for `soffice --convert-to pdf` where LibreOffice itself is not the point (the crash
tests): a shell script that writes a one-page blank PDF per Word file, named as LibreOffice names
it, in milliseconds. Point `documents.libreoffice` at `fake_soffice_program(folder)`."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfWriter

SCRIPT = """#!/bin/sh
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --outdir) out="$2"; shift ;;
    *.docx) name=$(basename "$1" .docx); cp "{page}" "$out/$name.pdf" ;;
  esac
  shift
done
"""


def fake_soffice_program(folder: Path) -> Path:
    """An executable script in `folder` (with the blank page it copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "blank-page.pdf"
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    writer.write(buf)
    page.write_bytes(buf.getvalue())
    script = folder / "fake-soffice"
    script.write_text(SCRIPT.replace("{page}", str(page)))
    script.chmod(0o755)
    return script
