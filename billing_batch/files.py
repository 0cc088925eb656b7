"""Files under their final names only when complete, and no temporary file left behind.

Every file billing-batch writes is first written as `.tmp-<pid>@<host>-…` in its folder, synced and
renamed. A run killed half-way leaves such temporary files (a whole or partial invoice, visible to
anyone browsing the share); the next run, holding the run lock, removes those of processes that no
longer exist (`remove_stale_temps`) before writing its own.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from collections.abc import Iterable
from pathlib import Path

TEMP_PREFIX = ".tmp-"
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
_OURS = re.compile(r"^\.tmp-(\d+)@([A-Za-z0-9_]+)-")
FOREIGN_AGE = 3600  # another machine's, or an older version's: removed once this old (seconds)


def is_temp(name: str | os.PathLike) -> bool:
    """Whether `name` is one of billing-batch's temporary files (never shown to staff by that name)."""
    return Path(name).name.startswith(TEMP_PREFIX)


def cannot_write(exc: OSError, target: Path) -> str:
    """What staff read when `target` could not be written: the final name (never our temporary one)
    and the system's reason, e.g. "invoices/INV-….docx: cannot write in /office/output/invoices
    (Permission denied)"."""
    name = str(exc.filename) if exc.filename is not None else ""
    folder = Path(name) if name and not is_temp(name) and Path(name) != target else target.parent
    return f"cannot write in {folder} ({exc.strerror or exc})"


def failure_lines(failures: list[str], each: int = 3) -> list[str]:
    """Failures ("what: why") as staff read them: when many share one reason (a read-only folder, a full
    disk), one line for them all instead of one per document."""
    by_reason: dict[str, list[str]] = {}
    for f in failures:
        what, _, why = f.partition(": ")
        by_reason.setdefault(why, []).append(what)
    lines = []
    for why, whats in by_reason.items():
        if len(whats) > each:
            lines.append(f"{len(whats)} files ({whats[0]} … {whats[-1]}): {why}")
        else:
            lines += [f"{w}: {why}" if why else w for w in whats]
    return lines


def temp_prefix() -> str:
    """The prefix of this process's temporary files: who wrote them, so a later run knows whether
    the writer is gone."""
    return f"{TEMP_PREFIX}{os.getpid()}@{_HOST}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:  # a killed run's render worker may linger as a zombie nobody reaps: dead all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _writer_gone(name: str, mtime: float, now: float) -> bool:
    m = _OURS.match(name)
    if m and m.group(2) == _HOST:
        pid = int(m.group(1))
        if pid != os.getpid() and not _alive(pid):
            return True
    return now - mtime > FOREIGN_AGE  # alive, a reused pid, or another machine's: once surely stale


def remove_stale_temps(folders: Iterable[Path]) -> list[Path]:
    """Remove temporary files left by writers that no longer run, under `folders`; returns them."""
    removed, now = [], time.time()
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, _, names in os.walk(folder):
            for name in names:
                if not is_temp(name):
                    continue
                path = Path(root) / name
                try:
                    if _writer_gone(name, path.stat().st_mtime, now):
                        path.unlink()
                        removed.append(path)
                except OSError:  # gone already, or a folder we may not change: not this run's business
                    continue
    return removed


def file_mode() -> int:
    """The mode a file saved by this process would get (0o666 less the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform can open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def move_durably(src: Path, dest: Path) -> None:
    """Move `src` to `dest` (which must not exist): a rename on one file system; across file
    systems a copy under a temporary name, synced and renamed, then `src` removed. Either way
    `dest` never exists half-written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another file system
            raise
        tmp = dest.with_name(f"{temp_prefix()}{dest.name}")
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())
            shutil.copystat(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        src.unlink()
    sync_folder(dest.parent)
