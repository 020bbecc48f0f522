"""What every `notifier` command shares: the consoles, the global options, building the service, failing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from notifier.config import load_settings
from notifier.rules.clock import parse_now

if TYPE_CHECKING:
    from notifier.workflows.service import Service

# soft_wrap: a rejected row stays on one line, so it can be grepped and read on a narrow terminal
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    str | None, typer.Option("--config", help="config file (default: NOTIFIER_CONFIG, ./config.toml)")
]
NowOpt = Annotated[str | None, typer.Option("--now", help="pretend it is this time, e.g. 2027-02-03T09:00")]


class Options:
    """The options given before the command (`notifier --config FILE …`)."""

    config: str | None = None


options = Options()


def open_service(now: str | None = None) -> Service:
    """The service for this command: settings from --config, the clock from --now."""
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

    return Service.build(settings, clock)


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
    out_file.write_bytes(content)
    out.print(f"{what} written to {out_file}", highlight=False)
