"""`notifier qr …`: a dossier's QR code or printable slip, and the slips of an agency's day of receipts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.common import NowOpt, err, fail, open_service, write_out


def qr(
    code: Annotated[str | None, typer.Argument(help="the dossier's code (MaHoSo)")] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="svg or png (the code), pdf (the A6 slip to staple to the receipt)"),
    ] = "svg",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write to this file (needed for png and pdf)")
    ] = None,
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="with --date: the slips of every dossier it received that day"),
    ] = None,
    day: Annotated[str | None, typer.Option("--date", help="the day of receipt, dd/MM/yyyy")] = None,
    now: NowOpt = None,
) -> None:
    """A dossier's QR code (its public page's link, issued today or on --now's day) as SVG or PNG, or its
    A6 slip as PDF; with --agency and --date, the slips of that day's receipts as one PDF, four A6 slips to
    an A4 sheet."""
    from notifier.workflows.apology import PdfUnavailable
    from notifier.workflows.errors import DomainError
    from notifier.workflows.qr_slips import QrFormat, QrWorkflow

    batch = agency is not None or day is not None
    if batch and code is not None:
        raise fail("give a dossier code, or --agency and --date, not both", 2)
    if batch and (agency is None or day is None):
        raise fail(
            "--agency and --date go together: the slips of the dossiers an agency received that day", 2
        )
    if not batch and code is None:
        raise fail("give a dossier code (MaHoSo), or --agency MADONVI --date dd/MM/yyyy", 2)
    try:
        chosen = QrFormat(fmt.lower())
    except ValueError:
        raise fail(f"--format: value '{fmt}': use svg, png or pdf", 2) from None
    if out_file is None and (batch or chosen is not QrFormat.SVG):
        raise fail(f"{'the slips' if batch else '--format ' + chosen} need --out FILE", 2)
    workflow = QrWorkflow(open_service(now))
    try:
        if agency is not None and day is not None:
            done = workflow.day_slips(agency, day)
        else:
            assert code is not None
            done = workflow.qr(code, chosen)
    except DomainError as exc:
        raise fail(f"{exc.field} '{exc.value}': {exc.reason}") from exc
    except PdfUnavailable as exc:
        raise fail(str(exc)) from exc
    # Only a day's slips skip codes, and they always go to --out.
    for skipped in done.skipped:
        err.print(
            f"warning: MaHoSo '{skipped}': no slip, its code cannot be put in a public link", markup=False
        )
    what = f"{done.count} slips" if batch else ("the slip" if chosen is QrFormat.PDF else "the QR code")
    write_out(done.content, out_file, what)
