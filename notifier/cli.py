"""The `notifier` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from notifier.clock import parse_now
from notifier.config import load_settings
from notifier.officer_cli import apology_app, report_app
from notifier.service import Service

app = typer.Typer(
    help="notifier: reminders and citizen notifications for the one-stop procedure system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for the portal and other callers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
user_app = typer.Typer(help="Accounts for the admin web page.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(apology_app, name="apology")
app.add_typer(report_app, name="report")

# soft_wrap: a rejected row stays on one line, so it can be grepped and read on a narrow terminal
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    str | None, typer.Option("--config", help="config file (default: NOTIFIER_CONFIG, ./config.toml)")
]
NowOpt = Annotated[str | None, typer.Option("--now", help="pretend it is this time, e.g. 2027-02-03T09:00")]


class _State:
    config: str | None = None


state = _State()


@app.callback()
def main(config: ConfigOpt = None, verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    state.config = config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from notifier import logmask

    logmask.install()


def _service(now: str | None = None) -> Service:
    try:
        settings = load_settings(state.config)
        clock = parse_now(now)
    except (ValueError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    return Service.build(settings, clock)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema and load the shipped templates."""
    service = _service()
    added = service.migrate()
    out.print(f"schema up to date; {added} templates loaded")


def _print_report(report, what: str) -> None:  # type: ignore[no-untyped-def]
    out.print(
        f"{what}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} rejected"
    )
    for w in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {w}")
    for e in report.errors:
        err.print(f"rejected: {e}", markup=False, highlight=False)


@app.command("import")
def import_dossiers(
    file: Path,
    now: NowOpt = None,
    progress: Annotated[
        bool, typer.Option("--progress", help="progress items (CapNhatTienDoHoSoMC); also found by fields")
    ] = False,
) -> None:
    """Import dossiers from JSON ({"data": [...]} or a list) or CSV with the portal's column names."""
    from notifier.ingest import read_file, upsert
    from notifier.steps import is_progress_file, upsert_progress

    service = _service(now)
    try:
        items = read_file(file)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc), 2) from exc
    steps = progress or is_progress_file(items)
    with service.factory() as session, session.begin():
        if steps:
            report = upsert_progress(session, items, service.clock.now(), source=f"import:{file.name}")
        else:
            report = upsert(session, items, service.clock.now(), source=f"import:{file.name}")
    _print_report(report, "progress items" if steps else "dossiers")
    if report.errors:
        raise typer.Exit(1)


@app.command("import-officers")
def import_officers(file: Path) -> None:
    """Import agencies and officers (MaCanBo, HoTen, MaDonVi, TenDonVi, SoDienThoai, Email, ...)."""
    from notifier.ingest import read_file
    from notifier.officers import upsert_officers

    service = _service()
    try:
        items = read_file(file)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc), 2) from exc
    with service.factory() as session, session.begin():
        report = upsert_officers(session, items)
    _print_report(report, "officers")
    if report.errors:
        raise typer.Exit(1)


@apikey_app.command("create")
def apikey_create(name: str) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from notifier.apikeys import create_key

    service = _service()
    try:
        with service.factory() as session, session.begin():
            key = create_key(session, name, service.clock.now())
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    out.print(key, highlight=False)


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option("--role", help="admin (every agency) or agency (one agency)")],
    agency: Annotated[str | None, typer.Option("--agency", help="the agency's code (MaDonVi)")] = None,
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="read the password from this environment variable")
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="where 'send a test' texts go")] = None,
    telegram_chat_id: Annotated[str | None, typer.Option("--telegram-chat-id")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
) -> None:
    """Create an admin page account (the password is prompted for unless --password-env names it)."""
    import os

    from notifier.admin.users import NewUser, UserError, create_user

    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise _fail(f"--password-env: environment variable '{password_env}' is not set or empty", 2)
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    service = _service()
    try:
        with service.factory() as session, session.begin():
            user = create_user(
                session,
                NewUser(username, role, agency, phone, telegram_chat_id, email),
                password,
                service.clock.now(),
            )
            name, role_ = user.username, user.role
    except UserError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"user {name} created ({role_})", highlight=False)


@app.command()
def scan(now: NowOpt = None) -> None:
    """Run every scan once and queue what is due."""
    service = _service(now)
    result = service.scan()
    if result.skipped:
        out.print("another scheduler is scanning right now; nothing done")
        return
    table = Table("kind", "queued", title="full scan" if result.full else "incremental scan")
    for kind, count in result.queued.items():
        table.add_row(kind, str(count))
    out.print(table)


