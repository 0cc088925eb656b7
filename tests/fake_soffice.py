"""A stand-in for `soffice --convert-to pdf` where LibreOffice itself is not the point (the crash
tests): one blank page per Word file, named as LibreOffice names it, in a fraction of the time.
Point `documents.libreoffice` at `fake_soffice_program(folder)`."""

from __future__ import annotations

import sys
from pathlib import Path


def fake_soffice_program(folder: Path) -> Path:
    """An executable script in `folder` that runs this module with the tests' Python."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "fake-soffice"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} \"$@\"\n")
    script.chmod(0o755)
    return script


def main(args: list[str]) -> int:
    from pypdf import PdfWriter

    out = Path(args[args.index("--outdir") + 1])
    for name in (a for a in args if a.endswith(".docx")):
        writer = PdfWriter()
        writer.add_blank_page(width=612, height=792)
        with open(out / f"{Path(name).stem}.pdf", "wb") as fh:
            writer.write(fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
