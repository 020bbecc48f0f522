"""The `notifier` command: data in and out, the schema, accounts and keys, one-off scans and look-ups.

The commands that start long-running processes (run, worker, scheduler, dispatch, bot) are added by
`jobs.cli`, which owns the scheduler; the `notifier` console script is that full command."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from notifier.cli.common import ConfigOpt, NowOpt, check_database, err, fail, open_service, options, out
from notifier.cli.officers import apology_app, officer_app, report_app
from notifier.cli.privacy import privacy_app
from notifier.cli.public import public_app
from notifier.cli.qr import qr
from notifier.rules import logmask

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
app.add_typer(privacy_app, name="privacy")
app.add_typer(officer_app, name="officer")
app.command("qr")(qr)
app.add_typer(public_app, name="public")


@app.callback()
def main(config: ConfigOpt = None, verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False) -> None:
    options.config = config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logmask.install()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema and load the shipped templates."""
    service = open_service(database="reachable")
    seeded = service.migrate()
    updated = f", {seeded.updated} unedited ones brought to this release's text" if seeded.updated else ""
    out.print(f"schema up to date; {seeded.added} templates loaded{updated}")


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
    from notifier.workflows.ingest import ImportWorkflow, portal_file

    service = open_service(now, database="later")
    try:
        # checked now (encoding, empty, a CSV header); CSV rows are then read as they are stored
        items = portal_file(file, progress)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), 2) from exc
    check_database(service)  # after the file: what is wrong with the command line is told first
    done = ImportWorkflow(service).portal_items(items, f"import:{file.name}", progress=progress)
    _print_report(done.report, "progress items" if done.progress else "dossiers")
    if done.report.errors:
        raise typer.Exit(1)


@app.command("import-officers")
def import_officers(file: Path) -> None:
    """Import agencies and officers (MaCanBo, HoTen, MaDonVi, TenDonVi, SoDienThoai, Email, ...)."""
    from notifier.workflows.ingest import ImportWorkflow, officers_file

    service = open_service(database="later")
    try:
        items = officers_file(file)
    except (OSError, ValueError) as exc:
        raise fail(str(exc), 2) from exc
    check_database(service)
    report = ImportWorkflow(service).officers(items)
    _print_report(report, "officers")
    if report.errors:
        raise typer.Exit(1)


@apikey_app.command("create")
def apikey_create(
    name: str,
    test: Annotated[
        bool, typer.Option("--test", help="a test key: its messages go only to \\[api] test_channel")
    ] = False,
    callback_url: Annotated[
        str | None, typer.Option("--callback-url", help="POST each status change of its messages here")
    ] = None,
) -> None:
    """Create an API key; it (and the callback's signing secret) is printed once, the key stored as a hash."""
    from notifier.workflows.apikeys import ApiKeys
    from notifier.workflows.errors import DomainError

    try:
        new = ApiKeys(open_service()).create(name, "cli", test=test, callback_url=callback_url)
    except DomainError as exc:
        raise fail(str(exc)) from exc
    out.print(new.key, highlight=False)
    if new.callback_secret:
        out.print(f"callback signing secret: {new.callback_secret}", highlight=False)


def _when(at: datetime | None) -> str:
    from notifier.rules.clock import VN_TZ

    return at.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if at else "-"