@app.command()
def scheduler(now: NowOpt = None) -> None:
    """Scans only (and the retention purge), on the configured intervals; run one or several."""
    from jobs import tasks
    from jobs.scheduler import build_scheduler

    service = _service(now)

    async def go() -> None:
        sched = build_scheduler(service, dispatch=False)
        try:
            await tasks.scan(service)
            sched.start()
            await asyncio.Event().wait()
        finally:
            sched.shutdown(wait=False)
            await service.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())


@app.command()
def worker(now: NowOpt = None) -> None:
    """Dispatcher only: claims and sends due notifications; run as many as the database allows."""
    dispatch(now=now, once=False)


@app.command()
def purge(now: NowOpt = None) -> None:
    """Erase text and recipient of finished notifications older than [retention] days."""
    from notifier.retention import purge as purge_rows

    service = _service(now)
    with service.factory() as session, session.begin():
        count = purge_rows(session, service.clock.now(), service.settings.retention.days)
    out.print(f"purged {count} notifications")


@app.command()
def dispatch(now: NowOpt = None, once: Annotated[bool, typer.Option("--once")] = False) -> None:
    """Send what is due. --once sends everything due now and exits; otherwise keeps going."""
    from notifier.dispatch import RoutingError

    service = _service(now)

    async def go() -> None:
        try:
            if once:
                service.dispatcher.reclaim_expired()
                stats = await service.dispatcher.drain()
                out.print(
                    f"claimed {stats.claimed}, sent {stats.sent}, retry {stats.retried}, "
                    f"failed {stats.failed}, deferred {stats.deferred}"
                )
            else:
                from jobs.scheduler import build_scheduler

                sched = build_scheduler(service, scans=False)
                await service.dispatcher.drain()
                sched.start()
                try:
                    await asyncio.Event().wait()
                finally:
                    sched.shutdown(wait=False)
        finally:
            await service.aclose()

    try:
        asyncio.run(go())
    except RoutingError as exc:
        raise _fail(str(exc), 2) from exc
    except KeyboardInterrupt:
        pass


@app.command()
def status(code: str, now: NowOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A dossier's state and its notification history."""
    from notifier.queries import dossier_status
    from notifier.rendering import format_datetime

    service = _service(now)
    with service.factory() as session:
        found = dossier_status(session, code, service.calendar, service.clock.now())
    if found is None:
        raise _fail(f"MaHoSo '{code}': not found")
    if as_json:
        out.print_json(json.dumps(found, ensure_ascii=False))
        return
    out.print(f"[bold]{found['MaHoSo']}[/bold] — {found['procedure']}")
    due = format_datetime(datetime.fromisoformat(found["due_at"])) if found["due_at"] else "—"
    line = f"{found['agency']} · {found['status']} {found['status_name']} · hẹn trả {due}"
    if found["overdue"]:
        line += f" · QUÁ HẠN {found['working_days_overdue']} ngày làm việc"
    elif found["working_days_left"] is not None:
        line += f" · còn {found['working_days_left']} ngày làm việc"
    out.print(line)
    table = Table("id", "kind", "audience", "status", "channel", "attempts", "sent at", "error")
    for n in found["notifications"]:
        sent = format_datetime(datetime.fromisoformat(n["sent_at"])) if n["sent_at"] else ""
        table.add_row(
            str(n["id"]),
            n["kind"],
            n["audience"],
            n["status"],
            n["channel"] or "",
            str(n["attempts"]),
            sent,
            n["error"] or "",
        )
    out.print(table)


@app.command()
def demo(now: NowOpt = None) -> None:
    """Seed realistic Hai Phong agencies, officers and dossiers in every state."""
    from notifier.demo import seed

    service = _service(now)
    service.migrate()
    with service.factory() as session, session.begin():
        counts = seed(session, service.clock.now(), service.calendar)
    out.print(f"demo data: {counts}")


@app.command()
def run(now: NowOpt = None, host: str | None = None, port: int | None = None) -> None:
    """Web API, scheduler and dispatcher in one process; Ctrl-C stops cleanly."""
    from notifier.bot.config import BotConfigError
    from notifier.runner import serve

    service = _service(now)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(service, host or service.settings.api.host, port or service.settings.api.port))
    except BotConfigError as exc:
        raise _fail(str(exc), 2) from exc


@app.command()
def bot(now: NowOpt = None, host: str | None = None, port: int | None = None) -> None:
    """The citizen chatbot alone: long polling, or the webhook route when [bot] webhook_url is set."""
    from notifier.bot.config import BotConfigError
    from notifier.bot.runner import run_bot

    service = _service(now)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            api = service.settings.api
            asyncio.run(run_bot(service, host or api.host, port or api.port))
    except BotConfigError as exc:
        raise _fail(str(exc), 2) from exc


if __name__ == "__main__":
    app()
