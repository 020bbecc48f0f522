"""The public dossier page (/tra-cuu): the look-up, what the page shows about one dossier, and what a
citizen can do from it (receive notices by SMS or e-mail, stop them, send feedback, ask about their data,
download the apology letter).

The look-up is the chatbot's own (`BotStore.lookup`, the same rules and the same `bot_lookup_failures`
rows): a browser is a conversation named after its client address (`web:<address>`), so the per-client
and per-code throttles hold across every process on the database, and a guess on the page counts against
the same code as a guess in the chat. Every action names the dossier the browser's pass (a short-lived
signed cookie from a look-up or a QR link) names; nothing the page shows carries the full phone or e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.base import ExecutableOption

from notifier.outbox.views import agency_ns, dossier_view
from notifier.rules.logmask import mask_email
from notifier.rules.lookup import CitizenView, Query, describe, parse_query
from notifier.rules.phones import mask_phone
from notifier.rules.privacy import RequestKind
from notifier.rules.public_page import Event, Line, Transfer, timeline
from notifier.store import audit
from notifier.store.contacts import opted_out_addresses, record_opt_in, record_opt_out
from notifier.store.models import ConsentRecord, Dossier, DossierEvent, DossierStep, Notification
from notifier.store.queries import slips_for
from notifier.workflows import feedback as fb
from notifier.workflows.chat import (
    BotStore,
    LookupResult,
)
from notifier.workflows.errors import InvalidInput, NotFound
from notifier.workflows.officer_actions import ApologyWorkflow, SlipDocument
from notifier.workflows.privacy import submit as submit_privacy
from notifier.workflows.service import Service
from notifier.workflows.zalo_oa import LinkCode, new_dossier_link_code

CLIENT_PREFIX = "web:"
CLIENT_LENGTH = 64  # bot_lookup_failures.chat_id, feedback.chat_id


class Medium(StrEnum):
    """Where the page can send a dossier's notices: the applicant's own phone and e-mail as filed."""

    SMS = "sms"
    EMAIL = "email"


def client_key(address: str | None) -> str:
    """The conversation key of a browser: its client address (the throttle's "chat")."""
    return (CLIENT_PREFIX + (address or "unknown"))[:CLIENT_LENGTH]


@dataclass(frozen=True)
class Contact:
    medium: Medium
    masked: str
    opted_out: bool


@dataclass(frozen=True)
class Slip:
    number: str
    issued_at: datetime
    new_due_at: datetime | None


@dataclass(frozen=True)
class PublicDossier:
    view: CitizenView
    agency: SimpleNamespace
    timeline: list[Line]
    slips: list[Slip]
    contacts: list[Contact]


def _by_code(session: Session, code: str, *options: ExecutableOption) -> Dossier:
    """The dossier the browser's pass names; one erased since is refused as unknown."""
    d = session.scalar(select(Dossier).where(Dossier.code == code).options(*options))
    if d is None:
        raise NotFound("MaHoSo", code, "no dossier with this code", refusal="unknown_dossier")
    return d


class PublicPage:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = BotStore.from_settings(service.factory, service.calendar, service.settings)

    # -- look-up ------------------------------------------------------------------------------------------
    def lookup(self, client: str | None, code: str, digits: str) -> LookupResult:
        """The chatbot's look-up of `code` with the phone's last four `digits`, for the browser at `client`.

        A form that is no query at all (no code, not four digits) is answered as not found without
        touching the database: it reveals nothing, and costs a guesser nothing to learn."""
        query = parse_query(f"{code.strip()} {digits.strip()}")
        if query is None or query.digits is None:
            return LookupResult("not_found")
        now = self.service.clock.now()
        return self.store.lookup(client_key(client), Query(query.code, query.digits), now, serialize=True)

    # -- the view -----------------------------------------------------------------------------------------
    def dossier(self, code: str) -> PublicDossier:
        now = self.service.clock.now()
        with self.service.factory() as session:
            d = _by_code(session, code, joinedload(Dossier.agency), joinedload(Dossier.procedure))
            sent = dict(
                session.execute(
                    select(Notification.kind, func.max(Notification.sent_at))
                    .where(
                        Notification.dossier_id == d.id,
                        Notification.kind.in_(("overdue_apology", "new_appointment")),
                    )
                    .group_by(Notification.kind)
                ).all()
            )
            view = describe(
                dossier_view(d, self.service.calendar, now),
                sent.get("overdue_apology"),
                sent.get("new_appointment"),
            )
            events = [
                Event(e.to_status, e.from_status, e.occurred_at)
                for e in session.scalars(
                    select(DossierEvent)
                    .where(DossierEvent.dossier_id == d.id)
                    .order_by(DossierEvent.occurred_at, DossierEvent.id)
                )
            ]
            transfers = [
                Transfer(s.unit, s.started_at, s.finished_at)
                for s in session.scalars(
                    select(DossierStep).where(DossierStep.dossier_id == d.id).order_by(DossierStep.started_at)
                )
            ]
            slips = [Slip(s.number, s.issued_at, s.new_due_at) for s in slips_for(session, d.code)]
            pairs = [(Medium.SMS, d.phone), (Medium.EMAIL, d.email)]
            stopped = opted_out_addresses(session, [(a, str(m)) for m, a in pairs if a])
            contacts = [
                Contact(
                    m,
                    mask_phone(a) if m is Medium.SMS else mask_email(a),
                    (a, str(m)) in stopped,
                )
                for m, a in pairs
                if a
            ]
            lines = timeline(
                received_at=d.received_at,
                events=events,
                transfers=transfers,
                apologies=[(s.issued_at, s.new_due_at) for s in slips],
                returned_at=d.returned_at,
            )
            return PublicDossier(view, agency_ns(d.agency), lines, slips, contacts)

    def zalo_code(self, code: str, client: str | None) -> LinkCode:
        """A one-time code for the Zalo OA ("LK <code>") that makes the follower who sends it receive this
        dossier's notices (notifier.workflows.zalo_oa, the officers' link-code mechanism)."""
        return new_dossier_link_code(self.service, code, by=client_key(client))

    def apology_pdf(self, code: str) -> SlipDocument:
        """The dossier's latest Mẫu 04 letter as a PDF (the officers' own workflow renders it)."""
        return ApologyWorkflow(self.service).slip(code, fmt="pdf")

    # -- actions ------------------------------------------------------------------------------------------
    def _address(self, d: Dossier, medium: Medium) -> str:
        address = d.phone if medium is Medium.SMS else d.email
        if not address:
            raise InvalidInput("medium", str(medium), "the dossier has no such contact", refusal="no_contact")
        return address

    @staticmethod
    def _consent(session: Session, d: Dossier, purpose: str, now: datetime) -> None:
        """The consent a form's box gave, kept with the contact the answer will use (phone, else e-mail)."""
        pairs = [(d.phone, str(Medium.SMS)), (d.email, str(Medium.EMAIL))]
        for address, medium in pairs:
            if address:
                session.add(
                    ConsentRecord(
                        address=address, medium=medium, purpose=purpose, channel="web", given_at=now
                    )
                )
                return

    def set_notices(self, code: str, medium: Medium, wanted: bool, client: str | None) -> None:
        """Receive (with consent recorded in consent_records) or stop the dossier's notices on `medium`,
        at the phone or e-mail the applicant filed."""
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            d = _by_code(session, code)
            address = self._address(d, medium)
            if wanted:
                record_opt_in(
                    session,
                    address,
                    str(medium),
                    now,
                    reason=f"web: subscribed to {d.code}",
                    source="web",
                    purpose=self.service.settings.privacy.consent_purpose,
                )
            else:
                record_opt_out(session, address, str(medium), now, reason=f"web: stop {d.code}", source="web")
            action = "public.subscribe" if wanted else "public.opt_out"
            audit.record(session, now, client_key(client), action, d.code, medium=str(medium))

    def feedback(self, code: str, text: str, client: str | None) -> fb.Submitted:
        """Feedback about the dossier through the existing workflow (its limits per client and dossier);
        the answer reaches the applicant by the dossier's own channels."""
        s = self.service.settings
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            d = _by_code(session, code, joinedload(Dossier.agency))
            deadline = fb.answer_deadline(
                self.service.calendar, now, s.bot.feedback_answer_working_days, s.working_hours.end
            )
            self._consent(session, d, s.public.feedback_consent_purpose, now)
            return fb.submit(
                session,
                limits=self.store.feedback_limits,
                chat_id=client_key(client),
                user_id=None,
                text=text,
                dossier=d,
                default_agency_code=s.bot.feedback_agency,
                now=now,
                deadline_at=deadline,
            )

    def privacy(
        self, code: str, kind: RequestKind, detail: str | None, client: str | None
    ) -> tuple[int, datetime]:
        """A data-subject request about the dossier's data (the existing privacy workflow): its number and
        the day the answer is due."""
        s = self.service.settings
        now = self.service.clock.now()
        with self.service.factory() as session, session.begin():
            d = _by_code(session, code)
            self._consent(session, d, s.public.privacy_consent_purpose, now)
            req = submit_privacy(
                session,
                kind=kind,
                channel="web",
                requested_by=client_key(client),
                dossier_code=code,
                detail=detail,
                now=now,
                deadline_at=fb.answer_deadline(
                    self.service.calendar, now, s.privacy.answer_working_days, s.working_hours.end
                ),
            )
            return req.id, req.deadline_at
