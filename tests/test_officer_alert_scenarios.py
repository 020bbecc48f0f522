"""Officer alerts held for working hours, seen the morning they go out: an alert that the portal made untrue
overnight (it resolved the dossier, or moved its missed appointment) does not go out, as when an officer
does the same from a button (notifier.workflows.officer_actions.cancel_queued)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.rules.clock import VN_TZ, FixedClock
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.factories import dossier, officers, ts


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=VN_TZ)


class Desk:
    def __init__(self, svc: Service, clock: FixedClock, tmp_path: Path) -> None:
        self.svc, self.clock, self.path, self.seen = svc, clock, tmp_path / "outbox.jsonl", 0
        self.imports = ImportWorkflow(svc)

    def sync(self, when: datetime, *items: dict[str, Any]) -> None:
        self.clock.set(when)
        report = self.imports.dossiers(list(items), "portal")
        assert report.ok, report.errors

    def step(self, when: datetime) -> list[tuple[str, str]]:
        """Move the clock, scan, send: (kind, text) of the messages sent in this step."""
        self.clock.set(when)
        self.svc.scan()
        asyncio.run(self.svc.dispatcher.drain())
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        new, self.seen = [json.loads(x) for x in lines[self.seen :]], len(lines)
        return [(m["kind"], m["text"]) for m in new]


# Received 01/12, due Thursday 10/12/2026 at the end of working hours (17:00), assigned to CB01.
ITEM = {"MaCanBo": "CB01", "NgayTiepNhan": ts(2026, 12, 1, 8, 0), "NgayHenTra": ts(2026, 12, 10, 17, 0)}


@pytest.mark.parametrize("twice", [False, True], ids=["batch", "row_by_row"])
@pytest.mark.parametrize(
    "evening",
    [
        {"TrangThaiHoSo": 9, "NgayKetThucXuLy": ts(2026, 12, 10, 18, 45)},  # resolved after hours
        {"TrangThaiHoSo": 8},  # stopped
        {
            "NgayHenTra": ts(2026, 12, 15, 17, 0),
            "LyDoTreHan": "Chờ ý kiến Sở Xây dựng",
        },  # the portal's Mẫu 04
    ],
    ids=["resolved", "stopped", "moved"],
)
def test_an_overdue_alert_the_portal_made_untrue_overnight_is_not_sent(
    svc: Service, clock: FixedClock, tmp_path: Path, evening: dict[str, Any], twice: bool
) -> None:
    desk = Desk(svc, clock, tmp_path)
    clock.set(at(1, 9))
    assert desk.imports.officers(officers()).ok
    desk.sync(at(1, 9), dossier("R1", **ITEM))
    # 17:30: the appointment has passed; the officer's alert waits for working hours (07:30 next day).
    evening_kinds = [k for k, _ in desk.step(at(10, 17, 30))]
    assert "overdue_alert" not in evening_kinds
    # 19:00 the portal syncs the dossier's new state (a file naming it twice is stored row by row).
    changed = dossier("R1", **{**ITEM, **evening})
    desk.sync(at(10, 19), *([dossier("R1", **ITEM), changed] if twice else [changed]))
    morning = desk.step(at(11, 8))
    assert not [text for kind, text in morning if kind == "overdue_alert"]
    # The officer's alerts still go out for what is still true: a dossier of the same desk left late.
    desk.sync(at(11, 9), dossier("R2", **ITEM))
    assert [k for k, _ in desk.step(at(11, 9, 5))].count("overdue_alert") == 1


def test_the_heads_escalation_queued_at_night_is_not_sent_for_a_dossier_resolved_before_work(
    svc: Service, clock: FixedClock, tmp_path: Path
) -> None:
    """Due Thursday 10/12; two working days late on Monday 14/12 (Friday and Monday). The scan at 00:30 on
    Monday, Vietnam time (17:30 UTC on Sunday), queues the head's escalation for working hours; the portal
    resolves the dossier at 06:00, before they start."""
    desk = Desk(svc, clock, tmp_path)
    clock.set(at(1, 9))
    assert desk.imports.officers(officers()).ok
    desk.sync(at(1, 9), dossier("E1", **ITEM))
    assert "overdue_alert" in [k for k, _ in desk.step(at(11, 9))]
    assert "escalation" not in [k for k, _ in desk.step(at(13, 23, 30))]  # Sunday: one working day late
    assert "escalation" not in [k for k, _ in desk.step(at(14, 0, 30))]  # queued, held for 07:30
    desk.sync(
        at(14, 6), dossier("E1", **{**ITEM, "TrangThaiHoSo": 9, "NgayKetThucXuLy": ts(2026, 12, 14, 6, 0)})
    )
    assert "escalation" not in [k for k, _ in desk.step(at(14, 8))]
    # Another dossier of the agency, as late, still reaches the head.
    desk.sync(at(14, 9), dossier("E2", **ITEM))
    assert [k for k, _ in desk.step(at(14, 9, 5))].count("escalation") == 1
