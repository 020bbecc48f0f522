"""The words code puts into notifications (message domain ``messages``): the portal's status names, the
money unit, the clerks' salutation. The notification texts themselves are templates clerks edit on the
admin page (a versioned store), so they stay out of any catalog; only what code adds to them is here.

Notifications are Vietnamese today, so callers pass ``DEFAULT_LANGUAGE``; the English catalog is complete
so that English recipients are a matter of passing their language. Mark a msgid (the Vietnamese text)
with ``t(language, "…")``, or with a module's own ``_("…")`` marker where it is fixed before a language is
known (then ``t`` translates it where it is used); the sources
scripts/i18n reads are listed in ``notifier/locales/messages.cfg``.
"""

from __future__ import annotations

import functools
from typing import Final

from notifier.rules.i18n import DEFAULT_LANGUAGE, gettext

__all__ = ["DEFAULT_LANGUAGE", "DOMAIN", "t"]

DOMAIN: Final = "messages"


@functools.cache
def t(language: str, message: str) -> str:
    """``message`` (a Vietnamese msgid of the ``messages`` catalog) in ``language``.

    Cached per (language, msgid): the dispatcher renders thousands of messages a second with the same
    handful of words, so gettext's fallback chain runs once per word, not once per message."""
    return gettext(language, DOMAIN, message)