@apikey_app.command("list")
def apikey_list() -> None:
    """Every API key: name, kind (test/live), created, last use, revoked, callback URL."""
    from notifier.workflows.apikeys import ApiKeys

    table = Table("name", "kind", "created", "last use", "revoked", "callback")
    for k in ApiKeys(open_service()).list():
        table.add_row(
            k.name,
            k.kind,
            _when(k.created_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
            k.callback_url or "-",
        )
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(name: str) -> None:
    """Revoke an API key: calls with it are refused from now on."""
    from notifier.workflows.apikeys import ApiKeys
    from notifier.workflows.errors import DomainError

    try:
        ApiKeys(open_service()).revoke(name, "cli")
    except DomainError as exc:
        raise fail(str(exc)) from exc
    out.print(f"revoked {name}", highlight=False)


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

    from notifier.workflows.accounts import NewUser, UserError, create_user

    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise fail(f"--password-env: environment variable '{password_env}' is not set or empty", 2)
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    service = open_service()
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
        raise fail(str(exc)) from exc
    out.print(f"user {name} created ({role_})", highlight=False)


@user_app.command("unlock")
def user_unlock(username: str) -> None:
    """Lift the login locks of an account name (its failed logins from every address stop counting)."""
    from notifier.workflows.accounts import unlock_login

    service = open_service()
    cleared = unlock_login(service.factory, username, service.clock.now(), "cli")
    out.print(f"user {username.strip().lower()}: {cleared} failed logins cleared", highlight=False)


@user_app.command("list")
def user_list(
    names: Annotated[bool, typer.Option("--names", help="the names only, one a line (for scripts)")] = False,
) -> None:
    """The admin page's accounts: name, role, agency, second factor, locked or not."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from notifier.store.models import User

    service = open_service()
    with service.factory() as session:
        users = list(session.scalars(select(User).options(selectinload(User.agency)).order_by(User.username)))
        rows = [
            (u.username, u.role, u.agency.code if u.agency else "", u.totp_enabled_at is not None, u.active)
            for u in users
        ]
    if names:
        for name, *_ in rows:
            out.print(name, highlight=False)
        return
    table = Table("username", "role", "agency", "second factor", "active")
    for name, role, agency, totp, active in rows:
        table.add_row(name, role, agency, "on" if totp else "off", "yes" if active else "locked")
    out.print(table)


@user_app.command("set-password")
def user_set_password(
    username: str,
    second_factor_off: Annotated[
        bool, typer.Option("--second-factor-off", help="also turn the account's TOTP off (a lost phone)")
    ] = False,
) -> None:
    """Give an account a new password, asked for at the terminal or read from the first line of standard
    input (never an argument: it would stay in the shell's history and in `ps`). Its sessions end."""
    import sys

    from notifier.workflows.accounts import UserError, reset_password

    if sys.stdin.isatty():
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    service = open_service()
    try:
        name = reset_password(service, username, password, "cli", second_factor_off)
    except UserError as exc:
        raise fail(str(exc)) from exc
    off = " and its second factor turned off" if second_factor_off else ""
    out.print(f"user {name}: password set{off}; its sessions have ended", highlight=False)


@app.command()
def scan(now: NowOpt = None) -> None:
    """Run every scan once and queue what is due."""
    service = open_service(now)
    result = service.scan()
    if result.skipped:
        out.print("another scheduler is scanning right now; nothing done")
        return
    table = Table("kind", "queued", title="full scan" if result.full else "incremental scan")
    for kind, count in result.queued.items():
        table.add_row(kind, str(count))
    out.print(table)


@app.command()
def purge(now: NowOpt = None) -> None:
    # "\\[" keeps rich (typer's help renderer) from reading "[retention]" as a markup tag and dropping it.
    """Erase text and recipient of finished notifications older than \\[retention] days (default 90), and what
    citizens sent (SMS received, applied Zalo OA events) as old."""
    count = open_service(now).purge()  # as the scheduled purge (jobs.tasks) does
    out.print(f"purged {count} notifications")


@app.command()
def status(code: str, now: NowOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A dossier's state and its notification history."""
    from notifier.rules.rendering import format_datetime
    from notifier.workflows.dossier_status import DossierLookup
    from notifier.workflows.errors import NotFound

    service = open_service(now)
    try:
        found = DossierLookup(service).status(code)
    except NotFound as exc:
        raise fail(f"{exc.field} '{exc.value}': {exc.reason}") from exc
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
    from notifier.workflows.demo import seed

    service = open_service(now, database="reachable")
    service.migrate()
    with service.factory() as session, session.begin():
        counts = seed(session, service.clock.now(), service.calendar)
    out.print(f"demo data: {counts}")

