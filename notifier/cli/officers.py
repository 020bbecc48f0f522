"""`notifier apology …` and `notifier report …`: the officers' and leaders' commands (see notifier.cli)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from notifier.cli.common import NowOpt, fail, open_service, out, write_out
from notifier.workflows.errors import DomainError, InvalidInput, NotFound

if TYPE_CHECKING:
    from notifier.workflows.reports import RenderedReport, ReportWorkflow

apology_app = typer.Typer(
    help='Mẫu số 04 "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết" (Circular 03/2025).',
    no_args_is_help=True,
)
officer_app = typer.Typer(help="Officers' accounts on the chat channels.", no_args_is_help=True)
report_app = typer.Typer(help="Decision 766 figures per agency and procedure.", no_args_is_help=True)

OutOpt = Annotated[Path | None, typer.Option("--out", help="write to this file instead of the terminal")]
FormatOpt = Annotated[str, typer.Option("--format", help="csv, xlsx, html or json")]
HeadersOpt = Annotated[
    str, typer.Option("--headers", help="a CSV's header row: vi (Vietnamese names) or keys (for scripts)")
]


def _refused(exc: DomainError) -> typer.Exit:
    # The acting officer is given with --officer here; the other fields keep the workflow's names.
    field = "--officer" if exc.field == "officer" else exc.field
    return fail(f"field {field}: value '{exc.value}': {exc.reason}")


@apology_app.command("set")
def apology_set(
    code: str,
    date: Annotated[
        str, typer.Option("--date", help="the new appointment, e.g. 15/12/2026 or 15/12/2026 16:30")
    ],
    reason: Annotated[str, typer.Option("--reason", help="the reason for the delay, printed on Mẫu 04")],
    officer: Annotated[str | None, typer.Option("--officer", help="the acting officer's MaCanBo")] = None,
    now: NowOpt = None,
) -> None:
    """Issue Mẫu 04: a new appointment date and reason; the citizen gets the document. One extension is
    allowed: a further one is recorded but reported as not compliant."""
    from notifier.workflows.officer_actions import Actor, ApologyWorkflow

    service = open_service(now)
    try:
        done = ApologyWorkflow(service).set_new_date(code, date, reason, Actor("cli", officer=officer))
    except DomainError as exc:
        raise _refused(exc) from exc
    verb = "corrected" if done.corrected else "issued"
    out.print(
        f"{code}: Mẫu 04 {done.number} {verb}; run `notifier apology print {code}` to print it",
        highlight=False,
    )
    if not done.compliant:
        out.print(
            f"{code}: NOT COMPLIANT: extension {done.extension_no} of this dossier (the rules allow one); "
            "recorded and shown in the digests and the report",
            highlight=False,
        )


@apology_app.command("print")
def apology_print(
    code: str,
    out_file: OutOpt = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="a PDF instead of an HTML page (needs --out)")] = False,
    number: Annotated[
        str | None, typer.Option("--number", help="this document rather than the latest")
    ] = None,
) -> None:
    """The dossier's Mẫu 04 as an HTML page ready to print (or a PDF)."""
    from notifier.workflows.apology import PdfUnavailable
    from notifier.workflows.officer_actions import ApologyWorkflow

    if pdf and out_file is None:
        raise fail("--pdf needs --out FILE", 2)
    service = open_service()
    try:
        slip = ApologyWorkflow(service).slip(code, number, "pdf" if pdf else "html")
    except NotFound as exc:
        raise fail(f"{exc.field} '{exc.value}': {exc.reason}") from exc
    except PdfUnavailable as exc:
        raise fail(str(exc)) from exc
    write_out(slip.content, out_file, f"Mẫu 04 {slip.number}")


def _report(
    now: str | None, out_file: Path | None, build: Callable[[ReportWorkflow], RenderedReport]
) -> None:
    """The report `build` makes, to the terminal or --out (an XLSX always to a file)."""
    from notifier.workflows.reports import ReportWorkflow

    try:
        report = build(ReportWorkflow(open_service(now)))
    except InvalidInput as exc:
        # Every input of a report is an option: a usage error (2), named as the option.
        raise fail(f"--{exc.field}: value '{exc.value}': {exc.reason}", 2) from exc
    if out_file is None and report.fmt == "xlsx":
        out_file = Path(report.filename)
    write_out(report.body, out_file, f"report {report.period.label}")


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="e.g. 2026-10")],
    fmt: FormatOpt = "csv",
    out_file: OutOpt = None,
    now: NowOpt = None,
    headers: HeadersOpt = "vi",
) -> None:
    """One month's figures: CSV or HTML to the terminal or --out; XLSX to --out (default bao-cao-….xlsx)."""
    _report(now, out_file, lambda reports: reports.monthly(month, fmt, headers == "keys"))


@report_app.command("period")
def report_period(
    from_: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-01-01")],
    to: Annotated[str, typer.Option("--to", help="last day, included, e.g. 2026-06-30")],
    fmt: FormatOpt = "csv",
    out_file: OutOpt = None,
    now: NowOpt = None,
    headers: HeadersOpt = "vi",
) -> None:
    """Figures for any span of days, e.g. the six-monthly report."""
    _report(now, out_file, lambda reports: reports.span(from_, to, fmt, headers == "keys"))


@report_app.command("costs")
def report_costs(
    from_: Annotated[str, typer.Option("--from", help="first day, e.g. 2026-12-01")],
    to: Annotated[str, typer.Option("--to", help="last day, included, e.g. 2026-12-31")],
    now: NowOpt = None,
) -> None:
    """What the messages sent in a period cost per channel (price_vnd), and what Zalo saved against SMS."""
    from notifier.workflows.costs import cost_summary
    from notifier.workflows.costs import dong as money

    try:
        summary = cost_summary(open_service(now), from_, to)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    out.print(f"Chi phí tin nhắn {summary.period.label}", highlight=False)
    for c in summary.channels:
        parts = f", {c.parts} phần SMS" if c.sms else ""
        unpriced = f" ({c.messages - c.priced} tin chưa có giá)" if c.priced < c.messages else ""
        out.print(f"  {c.channel}: {c.messages} tin{parts}, {money(c.cost_vnd)}{unpriced}", highlight=False)
    out.print(f"  Tổng: {money(summary.total_vnd)}", highlight=False)
    if summary.saved_vnd is None:
        out.print("  Tiết kiệm so với SMS: chưa tính được (kênh SMS chưa có price_vnd)", highlight=False)
    else:
        out.print(
            f"  Tiết kiệm so với gửi SMS (ước tính {summary.average_parts} phần/tin, "
            f"{money(summary.sms_price_vnd or 0)}/phần): {money(summary.saved_vnd)}",
            highlight=False,
        )


@officer_app.command("link-code")
def officer_link_code(code: str, now: NowOpt = None) -> None:
    """A one-time code (24 h) the officer sends to the Zalo OA as "LK <code>" to link their Zalo account."""
    from notifier.workflows.zalo_oa import new_link_code

    service = open_service(now)
    try:
        link = new_link_code(service, code)
    except DomainError as exc:
        raise _refused(exc) from exc
    until = link.expires_at.strftime("%H:%M %d/%m/%Y")
    out.print(f"{code}: send  LK {link.code}  to the Zalo OA before {until}", highlight=False)
