"""A province's SMS gateway written against notifier's public channel protocol only.

POST {base_url}/sms {"msisdn": "84…", "message": "…", "ref": "notifier-<id>"} with a bearer key;
answers {"status": "ok", "id": "…"} or {"status": "error", "code": "…"}.

Besides the `Channel` protocol the class has two of the optional abilities (notifier.channels.abilities):
`HasSmsBudget` (`sms_budget`) and `HasRateLimits` (`rate_limits`), both read from the typed `SmsSettings`.
It takes no webhooks (no `parse_receipts`/`parse_inbound`), so notifier never asks it for any: its
`/webhooks/sms_haiphong/receipt` answers 404.
"""

from __future__ import annotations

import os
from typing import ClassVar

import httpx
from pydantic import Field

from notifier.channels.base import (
    BaseChannel,
    ChannelSettings,
    Message,
    PermanentError,
    Recipient,
    TransientError,
)
from notifier.channels.common import SmsSettings
from notifier.rules.clock import Clock
from notifier.rules.phones import to_zalo
from notifier.rules.ratelimit import Limits
from notifier.rules.smsbudget import KhongDau, SmsBudget


class HaiPhongSettings(SmsSettings):  # also: max_segments, timeout_seconds, burst, per_recipient_*
    base_url: str
    key_env: str = "HP_GATEWAY_KEY"
    khong_dau: KhongDau = True  # the contract bills Vietnamese text at the Unicode rate: send không dấu
    rate_per_second: float | None = Field(20.0, gt=0)  # the gateway's contracted throughput


class HaiPhongSms(BaseChannel):
    name: ClassVar[str] = "sms_haiphong"
    medium: ClassVar[str] = "sms"  # an opt-out from any SMS channel applies here too
    settings_model: ClassVar[type[ChannelSettings]] = HaiPhongSettings
    default_channel_type: ClassVar[str] = "sms"

    # The constructor is part of the protocol: notifier builds the class as
    # HaiPhongSms(settings, clock, instance_name=...) with settings validated by `settings_model`.
    def __init__(self, settings: HaiPhongSettings, clock: Clock, instance_name: str | None = None) -> None:
        super().__init__(settings, clock, instance_name)
        self.s = settings

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.phone

    def sms_budget(self, kind: str) -> SmsBudget:  # HasSmsBudget
        return self.s.sms_budget(kind)

    def rate_limits(self) -> Limits:  # HasRateLimits
        return self.s.rate_limits()

    async def send(self, message: Message) -> str:
        body = {"msisdn": to_zalo(message.address), "message": message.text, "ref": message.idempotency_key}
        headers = {"Authorization": f"Bearer {os.environ.get(self.s.key_env, '')}"}
        try:
            async with httpx.AsyncClient(base_url=self.s.base_url, timeout=self.s.timeout_seconds) as client:
                response = await client.post("/sms", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"gateway unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise TransientError(f"gateway HTTP {response.status_code}")
        result = response.json()
        if result.get("status") != "ok":
            raise PermanentError(f"gateway error {result.get('code')}", fallback=True)
        return str(result["id"])
