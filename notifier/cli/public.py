"""`notifier public …`: the public dossier page's links (QR codes on receipts). The work is
notifier.workflows.public_links'; this parses and prints."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from notifier.cli.common import NowOpt, fail, open_service, out
from notifier.rules.rendering import format_date
from notifier.workflows.errors import DomainError

public_app = typer.Typer(help="The public dossier page (/tra-cuu) and its QR links.", no_args_is_help=True)


@public_app.command("revoke")
def public_revoke(
    code: Annotated[str, typer.Argument(help="the dossier's MaHoSo")],
    by: Annotated[str, typer.Option("--by", help="who revokes: an officer's MaCanBo or an admin")] = "cli",
    now: NowOpt = None,
) -> None:
    """Stop every link issued up to today from opening the dossier (a receipt lost or shared); a receipt
    printed from tomorrow on carries a working link again."""
    from notifier.workflows.public_links import revoke

    service = open_service(now)
    try:
        row = revoke(service, code, by)
    except DomainError as exc:
        raise fail(f"field {exc.field}: value '{exc.value}': {exc.reason}") from exc
    finally:
        service.engine.dispose()
    out.print(
        escape(f"{code}: links issued on or before {format_date(row.revoked_at)} revoked"), highlight=False
    )
