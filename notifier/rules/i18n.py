"""Message catalogs: the user-facing strings of the public page (domain ``web``), the chatbot
(domain ``chat``) and the words code puts into notifications (domain ``messages``, see
``notifier.rules.phrases``), in Vietnamese and English.

The msgids are the Vietnamese texts themselves, so the code reads as the citizen sees it; the ``vi``
catalog is still complete (msgstr = msgid) so that a missing entry is caught by the catalog test rather
than by a citizen. Catalogs live in ``notifier/locales/<lang>/LC_MESSAGES/<domain>.po``; ``scripts/i18n``
extracts (``pybabel extract``), updates and compiles them. A ``.mo`` beside a ``.po`` is used only when it
is at least as new as the ``.po``; otherwise the ``.po`` is compiled in memory, so an edited catalog never
serves stale text.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES_DIR: Final = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANGUAGE: Final = "vi"
LANGUAGES: Final = ("vi", "en")
DOMAINS: Final = ("web", "chat", "messages")


def normalise_language(value: str | None) -> str:
    """The supported language a request or chat asked for: ``en``/``en-US``/``EN`` → ``en``; anything else
    (unset, unknown, ``vi-VN``) → Vietnamese."""
    if not value:
        return DEFAULT_LANGUAGE
    head = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return head if head in LANGUAGES else DEFAULT_LANGUAGE


def catalog_path(language: str, domain: str, suffix: str = ".po") -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}{suffix}"


@cache
def translations(language: str, domain: str) -> NullTranslations:
    """The translations of one domain in one language (cached for the life of the process)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown message domain {domain!r}; known: {', '.join(DOMAINS)}")
    language = normalise_language(language)
    po = catalog_path(language, domain)
    mo = catalog_path(language, domain, ".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(handle, domain=domain)
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=domain)


def gettext(language: str, domain: str, message: str) -> str:
    """``message`` (a Vietnamese msgid) in ``language``."""
    return translations(language, domain).gettext(message)


def ngettext(language: str, domain: str, singular: str, plural: str, count: int) -> str:
    return translations(language, domain).ngettext(singular, plural, count)
