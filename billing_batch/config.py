"""config.yaml, read and validated (SPEC §9).

A bad setting is reported like bad data: the key, the line, what is allowed. YAML floats are read
as Decimal (never float) so a money setting such as `large_invoice: 10000.00` stays exact.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator


class ConfigError(Exception):
    """The configuration cannot be used; `messages` say where and why, one per problem."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


def _check_zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be a time zone name such as America/New_York or Europe/London")
    return v


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Office(_Section):
    name: str = "Your Office Name"
    address_lines: list[str] = ["123 Main Street", "Springfield, IL 62701"]
    phone: str = ""
    email: str = ""
    tax_id: str = ""
    remit_to_lines: list[str] = []
    payment_instructions: str = "Pay by check, card or bank transfer."
    # Printed in letters to patients when set: how to ask for the office's financial assistance.
    financial_assistance: str = ""


class Folders(_Section):
    inbox: str = "inbox"
    processed: str = "processed"
    rejected: str = "rejected"
    output: str = "output"


_CYCLE = re.compile(
    r"^(daily|weekly:(monday|tuesday|wednesday|thursday|friday|saturday|sunday)|monthly:([1-9]|[12][0-9]|3[01]))$"
)


class Invoicing(_Section):
    cycle: str = "daily"
    terms_days: Annotated[int, Field(ge=0, le=365)] = 30
    tax_rate: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal("0")  # percent, e.g. 8.25
    invoice_prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,6}$")] = "INV"
    credit_note_prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,6}$")] = "CN"

    @field_validator("cycle")
    @classmethod
    def _cycle(cls, v: str) -> str:
        v = v.strip().lower()
        if not _CYCLE.match(v):
            raise ValueError("must be daily, weekly:<weekday> (e.g. weekly:friday) or monthly:<day 1-31>")
        return v


class Aging(_Section):
    buckets: list[Annotated[int, Field(gt=0)]] = [30, 60, 90, 120]

    @field_validator("buckets")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if not v or any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError("must be a list of increasing day counts, e.g. [30, 60, 90, 120]")
        return v


class CollectionLevel(_Section):
    name: str
    days: Annotated[int, Field(ge=1)]
    template: str


class Collections(_Section):
    levels: list[CollectionLevel] = [
        CollectionLevel(name="Reminder", days=1, template="reminder"),
        CollectionLevel(name="Second Notice", days=31, template="second_notice"),
        CollectionLevel(name="Final Notice", days=61, template="final_notice"),
        CollectionLevel(name="Collections Referral", days=91, template="referral"),
    ]
    min_days_between_letters: Annotated[int, Field(ge=0)] = 14
    promise_grace_days: Annotated[int, Field(ge=0)] = 5
    min_balance: Annotated[Decimal, Field(ge=0)] = Decimal("5.00")


class Plans(_Section):
    max_months: Annotated[int, Field(ge=1, le=120)] = 12
    min_installment: Annotated[Decimal, Field(ge=0)] = Decimal("25.00")
    grace_days: Annotated[int, Field(ge=0)] = 10
    default_after_missed: Annotated[int, Field(ge=1)] = 2
    offer_to_business: bool = False  # letters to businesses offer no plan unless the office wants them to


class Insurance(_Section):
    underpayment_tolerance: Annotated[Decimal, Field(ge=0)] = Decimal("1.00")
    appeal_days: Annotated[int, Field(ge=1)] = 90
    follow_up_days: Annotated[int, Field(ge=1)] = 30


class Review(_Section):
    price_override_pct: Annotated[Decimal, Field(ge=0)] = Decimal("10")
    max_quantity: Annotated[Decimal, Field(gt=0)] = Decimal("10")
    late_entry_days: Annotated[int, Field(ge=1)] = 90
    large_invoice: Annotated[Decimal, Field(gt=0)] = Decimal("10000.00")


class Documents(_Section):
    templates: str = "templates"
    pdf: bool = False  # a PDF beside every document (documents in the print pack always get one)
    print_pack: bool = True  # Delivery Mail/Both: output/print/print-DATE.pdf and its mailing list
    libreoffice: str = ""  # the soffice program; blank = soffice or libreoffice on PATH
    # LibreOffice's time limit for one batch: to start, plus so much per document in it.
    pdf_timeout_seconds: Annotated[int, Field(ge=1, le=86_400)] = 120
    pdf_seconds_per_document: Annotated[Decimal, Field(ge=0, le=600)] = Decimal("1")


