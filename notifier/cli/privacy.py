"""`notifier privacy …`: data-subject requests taken by an officer or admin on a citizen's behalf, their
list, carrying them out, and the processing record. notifier.workflows.privacy does the work; this parses
and prints."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from notifier.cli.common import NowOpt, fail, open_service, out
from notifier.workflows.errors import DomainError

privacy_app = typer.Typer(
    help="Personal data: data-subject requests (see, correct, erase, withdraw) and the processing record.",
    no_args_is_help=True,
)

ByOpt = Annotated[str, typer.Option("--by", help="who acts: an officer's MaCanBo or an admin's name")]


def _refused(exc: DomainError) -> typer.Exit:
    return fail(f"field {exc.field}: value '{exc.value}': {exc.reason}")


def _line(r: dict[str, object]) -> str:
    subject = " ".join(str(x) for x in (r["phone"], r["MaHoSo"]) if x) or "-"
    late = " QUÁ HẠN" if r["overdue"] else ""
    return (
        f"#{r['id']} {r['kind']} {r['status']}{late} subject {subject} via {r['channel']} "
        f"by {r['requested_by']} deadline {r['deadline_at']}"
    )


@privacy_app.command("request")
def privacy_request(
    kind: Annotated[str, typer.Argument(help="access, correct, erase or withdraw")],
    by: ByOpt,
    phone: Annotated[str | None, typer.Option("--phone", help="the citizen's phone number")] = None,
    dossier: Annotated[str | None, typer.Option("--dossier", help="a dossier's MaHoSo")] = None,
    detail: Annotated[
        str | None, typer.Option("--detail", help="what the citizen asked, in their words")
    ] = None,
    channel: Annotated[str, typer.Option("--channel", help="officer or admin")] = "officer",
    now: NowOpt = None,
) -> None:
    """Record a citizen's request with its legal deadline (the citizen asked an officer or admin)."""
    from notifier.workflows.privacy import PrivacyWorkflow

    service = open_service(now)
    try:
        r = PrivacyWorkflow.of(service).request(
            kind=kind, channel=channel, requested_by=by, phone=phone, dossier_code=dossier, detail=detail
        )
    except DomainError as exc:
        raise _refused(exc) from exc
    out.print(escape(_line(r)), highlight=False)


@privacy_app.command("list")
def privacy_list(
    status: Annotated[str | None, typer.Option("--status", help="open, done or refused")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    now: NowOpt = None,
) -> None:
    """Requests, the nearest deadline first (phones masked)."""
    from notifier.workflows.privacy import PrivacyWorkflow

    service = open_service(now)
    try:
        rows = PrivacyWorkflow.of(service).list(status)
    except DomainError as exc:
        raise _refused(exc) from exc
    if as_json:
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        out.print(escape(_line(r)), highlight=False)
    if not rows:
        out.print("no requests")


@privacy_app.command("done")
def privacy_done(
    request_id: int,
    by: ByOpt,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="a correction FIELD=VALUE (ChuHoSo, SoDienThoai, Email); repeatable"),
    ] = None,
    refuse: Annotated[
        str | None, typer.Option("--refuse", help="refuse the request, giving the reason")
    ] = None,
    now: NowOpt = None,
) -> None:
    """Carry out a request (access prints the subject's data as JSON), or refuse it with a reason."""
    from notifier.workflows.privacy import PrivacyWorkflow

    changes: dict[str, str] = {}
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise fail(f"field --set: value '{item}': expected FIELD=VALUE")
        changes[name.strip()] = value
    service = open_service(now)
    workflow = PrivacyWorkflow.of(service)
    try:
        if refuse is not None:
            r = workflow.refuse(request_id, by, refuse)
            out.print(escape(_line(r)), highlight=False)
            return
        r, result = workflow.done(request_id, by, changes)
    except DomainError as exc:
        raise _refused(exc) from exc
    out.print(escape(_line(r)), highlight=False)
    out.print_json(json.dumps(result, ensure_ascii=False))


@privacy_app.command("report")
def privacy_report() -> None:
    """The processing record: what personal data notifier holds, why and for how long (from config)."""
    from notifier.workflows.privacy import PrivacyWorkflow

    record = PrivacyWorkflow.of(open_service()).report()
    lines = [
        "HỒ SƠ HOẠT ĐỘNG XỬ LÝ DỮ LIỆU CÁ NHÂN",
        f"Căn cứ: {record.law}; {record.decree}",
        f"Bên kiểm soát dữ liệu: {record.controller}",
        f"Thời hạn trả lời yêu cầu của chủ thể dữ liệu: {record.answer_working_days} ngày làm việc",
        "",
    ]
    if not record.lines:
        lines.append("(chưa khai báo: thêm các bảng [[privacy.processing]] vào config.toml)")
    for i, line in enumerate(record.lines, start=1):
        lines += [
            f"{i}. Dữ liệu: {line.data}",
            f"   Mục đích: {line.purpose}",
            f"   Thời hạn lưu trữ: {line.retention}",
            f"   Căn cứ xử lý: {line.basis}",
        ]
    lines += ["", "Đang lưu giữ:"] + [f"- {name}: {count}" for name, count in record.held.items()]
    for text in lines:
        out.print(escape(text), highlight=False)
