"""Which of a recipient's addresses a channel may use.

SMS and Zalo (ZNS) reach mobiles only: a landline ("0225 3838888") takes neither, and a gateway would bill
or refuse it. A channel that has no address for a recipient returns None, so routing falls through to the
next channel, and a recipient that no channel can reach is recorded as unreachable, not "sent".
"""

from __future__ import annotations

from notifier.channels.base import Recipient
from notifier.rules.phones import stored_is_mobile


def mobile_of(recipient: Recipient) -> str | None:
    """The recipient's phone when it is a Vietnamese mobile number, else None."""
    phone = recipient.phone
    return phone if phone and stored_is_mobile(phone) else None


def any_address(recipient: Recipient) -> str | None:
    """What a stand-in channel (file, console) records: the mobile, else the e-mail, else the chat id."""
    return mobile_of(recipient) or recipient.email or recipient.telegram_chat_id
