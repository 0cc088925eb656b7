"""One ledger belongs to one office (SPEC §8, issue 16).

The office folder keeps its identity in `office-id.json` (a generated office ID and the office's
name); the ledger keeps the same in `office_identity` from its first run. Every command that opens
the ledger checks the two before it touches anything, so an office folder pointed at another
office's ledger (or schema) stops with a sentence saying whose ledger it is and how to give this
office its own, instead of writing one office's patients into the other's folder.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from billing_batch.files import sync_folder, temp_prefix
from billing_batch.ledger.db import DEFAULT_SCHEMA, LedgerError, cannot_open, schema_words, where
from billing_batch.ledger.schema import office_identity

ID_FILE = "office-id.json"


class OtherOffice(LedgerError):
    """The ledger belongs to another office (exit 1); nothing was read or posted."""


@dataclass(frozen=True)
class Identity:
    office_id: str
    name: str
    ledger: str | None = None  # where the folder's first run recorded it (None in files from before)


@dataclass(frozen=True)
class OfficeFolder:
    folder: Path
    name: str  # office.name in config.yaml
    schema: str = DEFAULT_SCHEMA

    @property
    def id_file(self) -> Path:
        return self.folder / ID_FILE

    def read(self) -> Identity | None:
        """The folder's identity; None when it has none yet. A damaged file is refused, never replaced
        (replacing it would make this folder a stranger to its own ledger)."""
        try:
            data = json.loads(self.id_file.read_text(encoding="utf-8"))
            ledger = data.get("ledger")
            if not isinstance(data["office_id"], str) or not data["office_id"].strip():
                raise ValueError("no office ID in it")  # null, a number, "": damaged, not "office ID None"
            return Identity(str(data["office_id"]), str(data.get("name", "")), ledger if isinstance(ledger, str) else None)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"{self.id_file} cannot be read ({type(exc).__name__}); it says which office this folder "
                              "is. Restore it from a backup or from the same office's folder on another machine, "
                              "then run again") from exc

    def _write(self, ledger: str) -> Identity:
        """A new identity, written whole or not at all (a temporary file renamed)."""
        identity = Identity(uuid.uuid4().hex, self.name, ledger)
        tmp = self.id_file.with_name(f"{temp_prefix()}{ID_FILE}")
        try:
            self._dump(identity, tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            exc.filename = str(self.id_file)  # a full disk names no file; staff see which one
            raise
        os.replace(tmp, self.id_file)
        sync_folder(self.folder)
        return identity

    @staticmethod
    def _dump(identity: Identity, tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"office_id": identity.office_id, "name": identity.name, "ledger": identity.ledger,
                       "created": datetime.now().isoformat(timespec="seconds"),
                       "note": "Which office this folder is; its ledger records the same. Do not edit. "
                               "A second coordinator's copy of this office's folder needs this file too."},
                      fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())

    def _recorded(self, engine: Engine) -> Identity | None:
        with engine.connect() as conn:
            if not inspect(conn).has_table(office_identity.name):
                return None  # a ledger from before office identities (or a new one): nobody's yet
            row = conn.execute(select(office_identity.c.office_id, office_identity.c.name)).first()
        return Identity(row.office_id, row.name) if row else None

    def check(self, engine: Engine) -> None:
        """Refuse a ledger that another office has recorded as its own; read-only."""
        try:
            recorded = self._recorded(engine)
        except SQLAlchemyError as exc:
            raise cannot_open(engine, exc) from exc
        if recorded is None:
            return
        mine = self.read()
        if mine is not None and mine.office_id == recorded.office_id:
            return
        this = (f"this office folder ({self.folder}, office {self.name!r}) has "
                + (f"office ID {mine.office_id}" if mine else f"no {ID_FILE}"))
        raise OtherOffice(
            f"the ledger at {where(engine)}{schema_words(engine, self.schema)} belongs to the office "
            f"{recorded.name!r} (office ID {recorded.office_id}), and {this}; nothing was read or posted. "
            "If this folder is a separate office, give it a ledger of its own: in its config.yaml set "
            "`database_schema:` to a name of its own (e.g. `database_schema: south`, same server) or point "
            f"`database:` at another database. If it is the same office (a second coordinator's folder), copy "
            f"{ID_FILE} from that office's folder into {self.folder}")

    def claim(self, engine: Engine) -> Identity:
        """On a ledger nobody has recorded yet, record this folder's identity (made now if the folder
        has none): the file first, then the ledger row, so a crash between leaves a folder whose
        next run records the same identity. Called after `check`, under the run lock."""
        try:
            recorded = self._recorded(engine)
        except SQLAlchemyError as exc:
            raise cannot_open(engine, exc) from exc
        if recorded is not None:
            return recorded
        here = where(engine) + schema_words(engine, self.schema)
        mine = self.read()
        if mine is not None and mine.ledger is not None and mine.ledger != here:
            # The folder has a ledger elsewhere: a typo in database_schema:/database: must not start
            # a second, empty ledger that bills the office again under invoice numbers already used.
            raise LedgerError(
                f"this office folder ({self.folder}) keeps its ledger at {mine.ledger}, but its config.yaml now "
                f"points at {here}, where no office has run yet; nothing was read or posted. If `database:` or "
                "`database_schema:` was changed by mistake, set it back. Only if this office really starts a new, "
                f"empty ledger there (its invoice numbers start again at 1), move {ID_FILE} out of {self.folder} "
                "and run again")
        mine = mine or self._write(here)
        try:  # a ledger that refuses the write (read-only, full) stops the run like any other write
            with engine.begin() as conn:
                conn.execute(office_identity.insert().values(slot=1, office_id=mine.office_id,
                                                             name=mine.name or self.name, recorded_at=datetime.now()))
        except IntegrityError:  # another folder recorded itself first (one row only): is it this office?
            self.check(engine)
        return mine
