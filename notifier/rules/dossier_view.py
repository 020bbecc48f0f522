"""What is shown about one dossier, computed once from plain values.

Every place that shows a dossier reads this view and takes its part: the templates (`outbox.views`, with
the names of `rules.rendering.SCHEMA`), the status answer of the API and CLI, the chatbot's look-up
(`rules.lookup`, which hides what a citizen need not see), the SMS TRACUU reply and the admin editor's
preview. `outbox.views.dossier_view` builds it from a stored row.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from notifier.rules.phones import mask_phone
from notifier.rules.statuses import OPEN_FOR_DEADLINE, Status, status_name
from notifier.rules.workdays import WorkCalendar, working_days

BUSINESS = 2  # LoaiDoiTuong: 1 citizen, 2 business


@dataclass(frozen=True)
class DossierFacts:
    """What a stored dossier and its view both carry, unchanged from one to the other."""

    code: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    email: str | None
    status: int
    received_at: datetime | None
    due_at: datetime | None
    returned_at: datetime | None
    fee_amount: int | None
    fee_paid: bool
    payment_link: str | None
    supplement_note: str | None
    delay_reason: str | None
    apology_old_due_at: datetime | None  # the appointment the latest apology moved
    apology_new_due_at: datetime | None  # and the one it set


@dataclass(frozen=True)
class DossierRecord(DossierFacts):
    """A stored dossier's own values, as plain data."""

    applicant_kind: int
    phone: str | None


@dataclass(frozen=True)
class DossierView(DossierFacts):
    """One dossier as shown at one moment. The phone appears only masked."""

    applicant_kind: str  # "citizen" or "business"
    phone_masked: str | None
    status_name: str
    # Counted from the appointment whatever the status: templates read them as counted (an alert rendered
    # after the dossier moved to 5 still has its figure); see days_left for the running deadline.
    working_days_left: int | None
    working_days_overdue: int | None
    # The deadline runs only while the agency holds the dossier (2, 4); in 5 and 6 it waits for the citizen.
    deadline_running: bool
    resolved: bool  # 9 or 10
    payment_pending: bool  # asked to pay (6) and not marked paid

    @property
    def days_left(self) -> int | None:
        """Working days left while the deadline runs, else None (what a citizen or the API is told)."""
        return self.working_days_left if self.deadline_running else None

    @property
    def days_overdue(self) -> int | None:
        """Working days overdue while the deadline runs, else None."""
        return self.working_days_overdue if self.deadline_running else None

    @property
    def missed_due_at(self) -> datetime | None:
        """The appointment an apology is about: the one the latest apology moved, else the current one."""
        return self.apology_old_due_at or self.due_at

    def new_due_for(self, missed: datetime) -> datetime | None:
        """The new appointment set for the `missed` one, if the latest apology was about that one."""
        return self.apology_new_due_at if self.apology_old_due_at == missed else None


def view_dossier(record: DossierRecord, calendar: WorkCalendar, now: datetime) -> DossierView:
    left, overdue = working_days(calendar, record.due_at, now)
    return DossierView(
        **{f.name: getattr(record, f.name) for f in fields(DossierFacts)},
        applicant_kind="business" if record.applicant_kind == BUSINESS else "citizen",
        phone_masked=mask_phone(record.phone) if record.phone else None,
        status_name=status_name(record.status),
        working_days_left=left,
        working_days_overdue=overdue,
        deadline_running=record.status in OPEN_FOR_DEADLINE,
        resolved=record.status in (Status.RESOLVED, Status.RETURNED),
        payment_pending=record.status == Status.PAYMENT_REQUESTED and not record.fee_paid,
    )
