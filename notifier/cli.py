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
def import_dossiers(file: Path, now: NowOpt = None) -> None:
    """Import dossiers from JSON ({"data": [...]} or a list) or CSV with the portal's column names."""
    from notifier.ingest import read_file, upsert

    service = _service(now)
    try:
        items = read_file(file)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc), 2) from exc
    with service.factory() as session, session.begin():
        report = upsert(session, items, service.clock.now(), source=f"import:{file.name}")
    _print_report(report, "dossiers")
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


@app.command()
def scan(now: NowOpt = None) -> None:
    """Run every scan once and queue what is due."""
    service = _service(now)
    result = service.scan()
    table = Table("kind", "queued")
    for kind, count in result.queued.items():
        table.add_row(kind, str(count))
    out.print(table)


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

                scheduler = build_scheduler(service, scans=False)
                scheduler.start()
                await asyncio.Event().wait()
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
    from notifier.runner import serve

    service = _service(now)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(service, host or service.settings.api.host, port or service.settings.api.port))


if __name__ == "__main__":
    app()
