"""config.yaml, read and validated (SPEC §9): billing_batch/config.py `load_settings`.

A bad setting must be reported like bad data: the key and the line where it stands.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from billing_batch.config import (
    Aging, Collections, ConfigError, Documents, Email, Folders, Insurance, Intake, Invoicing, Plans,
    Review, Schedule, Settings, load_settings,
)

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def messages(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    err = exc.value
    assert err.messages, "a ConfigError must say what is wrong"
    assert str(err) == "\n".join(err.messages)
    return err.messages


# -- the shipped config.yaml ------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> Settings:
    return load_settings(REPO_CONFIG)


def test_shipped_config_loads_with_documented_values(shipped):
    assert shipped.invoicing.terms_days == 30
    assert shipped.invoicing.cycle == "daily"
    assert shipped.invoicing.tax_rate == 0
    assert shipped.aging.buckets == [30, 60, 90, 120]
    assert shipped.timezone == "America/New_York"
    assert shipped.date_format == "%m/%d/%Y"
    assert shipped.currency == "USD"
    assert shipped.database is None  # empty: the default SQLite file
    assert shipped.collections.min_days_between_letters == 14
    assert [(lv.name, lv.days) for lv in shipped.collections.levels] == [
        ("Reminder", 1), ("Second Notice", 31), ("Final Notice", 61), ("Collections Referral", 91)]
    assert shipped.plans.max_months == 12
    assert shipped.insurance.appeal_days == 90
    assert shipped.review.late_entry_days == 90
    assert shipped.schedule.time == "02:00"


@pytest.mark.parametrize(
    "get, expected",
    [
        (lambda s: s.review.large_invoice, "10000.00"),
        (lambda s: s.collections.min_balance, "5.00"),
        (lambda s: s.plans.min_installment, "25.00"),
        (lambda s: s.insurance.underpayment_tolerance, "1.00"),
        (lambda s: s.review.price_override_pct, "10"),
        (lambda s: s.review.max_quantity, "10"),
        (lambda s: s.invoicing.tax_rate, "0"),
    ],
)
def test_shipped_config_money_is_decimal_never_float(shipped, get, expected):
    value = get(shipped)
    assert type(value) is Decimal, f"{value!r} is {type(value).__name__}"
    assert value == Decimal(expected)


def test_shipped_config_equals_the_defaults_where_it_says_so(shipped):
    # the file says "a missing key takes the default shown here"
    assert shipped.invoicing == Invoicing()
    assert shipped.aging == Aging()
    assert shipped.collections == Collections()
    assert shipped.plans == Plans()
    assert shipped.insurance == Insurance()
    assert shipped.review == Review()
    assert shipped.folders == Folders()
    assert shipped.documents == Documents()
    assert shipped.email == Email()
    assert shipped.schedule == Schedule()
    assert shipped.intake == Intake()
    defaults = Settings()
    for key in ("currency", "currency_symbol", "locale", "timezone", "date_format", "database"):
        assert getattr(shipped, key) == getattr(defaults, key), key


def test_empty_file_gives_the_defaults(tmp_path):
    s = load_settings(write(tmp_path, ""))
    assert s.invoicing.terms_days == 30
    assert s.aging.buckets == [30, 60, 90, 120]
    assert s.review.large_invoice == Decimal("10000.00") and type(s.review.large_invoice) is Decimal


def test_yaml_numbers_with_decimals_are_read_as_decimal(tmp_path):
    s = load_settings(write(tmp_path, """\
        invoicing:
          tax_rate: 8.25
        review:
          large_invoice: 2_500.10
        collections:
          min_balance: 0.1
        """))
    assert type(s.invoicing.tax_rate) is Decimal and str(s.invoicing.tax_rate) == "8.25"
    assert type(s.review.large_invoice) is Decimal and s.review.large_invoice == Decimal("2500.10")
    # 0.1 as a float would be 0.1000000000000000055511151231257827...
    assert type(s.collections.min_balance) is Decimal and s.collections.min_balance == Decimal("0.1")


# -- unknown keys and bad values: key and line ------------------------------------------------

def test_unknown_key_names_the_key_and_its_line(tmp_path):
    p = write(tmp_path, """\
        # settings
        office:
          name: Test Office

        invoicing:
          terms_days: 30
          tax_rat: 5
        """)
    (msg,) = messages(p)
    assert "invoicing.tax_rat" in msg
    assert "config.yaml line 7:" in msg
    assert "not a setting" in msg


def test_unknown_key_minimal(tmp_path):
    (msg,) = messages(write(tmp_path, "invoicing:\n  tax_rat: 5\n"))
    assert msg.startswith("config.yaml line 2: invoicing.tax_rat ")


def test_unknown_top_level_key(tmp_path):
    (msg,) = messages(write(tmp_path, "currency: USD\ntimezon: Europe/London\n"))
    assert msg.startswith("config.yaml line 2: timezon ")


def test_unknown_key_inside_a_list_item(tmp_path):
    p = write(tmp_path, """\
        collections:
          levels:
            - {name: Reminder, days: 1, template: reminder}
            - {name: Second Notice, dayz: 31, template: second_notice}
        """)
    msgs = messages(p)
    assert any(m.startswith("config.yaml line 4: collections.levels.1.dayz ") for m in msgs), msgs
    assert any(m.startswith("config.yaml line 4: collections.levels.1.days ") and "required" in m for m in msgs), msgs


@pytest.mark.parametrize(
    "text, key, line, hint",
    [
        ("aging: {buckets: [60, 30]}\n", "aging.buckets", 1, "increasing"),
        ("currency: USD\naging:\n  buckets: [60, 30]\n", "aging.buckets", 3, "increasing"),
        ("aging:\n  buckets: []\n", "aging.buckets", 2, "increasing"),
        ("aging:\n  buckets:\n    - 30\n    - -5\n", "aging.buckets.1", 4, "greater than 0"),
        ("timezone: Mars/Base\n", "timezone", 1, "time zone"),
        ("locale: en_US\ntimezone: Mars/Base\n", "timezone", 2, "America/New_York"),
        ("invoicing: {cycle: fortnightly}\n", "invoicing.cycle", 1, "weekly:<weekday>"),
        ("invoicing:\n  terms_days: 30\n  cycle: weekly:fri\n", "invoicing.cycle", 3, "weekly:<weekday>"),
        ("invoicing:\n  cycle: monthly:32\n", "invoicing.cycle", 2, "monthly:<day 1-31>"),
        ('date_format: "%Y"\n', "date_format", 1, "%d, %m and %Y"),
        ('currency: USD\n\ndate_format: "%d/%m/%y"\n', "date_format", 3, "%d, %m and %Y"),
        ("invoicing:\n  terms_days: -1\n", "invoicing.terms_days", 2, "greater than or equal to 0"),
        ("invoicing:\n  tax_rate: 120\n", "invoicing.tax_rate", 2, "less than or equal to 100"),
        ("invoicing:\n  invoice_prefix: inv-\n", "invoicing.invoice_prefix", 2, "pattern"),
        ("review:\n  large_invoice: lots\n", "review.large_invoice", 2, "decimal"),
        ('schedule:\n  time: "25:00"\n', "schedule.time", 2, "pattern"),
        ("currency: dollars\n", "currency", 1, "pattern"),
    ],
)
def test_bad_value_names_key_and_line(tmp_path, text, key, line, hint):
    msgs = messages(write(tmp_path, text))
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert msg.startswith(f"config.yaml line {line}: {key} "), msg
    assert hint in msg, msg


def test_bad_value_message_shows_what_was_found(tmp_path):
    (msg,) = messages(write(tmp_path, "invoicing:\n  cycle: fortnightly\n"))
    assert "'fortnightly'" in msg


def test_several_problems_reported_in_one_error(tmp_path):
    p = write(tmp_path, """\
        timezone: Mars/Base
        date_format: "%Y"
        invoicing:
          cycle: fortnightly
          tax_rat: 5
        aging:
          buckets: [60, 30]
        """)
    msgs = messages(p)
    found = {m.split(":")[0] + ":" + m.split(":")[1].split()[0] for m in msgs}
    assert found == {
        "config.yaml line 1:timezone",
        "config.yaml line 2:date_format",
        "config.yaml line 4:invoicing.cycle",
        "config.yaml line 5:invoicing.tax_rat",
        "config.yaml line 7:aging.buckets",
    }, msgs


@pytest.mark.parametrize("value", [".inf", ".nan", "1:30.5"])
def test_unreadable_yaml_float_is_a_config_error(tmp_path, value):
    msgs = messages(write(tmp_path, f"currency: USD\nreview:\n  large_invoice: {value}\n"))
    assert any("line 3" in m for m in msgs), msgs


def test_base_dir_is_not_a_yaml_setting(tmp_path):
    (msg,) = messages(write(tmp_path, "currency: USD\nbase_dir: /srv/elsewhere\n"))
    assert msg.startswith("config.yaml line 2: base_dir ")


# -- files that cannot be read ----------------------------------------------------------------

def test_missing_file_is_a_config_error(tmp_path):
    (msg,) = messages(tmp_path / "nowhere" / "config.yaml")
    assert "no config file" in msg
    assert "billing-batch init" in msg


@pytest.mark.parametrize(
    "text, line",
    [
        ("a: 1\nb: [1, 2\nc: 3\n", 3),  # unclosed flow list: noticed on line 3
        ("invoicing:\n  terms_days: 30\n   cycle: daily\n", 3),  # bad indentation
        ('office:\n  name: "Unclosed\ncurrency: USD\n', None),
        ("invoicing:\n\tterms_days: 30\n", 2),  # a tab
    ],
)
def test_invalid_yaml_is_a_config_error_with_a_line(tmp_path, text, line):
    (msg,) = messages(write(tmp_path, text))
    assert msg.startswith("config.yaml line ")
    assert "not valid YAML" in msg
    if line is not None:
        assert msg.startswith(f"config.yaml line {line}:"), msg


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_not_a_mapping_is_a_config_error(tmp_path, text):
    (msg,) = messages(write(tmp_path, text))
    assert "key: value" in msg


# -- paths ------------------------------------------------------------------------------------

def test_database_url_defaults_to_sqlite_beside_the_config(tmp_path):
    office = tmp_path / "office"
    office.mkdir()
    s = load_settings(write(office, "database:\n"))
    assert s.database_url == f"sqlite:///{(office / 'ledger.sqlite').resolve()}"
    s = load_settings(write(office, "currency: USD\n"))  # key left out
    assert s.database_url == f"sqlite:///{(office / 'ledger.sqlite').resolve()}"


def test_database_url_given_is_used_as_is(tmp_path):
    s = load_settings(write(tmp_path, "database: postgresql+psycopg://billing@db.local/office\n"))
    assert s.database_url == "postgresql+psycopg://billing@db.local/office"


def test_relative_folders_resolve_against_the_config_folder(tmp_path, monkeypatch):
    office = tmp_path / "office"
    office.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter
    absolute_out = tmp_path / "shared-output"
    s = load_settings(write(office, f"""\
        folders:
          inbox: drop/here
          output: {absolute_out}
        documents:
          templates: my-templates
        """))
    base = office.resolve()
    assert s.base_dir == base
    assert s.inbox == base / "drop" / "here"
    assert s.processed == base / "processed"
    assert s.rejected == base / "rejected"
    assert s.output == absolute_out  # absolute stays absolute
    assert s.templates == base / "my-templates"
    assert s.database_url == f"sqlite:///{base / 'ledger.sqlite'}"


def test_config_given_by_relative_path(tmp_path, monkeypatch):
    office = tmp_path / "office"
    office.mkdir()
    write(office, "currency: USD\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings(Path("office/config.yaml"))
    assert s.base_dir == office.resolve()
    assert s.inbox == office.resolve() / "inbox"