class Email(_Section):
    """SMTP for clients whose Delivery is Email or Both (SPEC §4.7). Off while `host` is blank."""
    enabled: bool = True  # false turns e-mail off even with a host
    host: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""  # blank: no login
    # The NAME of the environment variable holding the password; the password is never in this file.
    password_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "BILLING_BATCH_SMTP_PASSWORD"
    from_address: Annotated[str, Field(validate_default=True)] = ""
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    timeout: Annotated[int, Field(ge=1, le=600)] = 30  # seconds for the server to answer

    @model_validator(mode="before")
    @classmethod
    def _older_keys(cls, data):
        """Config files from before e-mail was sent say `sender` and `use_tls`; they still load."""
        if isinstance(data, dict):
            data = dict(data)
            if "sender" in data:
                sender = data.pop("sender")
                data.setdefault("from_address", sender)
            if "use_tls" in data:
                data.setdefault("security", "starttls" if data.pop("use_tls") else "none")
        return data

    @field_validator("from_address")
    @classmethod
    def _sender(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("enabled", True) and str(info.data.get("host") or "").strip() and "@" not in v:
            raise ValueError("must be the office's e-mail address (e.g. billing@example.com) when email.host is set")
        return v

    @property
    def on(self) -> bool:
        return self.enabled and bool(self.host.strip())


class Schedule(_Section):
    time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "02:00"
    timezone: str | None = None  # blank = the office's `timezone`
    inbox_check_minutes: Annotated[int, Field(ge=1, le=1440)] = 5

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return v if v is None else _check_zone(v)


class Intake(_Section):
    settle_seconds: Annotated[Decimal, Field(ge=0, le=60)] = Decimal("2")
    max_file_mb: Annotated[int, Field(gt=0)] = 50
    max_entries: Annotated[int, Field(gt=0)] = 1000
    max_uncompressed_mb: Annotated[int, Field(gt=0)] = 500
    max_ratio: Annotated[int, Field(gt=0)] = 200
    # Sanity limits: a cell beyond them is a typing slip (a quantity of 1e10), a problem on its row.
    max_amount: Annotated[Decimal, Field(gt=0, le=Decimal("10000000000"))] = Decimal("1000000.00")
    max_quantity: Annotated[Decimal, Field(gt=0, le=Decimal("10000000"))] = Decimal("10000")


class DatabaseTimeouts(_Section):
    connect_seconds: Annotated[int, Field(gt=0, le=600)] = 10
    statement_seconds: Annotated[int, Field(gt=0, le=86_400)] = 300


class Settings(_Section):
    office: Office = Office()
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    currency_symbol: str = "$"
    locale: str = "en_US"
    timezone: str = "America/New_York"
    date_format: str = "%m/%d/%Y"
    database: str | None = None
    # PostgreSQL: the schema holding this office's tables, so several offices share one database
    # (SPEC §8). SQLite has no schemas and ignores it (a file per office already keeps them apart).
    database_schema: str = "public"
    database_timeouts: DatabaseTimeouts = DatabaseTimeouts()
    folders: Folders = Folders()
    invoicing: Invoicing = Invoicing()
    aging: Aging = Aging()
    collections: Collections = Collections()
    plans: Plans = Plans()
    insurance: Insurance = Insurance()
    review: Review = Review()
    documents: Documents = Documents()
    email: Email = Email()
    schedule: Schedule = Schedule()
    intake: Intake = Intake()
    # Where config.yaml lives; every relative folder is relative to it. Not a YAML key.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _check_zone(v)

    @field_validator("database_schema")
    @classmethod
    def _schema(cls, v: str) -> str:
        # Only plain names: the name goes into the connection's search_path and CREATE SCHEMA.
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", v) or v.startswith("pg_") or v == "information_schema":
            raise ValueError("must be a schema name of lower-case letters, digits and _ starting with a letter, "
                             "at most 63 characters (e.g. north); names starting pg_ and information_schema are "
                             "PostgreSQL's own")
        return v

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str) -> str:
        try:
            parsed = datetime.strptime(date(2026, 3, 14).strftime(v), v).date()
        except ValueError:
            parsed = None
        if parsed != date(2026, 3, 14) or not {"%d", "%m", "%Y"} <= set(re.findall(r"%.", v)):
            raise ValueError("must contain %d, %m and %Y, e.g. %m/%d/%Y")
        return v

    # -- derived paths -------------------------------------------------------------------------
    def path(self, folder: str) -> Path:
        p = Path(folder)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def inbox(self) -> Path:
        return self.path(self.folders.inbox)

    @property
    def processed(self) -> Path:
        return self.path(self.folders.processed)

    @property
    def rejected(self) -> Path:
        return self.path(self.folders.rejected)

    @property
    def output(self) -> Path:
        return self.path(self.folders.output)

    @property
    def templates(self) -> Path:
        return self.path(self.documents.templates)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite:///{(self.base_dir / 'ledger.sqlite').resolve()}"

    @property
    def ledger_options(self) -> dict:
        """How to open the ledger: `open_ledger(settings.database_url, **settings.ledger_options)`."""
        t = self.database_timeouts
        return {"connect_timeout": t.connect_seconds, "statement_timeout": t.statement_seconds,
                "schema": self.database_schema,
                # the ledger belongs to one office: it is checked against this folder (ledger/office.py)
                "office_folder": self.base_dir, "office_name": self.office.name}

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def schedule_tz(self) -> ZoneInfo:
        """The zone of the nightly time and of the business date it runs for."""
        return ZoneInfo(self.schedule.timezone or self.timezone)


