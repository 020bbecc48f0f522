"""Which Telegram chat and which Zalo OA follower receive a citizen's notification: read by the dispatcher
once per batch."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from notifier.rules.chat_keys import chat_id_of, platform_of
from notifier.rules.kinds import Audience
from notifier.rules.payloads import FeedbackPayload, parse_payload
from notifier.store.contacts import opted_out_addresses
from notifier.store.engine import among, is_postgres
from notifier.store.models import ChatLink
from notifier.store.planning import NotificationLike
from notifier.store.zalo import followers_by_phone

TELEGRAM = "telegram"  # the opt-out medium of the Telegram channel, and of /huy
ZALO_OA = "zalo_oa"  # the platform of Zalo OA conversation keys ("zalo_oa:<user id>")


def payload_chat_id(n: NotificationLike) -> str | None:
    """A notification about one conversation (a feedback answer) names its chat in the payload."""
    try:
        payload = parse_payload(n.kind, n.payload)
    except ValueError:  # a malformed payload (PayloadError) or an unknown kind: no chat to name
        return None
    return payload.chat_id if isinstance(payload, FeedbackPayload) else None


def telegram_chat_ids(
    session: Session, notifications: Sequence[NotificationLike], zalo_linked: dict[int, str] | None = None
) -> dict[int, str]:
    """notification id -> chat id for citizen notifications whose dossier a chat is linked to.

    `zalo_linked`, when given, is filled from the same query with dossier id -> the Zalo OA follower
    linked to that dossier itself (newest consent first), for `zalo_user_ids`.

    Two queries for the whole batch. A chat is linked by the dossier's phone (shared contact) or to the
    dossier itself (a proven lookup); the newest consent wins, and a chat that said /huy is passed over
    for another linked chat (if none is left the dispatcher sees the opt-out and skips Telegram).
    """
    found: dict[int, str] = {}
    wanted: list[NotificationLike] = []
    for n in notifications:
        if n.audience != Audience.CITIZEN:
            continue
        chat = payload_chat_id(n)
        if chat is not None:
            # A conversation on another platform (Zalo: "zalo_oa:…") is not a Telegram chat: that
            # platform's channel answers it (zalo_user_ids).
            if platform_of(chat) == TELEGRAM:
                found[n.id] = chat
        elif n.dossier is not None:
            wanted.append(n)
    if not wanted:
        return found
    dossier_ids = {n.dossier.id for n in wanted if n.dossier is not None}
    phones = {n.dossier.phone for n in wanted if n.dossier is not None and n.dossier.phone}
    pg = is_postgres(session)
    links = session.execute(
        select(ChatLink.chat_id, ChatLink.dossier_id, ChatLink.phone)
        .where(
            ChatLink.active,
            or_(among(ChatLink.dossier_id, dossier_ids, pg), among(ChatLink.phone, phones or {""}, pg)),
        )
        .order_by(ChatLink.consent_at.desc(), ChatLink.id.desc())
    ).all()
    if zalo_linked is not None:
        for chat_id, dossier_id, _ in links:
            if dossier_id is not None and platform_of(chat_id) == ZALO_OA:
                zalo_linked.setdefault(dossier_id, chat_id_of(chat_id))
    # Links made on other platforms name their conversation "zalo_oa:…": not Telegram chats.
    links = [row for row in links if platform_of(row.chat_id) == TELEGRAM]
    if not links:
        return found
    stopped = {a for a, _ in opted_out_addresses(session, [(c, TELEGRAM) for c, _, _ in links])}
    # Chats still listening first; the order within each group stays newest consent first.
    ordered = sorted(links, key=lambda row: row.chat_id in stopped)
    for n in wanted:
        d = n.dossier
        assert d is not None
        for chat_id, dossier_id, phone in ordered:
            if dossier_id == d.id or (phone is not None and phone == d.phone):
                found[n.id] = chat_id
                break
    return found


def zalo_user_ids(
    session: Session, notifications: Sequence[NotificationLike], linked: dict[int, str] | None = None
) -> dict[int, str]:
    """notification id -> the Zalo user to write to: the conversation an answer belongs to (feedback sent
    from Zalo), else the follower who shared the dossier's phone with the OA and still follows it.

    Whether the OA may write to them now (the interaction window) is the channel's check at send time."""
    found: dict[int, str] = {}
    for n in notifications:
        chat = payload_chat_id(n) if n.audience == Audience.CITIZEN else None
        if chat is not None and platform_of(chat) == ZALO_OA:
            found[n.id] = chat_id_of(chat)
    citizens = [
        n
        for n in notifications
        if n.audience == Audience.CITIZEN and n.dossier is not None and n.dossier.phone
    ]
    users = followers_by_phone(session, {n.dossier.phone for n in citizens if n.dossier and n.dossier.phone})
    for n in citizens:
        if n.id not in found and n.dossier and n.dossier.phone in users:
            found[n.id] = users[n.dossier.phone]
    # Followers linked to the dossier itself (a one-time code from the public page), newest consent first;
    # `linked` when the caller read them with the Telegram links (telegram_chat_ids), else read here.
    rest = {n.dossier_id: n for n in notifications if n.id not in found and n.audience == Audience.CITIZEN}
    rest.pop(None, None)
    if rest and linked is None:
        linked = {}
        for chat, dossier_id in session.execute(
            select(ChatLink.chat_id, ChatLink.dossier_id)
            .where(
                ChatLink.active,
                among(ChatLink.dossier_id, rest, is_postgres(session)),
                ChatLink.chat_id.startswith(f"{ZALO_OA}:", autoescape=True),
            )
            .order_by(ChatLink.consent_at.desc(), ChatLink.id.desc())
        ):
            if dossier_id is not None:
                linked.setdefault(dossier_id, chat_id_of(chat))
    for n in notifications:
        if n.id not in found and n.audience == Audience.CITIZEN and linked and n.dossier_id in linked:
            found[n.id] = linked[n.dossier_id]
    return found
