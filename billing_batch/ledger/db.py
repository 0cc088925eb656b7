"""Opening the ledger: engine, automatic migrations, and the guard on issued documents.

Creating or migrating the schema is one transaction on both ledgers, so a run killed half-way
leaves the ledger as it was (SQLite supports transactional DDL once pysqlite stops managing
transactions itself: SQLAlchemy's recipe, below). A run takes the one-run-at-a-time lock before it
touches the schema (`run_session`), and holds it until it has finished.

Several offices share one PostgreSQL database by schema (`database_schema:`, SPEC §8): every
connection's search_path is that schema alone, the schema is created by the first run's migration
(with Alembic's version table in it), and the run and migration locks are keyed by it. A ledger
belongs to one office (ledger/office.py): the office folder is checked before anything is touched.
Commands that read while a run may be in progress (`check`, `report aging`) read a snapshot
(`snapshot`) and never take the run's lock.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from billing_batch import faults
from billing_batch.ledger.schema import IMMUTABLE_TABLES

if TYPE_CHECKING:  # Alembic (~0.5 s to import) only when the schema must change: see migrate()
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
NETWORK_FS = {"cifs", "smb3", "smbfs", "nfs", "nfs4", "9p", "fuse.sshfs", "afs", "ncpfs"}
_CHANGE_ISSUED = re.compile(
    r"^\s*(UPDATE|DELETE\s+FROM)\s+\"?(" + "|".join(IMMUTABLE_TABLES) + r")\b", re.IGNORECASE)


class LedgerError(Exception):
    """The ledger cannot be opened or used; the message says what to do."""


class NotRunYet(LedgerError):
    """The office has no ledger (or no schema) yet: its first run makes it (the portfolio's row)."""


class IssuedDocumentChanged(LedgerError):
    """Something tried to change an issued invoice or credit note (SPEC §6.2)."""


ALREADY_RUNNING = "billing-batch is already running for this office; try again when it has finished"
RUN_LOCK_KEY = 0x6269_6C6C  # "bill": one billing-batch run at a time per PostgreSQL ledger
MIGRATION_LOCK_KEY = 0x6269_6D67  # "bimg": one schema migration at a time, runs or not
DEFAULT_SCHEMA = "public"


def lock_key(base: int, schema: str = DEFAULT_SCHEMA) -> int:
    """The advisory lock key of one office's ledger: `public` keeps the key ledgers have always
    used; another schema (another office on the same database) gets one of its own, so North's run
    never waits for South's. Fits PostgreSQL's signed 64-bit key (base < 2**31)."""
    if schema == DEFAULT_SCHEMA:
        return base
    return (base << 32) | zlib.crc32(schema.encode())


class AlreadyRunning(LedgerError):
    """Another run holds the lock (exit 1); the same words whichever lock said so."""

    def __init__(self, message: str = ALREADY_RUNNING):
        super().__init__(message)


def alembic_config(connection=None, schema: str | None = None) -> Config:
    from alembic.config import Config  # here, not at the top: see TYPE_CHECKING above

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table_schema"] = schema  # None: the search_path's (public) as before
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


def where(engine: Engine) -> str:
    """The ledger's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def driver_message(exc: SQLAlchemyError) -> str:
    """The database's own first line ("canceling statement due to statement timeout"), never the
    SQL or its values."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: " + (str(orig).strip().splitlines() or [""])[0]


LOCKED_BY_RUN = "a billing-batch run is in progress on this ledger; try again when it has finished"


def cannot_open(engine: Engine, exc: SQLAlchemyError) -> LedgerError:
    sqlite = engine.url.get_backend_name() == "sqlite"
    if sqlite and "database is locked" in str(getattr(exc, "orig", exc)):
        # Waited the busy timeout behind another writer (a ledger SQLite could not switch to WAL):
        # the folder is fine, so do not send staff to check it.
        return LedgerError(f"cannot open the ledger at {where(engine)}: {LOCKED_BY_RUN}. Nothing was posted")
    what = ("check that the folder beside config.yaml exists, is writable and has room"
            if engine.url.get_backend_name() == "sqlite" else
            "check that the database server is running and reachable, and the user, password and database "
            "name in `database:` in config.yaml")
    return LedgerError(f"cannot open the ledger at {where(engine)}: {driver_message(exc)}. Nothing was posted; "
                       f"{what}, then run again")


def create_ledger_engine(url: str, connect_timeout: int = 10, statement_timeout: int = 300,
                         schema: str = DEFAULT_SCHEMA, read_only: bool = False) -> Engine:
    """An engine on `url`, not yet migrated. Bound values (cell contents) never appear in its errors
    or logs (`hide_parameters`). PostgreSQL gets a connect timeout and a statement timeout, so a
    server that accepts the connection and never answers stops the run instead of hanging it, and
    `schema` as its only search_path (config.py has checked the name). SQLite has no schemas and
    ignores it. `read_only` refuses every write at the database (the portfolio)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if _filesystem_type(path.parent) in NETWORK_FS:
            raise LedgerError(f"the SQLite ledger {path} is on a network share, where SQLite can corrupt; "
                              "set `database:` in config.yaml to a local path or a PostgreSQL URL")
    connect_args: dict = {}
    if url.startswith("postgresql"):
        connect_args = {"connect_timeout": connect_timeout,
                        "options": f"-c statement_timeout={statement_timeout * 1000}"
                                   + (f" -c search_path={schema}" if schema != DEFAULT_SCHEMA else "")
                                   + (" -c default_transaction_read_only=on" if read_only else ""),
                        # a host that vanishes mid-run is noticed, not waited for forever
                        "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
    try:
        engine = create_engine(url, hide_parameters=True, connect_args=connect_args)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise LedgerError(f"`database:` is not a usable database URL ({type(exc).__name__})") from exc
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _):
            dbapi_conn.isolation_level = None  # pysqlite's own BEGIN handling off (it skips DDL) ...
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")
            if read_only:
                dbapi_conn.execute("PRAGMA query_only=ON")
            else:
                _write_ahead(dbapi_conn)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN")  # ... so every transaction, DDL included, is a real one

    if engine.dialect.name == "postgresql":
        loader = _cents_loader()

        @event.listens_for(engine, "connect")
        def _pg_connect(dbapi_conn, _):
            dbapi_conn.adapters.register_loader("numeric", loader)

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn, cursor, statement, params, context, executemany):
        if _CHANGE_ISSUED.match(statement):
            raise IssuedDocumentChanged("issued invoices and credit notes never change; correct them with "
                                        "an Adjustment (Credit, Void or Write-off)")
        faults.reach("sql")

    return engine


def _write_ahead(dbapi_conn) -> None:
    """WAL journal: readers (`check`, `report aging`, the portfolio) see the last committed ledger
    while a run writes, instead of waiting behind its lock (issue 16). The mode is kept in the file,
    so the first writer switches it once. synchronous=FULL keeps every commit durable as before.
    WAL needs the -shm shared memory on one machine, so a ledger on a network share (refused
    above) could not use it. A ledger that cannot be switched (a read-only file) stays as it is."""
    try:
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass  # read-only or locked: the old journal still works; the write itself says what is wrong
    dbapi_conn.execute("PRAGMA synchronous=FULL")


@cache
def _cents_loader() -> type:
    # psycopg is imported here, for a PostgreSQL ledger only (~0.1 s a SQLite run need not pay).
    from psycopg.types.numeric import NumericLoader

    class _CentsLoader(NumericLoader):
        """PostgreSQL sums BIGINT cents as NUMERIC: a whole number comes back as the int it is (the
        ledger has no other numeric values), so money stays integer cents on both ledgers."""

        def load(self, data):
            value = super().load(data)
            exponent = value.as_tuple().exponent  # a letter for NaN and infinities
            return int(value) if isinstance(exponent, int) and exponent >= 0 else value

    return _CentsLoader


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@cache
def head_revision() -> str | None:
    """The newest migration script's revision, read from the scripts' `revision = ...` and
    `down_revision = ...` lines without importing Alembic (tests/test_ledger.py checks that it is
    Alembic's own head). None when the scripts are not one plain chain (a merge, an unusual line):
    then Alembic decides, as before."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        rev, down = found.get("revision", ""), found.get("down_revision", "")
        quoted = re.fullmatch(r"['\"]([\w.-]+)['\"]", rev)
        if not quoted or not (down == "None" or re.fullmatch(r"['\"][\w.-]+['\"]", down)):
            return None
        revisions.add(quoted.group(1))
        if down != "None":
            parents.add(down[1:-1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _at_head(conn: Connection) -> bool:
    """The ledger's schema is already the newest: one read of Alembic's version table, so a run on an
    up-to-date ledger skips importing and starting Alembic (~0.6 s). Anything else (a new ledger, an
    older or unknown version) goes through Alembic as before."""
    head = head_revision()
    if head is None:
        return False
    try:
        table = "alembic_version"
        if conn.dialect.name == "postgresql":
            # The version table of the schema Alembic would use (its default one), never one found
            # further along the search_path: an office schema not made yet must not look made.
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            if schema is None:
                return False
            table = f"{conn.dialect.identifier_preparer.quote_schema(schema)}.{table}"
        versions = conn.exec_driver_sql(f"SELECT version_num FROM {table}").scalars().all()
    except SQLAlchemyError:
        versions = []  # no version table yet: a new ledger
    finally:
        conn.rollback()  # the read's transaction ends here; a migration opens its own
    return versions == [head]


def migrate(engine: Engine, schema: str = DEFAULT_SCHEMA) -> None:
    """Create or upgrade the schema to head, in one transaction (all of it or none of it); on
    PostgreSQL an office's own schema is created first (`database_schema:`)."""
    try:
        with engine.connect() as conn:
            if _at_head(conn):
                return
            if engine.dialect.name == "postgresql" and schema != DEFAULT_SCHEMA:
                user = conn.exec_driver_sql("SELECT current_user").scalar()
                conn.rollback()
                if user == schema:  # PostgreSQL's default search_path is "$user", public
                    raise LedgerError(
                        f"database_schema: {schema} in config.yaml is the name of the database user the ledger "
                        f"connects as ({where(engine)}); every office left in public would find this office's tables "
                        "first and be refused or, worse, share them. Choose another schema name (e.g. "
                        f"{schema}_office), then run again")
            from alembic import command  # only when the schema changes (see _at_head)

            sqlite = engine.dialect.name == "sqlite"
            raw = conn.connection.driver_connection
            if sqlite and raw is not None:
                # Batch migrations rebuild tables; SQLite can only switch foreign keys off outside a
                # transaction. They are checked before the commit instead.
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    own_schema = engine.dialect.name == "postgresql" and schema != DEFAULT_SCHEMA
                    if engine.dialect.name == "postgresql":  # two first runs at once: one waits
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                     {"k": lock_key(MIGRATION_LOCK_KEY, schema)})
                    if own_schema:
                        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    event.listen(conn, "before_cursor_execute", _schema_point)
                    command.upgrade(alembic_config(conn, schema if own_schema else None), "head")
                    event.remove(conn, "before_cursor_execute", _schema_point)
                    if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise LedgerError("the ledger's migration left rows pointing at nothing; it was rolled "
                                          "back. Report this to your administrator")
            finally:
                if sqlite and raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")
    except SQLAlchemyError as exc:
        raise cannot_open(engine, exc) from exc


def _schema_point(*_) -> None:
    faults.reach("schema")


def open_ledger(url: str, connect_timeout: int = 10, statement_timeout: int = 300, schema: str = DEFAULT_SCHEMA,
                office_folder: Path | None = None, office_name: str = "") -> Engine:
    """An engine on the migrated ledger (for commands that do not need the run lock). With an office
    folder, a ledger that belongs to another office is refused before anything is touched."""
    from billing_batch.ledger.office import OfficeFolder

    engine = create_ledger_engine(url, connect_timeout, statement_timeout, schema)
    try:
        if office_folder is not None:
            OfficeFolder(office_folder, office_name, schema).check(engine)
        migrate(engine, schema)
    except BaseException:
        engine.dispose()
        raise
    return engine


def read_ledger(url: str, connect_timeout: int = 10, statement_timeout: int = 300, schema: str = DEFAULT_SCHEMA,
                office_folder: Path | None = None, office_name: str = "") -> Engine:
    """An engine that only reads (the portfolio): no migration, every write refused by the database.
    A ledger not yet at this version's schema is refused with what to do."""
    from billing_batch.ledger.office import OfficeFolder

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise NotRunYet(f"there is no ledger at {url[len('sqlite:///'):]} yet; run `billing-batch run` for that "
                          "office first (or check `database:` in its config.yaml)")
    engine = create_ledger_engine(url, connect_timeout, statement_timeout, schema, read_only=True)
    try:
        if office_folder is not None:
            OfficeFolder(office_folder, office_name, schema).check(engine)
        with engine.connect() as conn:
            version = (conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                       if inspect(conn).has_table("alembic_version") else None)
        head = head_revision() or _alembic_head()
        if version is None:
            raise NotRunYet(f"the ledger at {where(engine)}{schema_words(engine, schema)} has no tables yet; run "
                            "`billing-batch run` for that office first")
        if version != head:
            raise LedgerError(f"the ledger at {where(engine)}{schema_words(engine, schema)} has not been brought up "
                              "to this version of billing-batch yet; run `billing-batch run` (or `billing-batch "
                              "finish`) for that office once, then try again")
    except SQLAlchemyError as exc:
        engine.dispose()
        raise cannot_open(engine, exc) from exc
    except BaseException:
        engine.dispose()
        raise
    return engine


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory  # only when the scripts are not one plain chain

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_words(engine: Engine, schema: str) -> str:
    """", schema north" in messages about a PostgreSQL ledger in an office's own schema."""
    return f", schema {schema}" if engine.dialect.name == "postgresql" and schema != DEFAULT_SCHEMA else ""


@contextmanager
def snapshot(engine: Engine, scratch: bool = False) -> Iterator[Connection]:
    """A connection on one consistent picture of the ledger that never waits for a run in progress
    and never holds it up (SPEC §8, `check` and `report aging` beside a run). PostgreSQL: a
    REPEATABLE READ transaction (readers never block writers); with `scratch`, every ledger table
    is first copied into a temporary table of the same name, which the unqualified table names then
    reach first, so writes (a check posts and rolls back) touch no row or index of the run's. SQLite:
    a copy of the file, taken with SQLite's online backup, so nothing holds the ledger's file lock
    while the command works. Everything is rolled back and thrown away afterwards."""
    if engine.dialect.name == "sqlite":
        with _sqlite_copy(engine) as copy:
            with copy.connect() as conn:
                trans = conn.begin()
                try:
                    yield conn
                finally:
                    trans.rollback()
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        trans = conn.begin()
        try:
            if scratch:
                from billing_batch.ledger.schema import metadata

                schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
                for table in metadata.sorted_tables:
                    conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{table.name}" (LIKE "{schema}"."{table.name}" '
                                         "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES) ON COMMIT DROP")
                    conn.exec_driver_sql(f'INSERT INTO pg_temp."{table.name}" SELECT * FROM "{schema}"."{table.name}"')
            yield conn
        finally:
            trans.rollback()


@contextmanager
def _sqlite_copy(engine: Engine) -> Iterator[Engine]:
    source = engine.url.database or ""
    folder = Path(tempfile.mkdtemp(prefix="billing-batch-snapshot-"))
    try:
        target = folder / "ledger.sqlite"
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            src.backup(dst)
        except sqlite3.Error as exc:
            if "database is locked" in str(exc):
                raise LedgerError(f"cannot read the ledger at {where(engine)}: {LOCKED_BY_RUN}") from exc
            raise LedgerError(f"cannot read the ledger at {where(engine)} ({type(exc).__name__}: {exc}); check that "
                              "the file exists and is readable, then try again") from exc
        finally:
            src.close()
            dst.close()
        copy = create_ledger_engine(f"sqlite:///{target}")
        try:
            yield copy
        finally:
            copy.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def run_session(url: str, connect_timeout: int = 10, statement_timeout: int = 300, schema: str = DEFAULT_SCHEMA,
                office_folder: Path | None = None, office_name: str = "") -> Iterator[Engine]:
    """The ledger for one run: the run lock first (on PostgreSQL a session-level advisory lock on a
    connection of its own, keyed by the office's schema, held until the run has written its last
    file; one run at a time across machines), then the office check (a ledger of another office is
    refused before anything is touched), then the schema, then the office's identity recorded on
    a first run, then the engine. The office folder's file lock is the caller's."""
    from billing_batch.ledger.office import OfficeFolder

    engine = create_ledger_engine(url, connect_timeout, statement_timeout, schema)
    holder: Connection | None = None
    key = lock_key(RUN_LOCK_KEY, schema)
    office = OfficeFolder(office_folder, office_name, schema) if office_folder is not None else None
    try:
        if engine.dialect.name == "postgresql":
            try:
                holder = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                locked = holder.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            except SQLAlchemyError as exc:
                raise cannot_open(engine, exc) from exc
            if not locked:
                raise AlreadyRunning()
        if office is not None:
            office.check(engine)
        migrate(engine, schema)
        if office is not None:
            office.claim(engine)
        yield engine
    finally:
        if holder is not None:
            try:
                holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                holder.close()
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
        engine.dispose()