# -- folder safety ------------------------------------------------------------------------------

# A run moves every workbook out of the inbox and writes into output/, processed/ and rejected/, so a
# folder setting that points at the office folder itself, above it, or at the operating system's own
# folders would move or overwrite files that are not the office's to touch.
_SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/dev", "/proc", "/sys",
                 "/run", "/var/lib", "/var/log", "/var/run", "C:/Windows", "C:/Program Files",
                 "C:/Program Files (x86)", "/System", "/Library", "/Applications")
_SHARED_ROOTS = ("/home", "/Users", "/root", "/var", "/tmp", "/srv", "/opt", "/mnt", "/media", "/Volumes",
                 "C:/Users")
_FOLDER_KEYS = ("inbox", "processed", "rejected", "output")


def _under(p: Path, top: Path) -> bool:
    return p == top or top in p.parents


def folder_problems(settings: Settings) -> list[tuple[tuple, str]]:
    """(key path, what is wrong) for each folder setting that is unsafe to move files in or out of."""
    office = settings.base_dir.resolve()
    problems: list[tuple[tuple, str]] = []
    where: dict[str, Path] = {}
    for key in (*_FOLDER_KEYS, "templates"):
        loc = ("documents", "templates") if key == "templates" else ("folders", key)
        try:
            where[key] = (settings.templates if key == "templates" else
                          settings.path(getattr(settings.folders, key))).resolve()
        except (OSError, RuntimeError, ValueError):  # a NUL byte, a symlink loop
            problems.append((loc, "is not a folder path billing-batch can use (a symbolic link loop or a "
                             f"character no path may hold); give it a folder of its own, e.g. `{key}: {key}`"))
    if problems:
        return problems
    home = Path.home().resolve()
    for key in _FOLDER_KEYS:
        p = where[key]
        if _under(office, p):
            problems.append((("folders", key), f"({p}) is the office folder or a folder above it; billing-batch "
                             "moves and writes files there, so give it a folder of its own inside the office "
                             f"folder, e.g. `{key}: {key}`"))
        elif p == Path(p.anchor) or any(_under(p, Path(t)) for t in _SYSTEM_TREES) \
                or p in {Path(t) for t in _SHARED_ROOTS} or p == home:
            problems.append((("folders", key), f"({p}) is a system or shared folder, not the office's own; give "
                             f"it a folder of its own, e.g. `{key}: {key}` inside the office folder"))
    for key in _FOLDER_KEYS:
        # Someone's home folder (or a folder in it) while the office is not there: their own files.
        p = where[key]
        homes = [h for h in (home, *(Path(r) / p.parts[2] for r in ("/home", "/Users") if len(p.parts) > 2
                                     and Path(*p.parts[:2]) == Path(r))) if _under(p, h)]
        if any(not _under(office, h) for h in homes) and not _under(p, office) \
                and not any(loc == ("folders", key) for loc, _ in problems):
            problems.append((("folders", key), f"({p}) is in a person's home folder outside the office folder; "
                             f"give it a folder of its own, e.g. `{key}: {key}` inside the office folder"))
    seen: dict[Path, str] = {}
    for key in (*_FOLDER_KEYS, "templates"):
        other = seen.get(where[key])
        if other is not None:
            loc = ("documents", "templates") if key == "templates" else ("folders", key)
            problems.append((loc, f"is the same folder as folders.{other} ({where[key]}); each needs a folder "
                             "of its own"))
        seen.setdefault(where[key], key)
    inbox = where["inbox"]
    for key in (*_FOLDER_KEYS[1:], "templates") if not problems else ():  # one thing to fix at a time
        # Reports, problems workbooks and filed inputs are .xlsx too: an inbox inside (or around) one of
        # these folders would read them back as input and post them again.
        if where[key] != inbox and (_under(inbox, where[key]) or _under(where[key], inbox)):
            loc = ("documents", "templates") if key == "templates" else ("folders", key)
            problems.append((("folders", "inbox"), f"({inbox}) and {'.'.join(loc)} ({where[key]}) are one inside "
                             "the other; billing-batch would read its own files as input, so give each a folder "
                             "of its own side by side, e.g. `inbox: inbox`"))
    return problems


