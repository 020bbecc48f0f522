"""Settings: the shipped config.toml, the embedded defaults, and what happens to settings nobody knows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from notifier.config import ConfigError, Settings, engine_url, load_settings
from notifier.workflows.service import Service
from tests.cli_process import run_notifier

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config.toml"
EMPTY = Path(__file__).parent / "empty.toml"


@pytest.fixture(autouse=True)
def _no_notifier_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own NOTIFIER_* variables must not leak into what these tests load."""
    for name in list(os.environ):
        if name.upper().startswith("NOTIFIER_"):
            monkeypatch.delenv(name)


def test_shipped_config_holds_the_embedded_defaults() -> None:
    # config.toml says it lists "every setting, with the embedded defaults": running without it must not
    # change anything (the channel tables differ on purpose: the file adds comments and optional keys).
    shipped = load_settings(SHIPPED).model_dump(exclude={"channels"})
    embedded = load_settings(EMPTY).model_dump(exclude={"channels"})
    assert shipped == embedded
    assert embedded["database"]["url"] == "sqlite:///var/notifier.db"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path | None, **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, **overrides)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_unknown_settings_in_the_file_are_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
verbose = true
[dispatch]
max_attempt = 3
[quiet_hour]
start = "22:00:00"
[retenton]
days = 30
[channels.file]
path = "out.jsonl"
""",
    )
    assert sorted(_problems(path)) == sorted([
        f"{path}: verbose: unknown setting",
        f"{path}: [dispatch] max_attempt: unknown setting (did you mean max_attempts?)",
        f"{path}: [quiet_hour]: unknown setting (did you mean [quiet_hours]?)",
        f"{path}: [retenton]: unknown setting (did you mean [retention]?)",
    ])


@pytest.mark.parametrize("section", sorted(Settings.model_fields))
def test_every_settings_table_refuses_unknown_keys(section: str, tmp_path: Path) -> None:
    field = Settings.model_fields[section]
    if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
        # [channels.NAME] tables are checked by each channel's own model when it is built (see
        # test_a_channel_table_typo_names_the_file)
        assert section == "channels"
        return
    path = _write(tmp_path, f"[{section}]\nno_such_key = 1\n")
    # (a table with required keys, [quiet_hours] and [working_hours], also reports those missing)
    assert f"{path}: [{section}] no_such_key: unknown setting" in _problems(path)


def test_bad_values_name_the_file_the_setting_and_the_value(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[retention]\ndays = 0\n[calendar]\nextra_days_off = ["2027-02-11", "11/02/2027"]\n'
        '[bot]\nwebhook_secret = "has spaces"\n[quiet_hours]\nend = "06:00:00"\n',
    )
    day_off, missing, secret, days = _problems(path)  # in the order of the tables in Settings
    assert days == f"{path}: [retention] days: value 0: Input should be greater than or equal to 1"
    # (the end of pydantic's message varies between its versions)
    assert day_off.startswith(f"{path}: [calendar] extra_days_off[1]: value '11/02/2027': Input should be a valid date")
    assert missing == f"{path}: [quiet_hours] start: Field required"
    # the validator's own text, which shows only the start of a secret
    assert secret == f"{path}: [bot] webhook_secret: value 'has …': use 1-256 characters A-Z a-z 0-9 _ -"


def test_a_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "[dispatch\nmax_attempts = 3\n")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: not valid TOML: ")


def test_unknown_overrides_are_refused() -> None:
    assert _problems(EMPTY, dispatch={"concurency": 3}) == [
        "settings: dispatch.concurency: unknown setting (did you mean concurrency?)"
    ]


def test_environment_overrides_still_work_and_unknown_ones_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "[dispatch]\nmax_attempts = 5\n[retention]\ndays = 60\n")
    monkeypatch.setenv("NOTIFIER_DISPATCH__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("notifier_retention__days", "45")  # pydantic-settings ignores the case
    # Variables that are not settings: the config file, the admin secret's default variable, test knobs.
    monkeypatch.setenv("NOTIFIER_CONFIG", str(path))
    monkeypatch.setenv("NOTIFIER_ADMIN_SECRET", "s3cret")
    monkeypatch.setenv("NOTIFIER_TEST_PG", "postgresql://x")
    settings = load_settings()
    assert (settings.dispatch.max_attempts, settings.retention.days) == (7, 45)
    assert settings.source == str(path)

    monkeypatch.setenv("NOTIFIER_DISPATCH__MAX_ATTEMPT", "3")  # a key the section does not have
    monkeypatch.setenv("NOTIFIER_RETENTON__DAYS", "30")  # a section that does not exist
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "sqlite:///x.db")  # one underscore where two are meant
    monkeypatch.setenv("NOTIFIER_SCAN__FULL_EVERY", "often")
    assert sorted(_problems(None)) == sorted([
        "environment: NOTIFIER_DISPATCH__MAX_ATTEMPT: unknown setting (did you mean NOTIFIER_DISPATCH__MAX_ATTEMPTS?)",
        "environment: NOTIFIER_RETENTON__DAYS: unknown setting (did you mean NOTIFIER_RETENTION__DAYS?)",
        "environment: NOTIFIER_DATABASE_URL: not a setting (did you mean NOTIFIER_DATABASE__URL?)",
        "environment: NOTIFIER_SCAN__FULL_EVERY: value 'often': Input should be a valid integer, unable to parse "
        "string as an integer",
    ])


def test_shipped_config_documents_every_setting() -> None:
    # Each key of each table appears in config.toml, set or commented out, under its own table.
    text = SHIPPED.read_text(encoding="utf-8")
    missing = []
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        table = re.search(rf"^\[{section}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
        if table is None:
            missing.append(f"[{section}]")
            continue
        missing += [
            f"[{section}] {key}" for key in model.model_fields if not re.search(rf"^#? ?{key} =", table[1], re.M)
        ]
    assert missing == []


def test_the_shipped_config_starts_a_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What `scripts/run` does with it: load, build the service and check routing (every routed channel
    # table is validated by its channel's model); the file database and outbox go to ./var.
    monkeypatch.chdir(tmp_path)
    service = Service.build(load_settings(SHIPPED))
    try:
        assert service.settings.source == str(SHIPPED)
        assert service.dispatcher is not None
        assert service.migrate().added > 0
        assert (tmp_path / "var" / "notifier.db").is_file()
    finally:
        service.engine.dispose()


# -- the `notifier` command ----------------------------------------------------------------------------------


def _notifier(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_notifier(cwd, *args)


def test_commands_print_every_config_problem_and_exit_2(tmp_path: Path) -> None:
    _write(tmp_path, '[database]\nurl = "sqlite:///n.db"\n[dispatch]\nmax_attempt = 3\n[quiet_hour]\nstart = "22:00:00"\n')
    result = _notifier(tmp_path, "scan")
    assert result.returncode == 2
    # rich would take "[dispatch]" for markup and drop it: the names must survive as written
    assert result.stderr.splitlines() == [
        "error: config.toml: [dispatch] max_attempt: unknown setting (did you mean max_attempts?)",
        "config.toml: [quiet_hour]: unknown setting (did you mean [quiet_hours]?)",
    ]


def test_a_channel_table_typo_names_the_file(tmp_path: Path) -> None:
    # [channels.NAME] is checked by the channel's own model (extra="forbid") when routing is checked.
    _write(tmp_path, '[database]\nurl = "sqlite:///n.db"\n[channels.file]\npath = "o.jsonl"\nfsyn = true\n')
    # `worker` used to start anyway and log the routing error, traceback and all, every second.
    for command in (["dispatch", "--once"], ["worker"], ["run", "--port", "1"]):
        result = _notifier(tmp_path, *command)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(
            "error: config.toml: routing.citizen: value 'file': [channels.file] field fsyn: value True:"
        ), result.stderr


# -- the test runner's own configuration (pyproject.toml [tool.pytest.ini_options]) -------------------------


def test_plain_pytest_finds_the_tests_package() -> None:
    # The `pytest` console script puts no directory of ours on sys.path; `python -P -m pytest` is the same.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_ops.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_ops.py::test_retention_erases_text_and_address_but_keeps_counts" in result.stdout


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("garbage", "value 'garbage': not a database URL"),
        ("postgres://u:pw@h/db", "value 'postgres://u:***@h/db': database 'postgres' is not supported"),
        ("mysql://u@h/db", "value 'mysql://u@h/db': database 'mysql' is not supported"),
        ("postgresql+nodriver://h/db", "value 'postgresql+nodriver://h/db': driver 'nodriver': "),
        ("postgresql+psycopg_async://h/db", "driver 'psycopg_async' is asynchronous"),
    ],
)
def test_a_database_url_the_engine_cannot_open_is_named(tmp_path: Path, url: str, problem: str) -> None:
    # It was a traceback from SQLAlchemy at the first command (ArgumentError, NoSuchModuleError, ...).
    path = _write(tmp_path, f'[database]\nurl = "{url}"\n')
    (found,) = _problems(path)
    assert found.startswith(f"{path}: [database] url: ") and problem in found, found


def test_a_config_file_not_in_utf8_or_with_a_bom_is_named(tmp_path: Path) -> None:
    # Both were a bare "'utf-8' codec can't decode ..." or "Invalid statement (at line 1, column 1)".
    path = tmp_path / "config.toml"
    path.write_bytes('[province]\nname = "Lê Chân"\n'.encode("cp1258"))  # a Windows Vietnamese editor
    assert _problems(path) == [f"{path}: not valid UTF-8 (byte 0xea, line 2): save it as UTF-8"]
    path.write_bytes('[retention]\ndays = 5\n'.encode("utf-8-sig"))
    assert _problems(path) == [f"{path}: starts with a byte-order mark: save it as UTF-8 without BOM"]


def test_the_bare_postgresql_scheme_is_psycopg_3_whatever_sqlalchemy_s_default() -> None:
    # SQLAlchemy 2.0 reads `postgresql://` as psycopg2 (not installed), 2.1 as psycopg: the settings' check
    # and the engine both read it through engine_url, so the README's URL opens with either.
    assert engine_url("postgresql://notifier@127.0.0.1:5432/notifier").drivername == "postgresql+psycopg"
    assert engine_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"
    assert engine_url("sqlite:///var/notifier.db").drivername == "sqlite"
    settings = load_settings(None, database={"url": "postgresql://notifier:pw@127.0.0.1:5432/notifier"})
    assert settings.database.url == "postgresql://notifier:pw@127.0.0.1:5432/notifier"


def test_a_channel_setting_error_has_no_pydantic_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "[channels.mail] field password_env: value 'NOPE': Value error, environment variable ..." and, for a check
    # of the whole table, "field : value {...}: Value error, set token_env (or token)".
    from notifier.channels.registry import ChannelConfigError, build
    from notifier.rules.clock import FixedClock
    from tests.conftest import T0

    monkeypatch.delenv("NOPE", raising=False)
    table = {"plugin": "email", "host": "127.0.0.1", "from_address": "a@b.vn", "password_env": "NOPE"}
    with pytest.raises(ChannelConfigError) as caught:
        build("mail", table, FixedClock(T0))
    assert str(caught.value) == (
        "[channels.mail] field password_env: value 'NOPE': environment variable 'NOPE' is not set"
    )
    (tmp_path / "c.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/n.db"\n[channels.mail]\nplugin = "email"\n'
        'host = "127.0.0.1"\nfrom_address = "not an address"\n[routing]\ncitizen = ["mail"]\n',
        encoding="utf-8",
    )
    done = run_notifier(tmp_path, "--config", "c.toml", "dispatch", "--once")
    assert done.returncode == 2
    assert done.stderr == (
        "error: c.toml: routing.citizen: value 'mail': [channels.mail] field from_address: value 'not an address': "
        "not an e-mail address\n"
    )


def test_a_config_that_is_a_directory_is_named_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `--config /tmp` said "config: file '/tmp' does not exist".
    (tmp_path / "conf").mkdir()
    done = run_notifier(tmp_path, "--config", "conf", "scan")
    assert done.returncode == 2
    assert done.stderr == "error: config: 'conf' is a directory, not a config file\n"
    monkeypatch.setenv("NOTIFIER_CONFIG", str(tmp_path / "conf"))
    with pytest.raises(FileNotFoundError, match=f"^NOTIFIER_CONFIG: '{tmp_path / 'conf'}' is a directory"):
        load_settings()
