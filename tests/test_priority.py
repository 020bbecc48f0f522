"""Priority lanes: a citizen's notices are claimed ahead of staff alerts and digests, whatever is queued."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from notifier.outbox.enqueue import NewNotification, enqueue
from notifier.rules.kinds import Kind, Lane, lane_of
from notifier.store.models import Notification
from notifier.workflows.ingest import ImportWorkflow
from notifier.workflows.service import Service
from tests.factories import dossier, officers


def test_every_queued_row_gets_the_lane_of_its_kind(service: Service) -> None:
    imports = ImportWorkflow(service)
    imports.officers(officers())
    imports.dossiers(
        [dossier("P-1", TrangThaiHoSo=2, NgayTiepNhan="20261201080000", MaCanBo="CB01")], "test"
    )
    service.scan()  # 09:00: the received notice and the day's digests (INSERT … SELECT)
    with service.factory() as session, session.begin():
        enqueue(session, NewNotification("one:1", Kind.ESCALATION), service.clock.now())  # one row
        rows = session.execute(select(Notification.kind, Notification.priority)).all()
    kinds = {kind for kind, _ in rows}
    assert {"received", "officer_digest", "escalation"} <= kinds
    assert all(priority == lane_of(kind) for kind, priority in rows)
    assert lane_of("received") == Lane.TRANSACTIONAL and lane_of("head_digest") == Lane.BULK


def test_transactional_rows_are_claimed_before_an_older_digest_backlog(service: Service) -> None:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        for i in range(300):  # a digest run queued an hour ago
            enqueue(session, NewNotification(f"d:{i}", Kind.OFFICER_DIGEST), now - timedelta(hours=1))
        for i in range(10):
            enqueue(session, NewNotification(f"a:{i}", Kind.OVERDUE_ALERT), now - timedelta(minutes=30))
        for i in range(5):
            enqueue(session, NewNotification(f"c:{i}", Kind.PAYMENT_REQUESTED), now)
        enqueue(session, NewNotification("later", Kind.RECEIVED, not_before=now + timedelta(hours=1)), now)
        kind_of = dict(session.execute(select(Notification.id, Notification.kind)).all())

    first = service.dispatcher.claim(now, 8)
    assert sorted(kind_of[i] for i in first) == ["overdue_alert"] * 3 + ["payment_requested"] * 5
    second = service.dispatcher.claim(now, 10)
    assert sorted(kind_of[i] for i in second) == ["officer_digest"] * 3 + ["overdue_alert"] * 7
    # A citizen's notice queued while the digests are being claimed still goes first.
    with service.factory() as session, session.begin():
        new = enqueue(session, NewNotification("c:late", Kind.RECEIVED), now)
    third = service.dispatcher.claim(now, 4)
    assert new in third and sorted(kind_of.get(i, "received") for i in third) == ["officer_digest"] * 3 + [
        "received"
    ]
    # The notice not yet due is not taken, however high its lane.
    with service.factory() as session:
        later = session.scalar(select(Notification.status).where(Notification.dedupe_key == "later"))
    assert later == "queued"


def test_a_row_with_an_unknown_lane_number_is_still_claimed(service: Service) -> None:
    now = service.clock.now()
    with service.factory() as session, session.begin():
        nid = enqueue(session, NewNotification("odd", Kind.HEAD_DIGEST), now)
        session.execute(update(Notification).where(Notification.id == nid).values(priority=7))
    assert service.dispatcher.claim(now, 5) == [nid]