# -- loading ----------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """YAML without floats: 8.25 becomes Decimal('8.25')."""


def _exact_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | str:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        return Decimal(text)  # .inf / .nan become Decimal infinities, refused by validation
    except InvalidOperation:
        return text  # e.g. 1:30.5; validation reports it with its key and line


_Loader.add_constructor("tag:yaml.org,2002:float", _exact_number)


def _line_index(node: yaml.Node, prefix: tuple = ()) -> dict[tuple, int]:
    """Map every key path to the (1-based) line where it stands in the file."""
    lines: dict[tuple, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = prefix + (key_node.value,)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_line_index(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[prefix + (i,)] = item.start_mark.line + 1
            lines.update(_line_index(item, prefix + (i,)))
    return lines


def _describe(err: dict) -> str:
    if err["type"] == "extra_forbidden":
        return "is not a setting billing-batch knows; check the spelling or remove it"
    if err["type"] == "missing":
        return "is required"
    msg = err["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


_MAX_CONFIG_BYTES = 1_000_000


def load_settings(path: Path) -> Settings:
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"{path}: no config file here. Create one with `billing-batch init DIR` "
                           "or point --config at your office's config.yaml."])
    if path.is_dir():
        raise ConfigError([f"{path} is a folder, not a config file; point --config at the office's config.yaml"])
    if not path.is_file():  # a pipe or a device (/dev/zero) would hang or fill memory
        raise ConfigError([f"{path} is not a plain file; point --config at the office's config.yaml"])
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise ConfigError([f"{path} is {path.stat().st_size:,} bytes, far larger than a config file; point --config "
                           "at the office's config.yaml"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{path.name} line {line}: not UTF-8 text (saved in another encoding?); save it as "
                           "UTF-8 in your editor and run again"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror or exc}); check its permissions"]) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError([f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path.name}: expected settings as `key: value` lines"])
    lines = _line_index(node) if node is not None else {}
    if "base_dir" in data:  # internal, not a setting: the office folder is where config.yaml is
        raise ConfigError([f"{path.name} line {lines.get(('base_dir',), '?')}: base_dir is not a setting "
                           "billing-batch knows; check the spelling or remove it"])
    try:
        settings = Settings.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc)
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
            where = f"{path.name} line {line}" if line else path.name
            value = "" if err["type"] in ("extra_forbidden", "missing") else f" (found {err.get('input')!r})"
            messages.append(f"{where}: {key}{value} {_describe(err)}")
        raise ConfigError(messages)
    unsafe = folder_problems(settings)
    if unsafe:
        raise ConfigError([f"{path.name} line {lines.get(loc, lines.get(loc[:1], '?'))}: {'.'.join(loc)} {msg}"
                           for loc, msg in unsafe])
    return settings
