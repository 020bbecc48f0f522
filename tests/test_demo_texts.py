"""What the demo province's people receive over some working days of December 2026, read as they read it:
the shipped SMS templates on real names (the longest department, officers' full names), not only on the
rendering samples."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.rules.kinds import REGISTRY, Kind
from notifier.rules.smstext import sms_info
from notifier.workflows.demo import seed
from notifier.workflows.service import Service

# Tuesday 01/12 (the demo's day), Thursday 03/12 and Thursday 10/12: every kind of alert, digest and notice.
DAYS = (datetime(2026, 12, 1, 9, 0), datetime(2026, 12, 3, 9, 0), datetime(2026, 12, 10, 9, 0))
SHORT_NAMES = {
    "Sở Tư pháp thành phố Hải Phòng": "Sở Tư pháp HP",
    "Sở Tài chính thành phố Hải Phòng": "Sở Tài chính HP",
    "Sở Nông nghiệp và Môi trường thành phố Hải Phòng": "Sở NN&MT HP",
    "Sở Xây dựng thành phố Hải Phòng": "Sở Xây dựng HP",
    "Công an thành phố Hải Phòng": "Công an TP HP",
    "UBND phường Lê Chân": "UBND P. Lê Chân",
    "UBND phường Hải Dương": "UBND P. Hải Dương",
}


async def _demo_sms(service: Service, clock: FixedClock, tmp_path: Path) -> list[dict]:
    with service.factory() as session, session.begin():
        seed(session, clock.now(), service.calendar)
    for day in DAYS:
        clock.set(day.replace(tzinfo=VN_TZ))
        service.scan()
        await service.dispatcher.drain()
    return [json.loads(x) for x in (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]


async def test_every_demo_sms_fits_its_kind_budget_and_names_the_agency_short(
    service: Service, clock: FixedClock, tmp_path: Path
) -> None:
    lines = await _demo_sms(service, clock, tmp_path)
    kinds = {x["kind"] for x in lines}
    assert {"due_soon", "apology_due", "overdue_notice", "overdue_alert", "escalation"} <= kinds
    for x in lines:
        text = x["text"]
        budget = REGISTRY[Kind(x["kind"])].sms_segments
        # An officer's "còn 1 ngày làm việc" on the Sở Nông nghiệp và Môi trường took 3 parts where 2 are budgeted,
        # and an escalation naming an officer in full 3 as well.
        assert sms_info(text).segments <= budget, (x["kind"], sms_info(text).segments, budget, text)
        # Every SMS names the agency as its short name (README: SMS templates use agency.short_name).
        assert not any(text.startswith(full + ":") for full in SHORT_NAMES), text
        assert any(text.startswith(short) for short in SHORT_NAMES.values()), text
