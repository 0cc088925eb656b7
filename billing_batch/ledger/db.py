"""Opening the ledger: engine, automatic migrations, and the guard on issued documents."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from billing_batch.ledger.schema import IMMUTABLE_TABLES

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
NETWORK_FS = {"cifs", "smb3", "smbfs", "nfs", "nfs4", "9p", "fuse.sshfs", "afs", "ncpfs"}
_CHANGE_ISSUED = re.compile(
    r"^\s*(UPDATE|DELETE\s+FROM)\s+\"?(" + "|".join(IMMUTABLE_TABLES) + r")\b", re.IGNORECASE)


class LedgerError(Exception):
    """The ledger cannot be opened or used; the message says what to do."""


class IssuedDocumentChanged(LedgerError):
    """Something tried to change an issued invoice or credit note (SPEC §6.2)."""


def alembic_config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _filesystem_type(path: Path) -> str | None:
    """The mount type holding `path`, from /proc/mounts (Linux); None where unknown."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3:
            mount = parts[1].replace("\\040", " ")
            if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                best, fstype = mount, parts[2]
    return fstype


def open_ledger(url: str) -> Engine:
    """An engine on the migrated ledger. SQLite on a network share is refused (it can corrupt)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if _filesystem_type(path.parent) in NETWORK_FS:
            raise LedgerError(f"the SQLite ledger {path} is on a network share, where SQLite can corrupt; "
                              "set `database:` in config.yaml to a local path or a PostgreSQL URL")
    try:
        engine = create_engine(url, future=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerError(f"`database:` is not a usable database URL ({exc})") from exc
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _):
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn, cursor, statement, params, context, executemany):
        if _CHANGE_ISSUED.match(statement):
            raise IssuedDocumentChanged("issued invoices and credit notes never change; correct them with "
                                        "an Adjustment (Credit, Void or Write-off)")

    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
    except SQLAlchemyError as exc:
        engine.dispose()
        raise LedgerError(f"cannot open the ledger at {engine.url.render_as_string(hide_password=True)}: "
                          f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
    return engine
