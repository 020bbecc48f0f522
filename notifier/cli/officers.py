"""`notifier apology …` and `notifier report …`: the officers' and leaders' commands (see notifier.cli)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from notifier.cli.common import NowOpt, fail, open_service, out

if TYPE_CHECKING:
    from notifier.workflows.reports import Period

apology_app = typer.Typer(
    help="Apology slips (Phiếu xin lỗi và hẹn lại ngày trả kết quả).", no_args_is_help=True
)
report_app = typer.Typer(help="Decision 766 figures per agency and procedure.", no_args_is_help=True)

OutOpt = Annotated[Path | None, typer.Option("--out", help="write to this file instead of the terminal")]
FormatOpt = Annotated[str, typer.Option("--format", help="csv, xlsx, html or json")]


@apology_app.command("set")
def apology_set(
    code: str,
    date: Annotated[
        str, typer.Option("--date", help="the new appointment, e.g. 15/12/2026 or 15/12/2026 16:30")
    ],
    reason: Annotated[str, typer.Option("--reason", help="the reason for the delay, printed on the slip")],
    officer: Annotated[str | None, typer.Option("--officer", help="the acting officer's MaCanBo")] = None,
    now: NowOpt = None,
) -> None:
    """Set a new appointment date and reason; issues the numbered slip, the citizen's apology follows."""
    from sqlalchemy import select

    from notifier.store.models import Officer
    from notifier.workflows.apology import ActionError
    from notifier.workflows.officer_actions import set_new_date

    service = open_service(now)
    s = service.settings
    try:
        with service.factory() as session, session.begin():
            who = session.scalar(select(Officer).where(Officer.code == officer)) if officer else None
            if officer and who is None:
                raise ActionError("--officer", officer, "unknown officer code (MaCanBo)")
            done = set_new_date(
                session,
                code,
                date,
                reason,
                service.clock.now(),
                actor=f"cli:{officer}" if officer else "cli",
                source="cli",
                calendar=service.calendar,
                number_format=s.apology.number_format,
                default_time=s.working_hours.end,
                officer=who,
            )
            number, corrected = done.slip.number, done.corrected
    except ActionError as exc:
        raise fail(str(exc)) from exc
    verb = "corrected" if corrected else "issued"
    out.print(
        f"{code}: slip {number} {verb}; run `notifier apology print {code}` to print it", highlight=False
    )


@apology_app.command("print")
def apology_print(
    code: str,
    out_file: OutOpt = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="a PDF instead of an HTML page (needs --out)")] = False,
    number: Annotated[str | None, typer.Option("--number", help="this slip rather than the latest")] = None,
) -> None:
    """The dossier's apology slip as an HTML page ready to print (or a PDF)."""
    from notifier.store.queries import slips_for
    from notifier.workflows.apology import PdfUnavailable, render_slip_html, render_slip_pdf

    service = open_service()
    with service.factory() as session:
        slips = slips_for(session, code)
    if number is not None:
        slips = [s for s in slips if s.number == number]
    if not slips:
        raise fail(f"MaHoSo '{code}': no apology slip" + (f" numbered '{number}'" if number else ""))
    slip, province = slips[-1], service.settings.province.name
    if pdf:
        if out_file is None:
            raise fail("--pdf needs --out FILE", 2)
        try:
            out_file.write_bytes(render_slip_pdf(slip, province, service.settings.apology.pdf_font))
        except PdfUnavailable as exc:
            raise fail(str(exc)) from exc
        out.print(f"slip {slip.number} written to {out_file}", highlight=False)
        return
    html = render_slip_html(slip, province)
    if out_file is None:
        sys.stdout.write(html)
        return
    out_file.write_text(html, encoding="utf-8")
    out.print(f"slip {slip.number} written to {out_file}", highlight=False)


def _emit(period: Period, fmt: str, out_file: Path | None, now: str | None) -> None:
    from notifier.workflows import reports

    if fmt not in reports.FORMATS:
        raise fail(f"--format: value '{fmt}': expected one of {', '.join(reports.FORMATS)}", 2)
    service = open_service(now)
    with service.factory() as session:
        report = reports.build_report(session, period, service.clock.now())
    body, _ = reports.render(report, fmt)
    if out_file is None and fmt == "xlsx":
        out_file = Path(f"bao-cao-{period.slug}.xlsx")
    if out_file is None:
        sys.stdout.write(body.decode("utf-8"))
        return
    out_file.write_bytes(body)
    out.print(f"report {period.label} written to {out_file}", highlight=False)


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="e.g. 2026-10")],
    fmt: FormatOpt = "csv",
    out_file: OutOpt = None,
    now: NowOpt = None,
) -> None:
    """One month's figures: CSV or HTML to the terminal or --out; XLSX to --out (default bao-cao-….xlsx)."""
    from notifier.workflows import reports

    try:
        period = reports.month_period(month)
    except ValueError as exc:
        raise fail(f"--{exc}", 2) from exc
    _emit(period, fmt, out_file, now)


@report_app.command("period")
def report_period(
    from_: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-01-01")],
    to: Annotated[str, typer.Option("--to", help="last day, included, e.g. 2026-06-30")],
    fmt: FormatOpt = "csv",
    out_file: OutOpt = None,
    now: NowOpt = None,
) -> None:
    """Figures for any span of days, e.g. the six-monthly report."""
    from notifier.workflows import reports

    try:
        period = reports.span_period(from_, to)
    except ValueError as exc:
        raise fail(f"--{exc}", 2) from exc
    _emit(period, fmt, out_file, now)
