"""What every `notifier` command shares: the consoles, the global options, building the service, failing."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

from notifier.config import load_settings
from notifier.rules.clock import parse_now

if TYPE_CHECKING:
    from notifier.workflows.service import Service


class _CommandConsole(Console):
    """A rich console set up on first use, when the command runs, not when this module is imported: making
    a console reads the environment (COLUMNS, NO_COLOR, TERM, ...) and asks whether the output is a
    terminal, and the answers must be the running command's. The command-line tests import `notifier`
    once and fork a process per command (tests/cli_process.py); tests/test_cli.py checks that importing
    the command reads no environment, working directory or terminal."""

    def __init__(self, **options: Any) -> None:  # Console.__init__ runs later, in __getattr__
        self.__dict__["_deferred"] = options

    def __getattr__(self, name: str) -> Any:
        # Reached for attributes Console.__init__ sets while it has not run yet, and for missing ones.
        with _console_setup:
            options = self.__dict__.pop("_deferred", None)
            if options is not None:
                super().__init__(**options)
        return object.__getattribute__(self, name)


_console_setup = threading.RLock()
# soft_wrap: a rejected row stays on one line, so it can be grepped and read on a narrow terminal
out: Console = _CommandConsole(soft_wrap=True)
err: Console = _CommandConsole(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    str | None, typer.Option("--config", help="config file (default: NOTIFIER_CONFIG, ./config.toml)")
]
NowOpt = Annotated[str | None, typer.Option("--now", help="pretend it is this time, e.g. 2027-02-03T09:00")]


# What a command needs of the database before it starts (open_service).
Database = Literal["migrated", "reachable", "later"]


class Options:
    """The options given before the command (`notifier --config FILE …`)."""

    config: str | None = None


options = Options()


def open_service(now: str | None = None, *, database: Database = "migrated") -> Service:
    """The service for this command: settings from --config, the clock from --now.

    `database`: "migrated" (most commands) ends the command with a one-line error when the database does
    not answer (exit 1) or its schema is not this version's (exit 2: run `notifier db upgrade`), instead of
    the driver's traceback at the first statement; "reachable" (the commands that migrate) only the former;
    "later" checks nothing: the long-running commands wait for the database (notifier.store.outage)."""
    try:
        settings = load_settings(options.config)
        clock = parse_now(now)
    except (ValueError, FileNotFoundError) as exc:
        # escape: messages name settings as "[dispatch] max_attempts", which rich would take for markup
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    # Imported here, not above: the service loads nearly every module of notifier (a second or more with
    # its libraries), which `notifier --help` and a command refusing its arguments do not need.
    from notifier.workflows.service import Service

    service = Service.build(settings, clock)
    if database != "later":
        check_database(service, schema=database == "migrated")
    return service


def check_database(service: Service, schema: bool = True) -> None:
    """End the command with a one-line error when the database does not answer (exit 1), or when `schema`
    and its schema is not at this version's newest migration (exit 2)."""
    from notifier.store.engine import schema_revisions
    from notifier.store.outage import SchemaNotReady, check_schema, is_outage, reason

    shown = shown_database(service)
    try:
        if schema:
            check_schema(service.engine)  # the long-running commands wait on the same check
        else:
            schema_revisions(service.engine)
    except SchemaNotReady as exc:
        raise fail(f"database {shown}: {exc}: run `notifier db upgrade` first", 2) from exc
    except Exception as exc:
        if not is_outage(exc):
            raise
        raise fail(f"database {shown}: unavailable ({reason(exc)})") from exc


def shown_database(service: Service) -> str:
    """The database's URL as an operator may see it in a terminal or a log: without its password."""
    from sqlalchemy.engine import make_url

    return make_url(service.settings.database.url).render_as_string(hide_password=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error; raise the result to end the command with `code`."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def write_out(content: bytes, out_file: Path | None, what: str) -> None:
    """`content` (UTF-8 text when no file is given) to standard output, or to `out_file` saying `what` was
    written there."""
    if out_file is None:
        sys.stdout.write(content.decode("utf-8"))
        return
    try:
        out_file.write_bytes(content)
    except OSError as exc:  # a missing folder, no permission, a directory, a full disk
        raise fail(f"file '{out_file}': cannot write it: {exc.strerror or exc}", 2) from exc
    out.print(f"{what} written to {out_file}", highlight=False)
