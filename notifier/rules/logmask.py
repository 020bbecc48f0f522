"""Mask phone numbers in log lines: operators need the event, not the citizen's number (personal-data law)."""

from __future__ import annotations

import logging
import re

from notifier.rules.phones import mask_phone

# +84…, 84…, 0… followed by 8–10 digits, allowing the separators people type.
PHONE_RE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[ .-]?\d){8,10}(?!\d)")


# An e-mail address inside a text (a delivery error naming the address that opted out).
EMAIL_RE = re.compile(r"([^\s@:;,()<>\"']+)@([\w-]+(?:\.[\w-]+)+)")


def mask_text(text: str) -> str:
    return PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_email(address: str) -> str:
    """An e-mail address partly hidden ("a***@example.vn"): enough to tell two apart, not to write to."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_contacts(text: str) -> str:
    """Phone numbers and e-mail addresses inside a stored text (a delivery error, a provider's answer),
    partly hidden for whoever reads it: an admin page, an export, an API answer."""
    return EMAIL_RE.sub(lambda m: mask_email(m.group(0)), mask_text(text))


# Formats a record's traceback as the handlers' formatters do (they use `exc_text` when it is set).
_TRACEBACKS = logging.Formatter()


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        # The traceback is part of the line too: an exception quoting the number (a provider's answer,
        # SQLAlchemy's parameters) would otherwise print it whole under a masked message.
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install() -> None:
    """The filter on every handler set up so far: the root's, and those of loggers that do not pass their
    records up to it (uvicorn's, set up by its Config)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):  # a PlaceHolder has none
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
