"""E-mail through an SMTP server with aiosmtplib: plain-text UTF-8, subject from the e-mail template.

The Message-ID is derived from our row id (`<notifier-<id>@domain>`), so a message replayed after a
crash carries the same id and mail systems that de-duplicate by Message-ID keep one copy.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, ClassVar

import aiosmtplib
from pydantic import Field, field_validator

from notifier.channels.base import (
    Message,
    PermanentError,
    Recipient,
    TransientError,
)
from notifier.channels.common import ProviderChannel, ProviderSettings, SecretEnv, env_secret


class EmailSettings(ProviderSettings):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    username: str | None = None
    password_env: SecretEnv | None = None
    use_tls: bool = False  # implicit TLS (port 465)
    start_tls: bool | None = None  # None: STARTTLS when the server offers it
    validate_certs: bool = True
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("not an e-mail address")
        return value


class EmailChannel(ProviderChannel[EmailSettings]):
    name: ClassVar[str] = "email"
    medium: ClassVar[str] = "email"
    default_channel_type: ClassVar[str] = "email"

    def __init__(self, settings: EmailSettings, clock: Any, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self._password = env_secret(settings.password_env, "password_env")
        self._domain = settings.from_address.rsplit("@", 1)[1]

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.email

    def message_id(self, notification_id: int) -> str:
        return f"<notifier-{notification_id}@{self._domain}>"

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        local, _, domain = self.s.from_address.partition("@")
        mail["From"] = Address(self.s.from_name or "", local, domain)
        mail["To"] = message.address
        mail["Subject"] = message.subject or message.text.splitlines()[0][:120]
        mail["Date"] = format_datetime(self.clock.now())
        mail["Message-ID"] = self.message_id(message.notification_id)
        if self.s.reply_to:
            mail["Reply-To"] = self.s.reply_to
        mail.set_content(message.text, charset="utf-8")
        return mail

    async def send(self, message: Message) -> str:
        mail = self.build(message)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.s.host,
                port=self.s.port,
                username=self.s.username,
                password=self._password,
                use_tls=self.s.use_tls,
                start_tls=self.s.start_tls,
                validate_certs=self.s.validate_certs,
                timeout=self.s.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(400 <= c < 500 for c in codes):
                raise TransientError(f"SMTP recipient deferred: {detail}") from exc
            raise PermanentError(f"SMTP recipient refused: {detail}", fallback=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientError(f"SMTP {exc.code}: {exc.message}") from exc
            if exc.code in (530, 534, 535):  # authentication: the operator's to fix
                raise TransientError(f"SMTP {exc.code}: {exc.message}") from exc
            raise PermanentError(f"SMTP {exc.code}: {exc.message}", fallback=False) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientError(f"SMTP unreachable: {type(exc).__name__}: {exc}") from exc
        return self.message_id(message.notification_id)
