"""A province's SMS gateway written against notifier's public channel protocol only.

POST {base_url}/sms {"msisdn": "84…", "message": "…", "ref": "notifier-<id>"} with a bearer key;
answers {"status": "ok", "id": "…"} or {"status": "error", "code": "…"}.
"""

from __future__ import annotations

import os
from typing import ClassVar

import httpx

from notifier.channels.base import (
    BaseChannel,
    ChannelSettings,
    Message,
    PermanentError,
    Recipient,
    TransientError,
)
from notifier.rules.phones import to_zalo


class HaiPhongSettings(ChannelSettings):
    base_url: str
    key_env: str = "HP_GATEWAY_KEY"
    khong_dau: bool = True  # the contract bills Vietnamese text at the Unicode rate: send không dấu
    rate_per_second: float | None = 20.0  # the gateway's contracted throughput


class HaiPhongSms(BaseChannel):
    name: ClassVar[str] = "sms_haiphong"
    medium: ClassVar[str] = "sms"  # an opt-out from any SMS channel applies here too
    settings_model: ClassVar[type[ChannelSettings]] = HaiPhongSettings
    default_channel_type: ClassVar[str] = "sms"

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.phone

    async def send(self, message: Message) -> str:
        settings: HaiPhongSettings = self.settings  # type: ignore[assignment]
        body = {"msisdn": to_zalo(message.address), "message": message.text, "ref": message.idempotency_key}
        headers = {"Authorization": f"Bearer {os.environ.get(settings.key_env, '')}"}
        try:
            async with httpx.AsyncClient(base_url=settings.base_url, timeout=10) as client:
                response = await client.post("/sms", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"gateway unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise TransientError(f"gateway HTTP {response.status_code}")
        result = response.json()
        if result.get("status") != "ok":
            raise PermanentError(f"gateway error {result.get('code')}", fallback=True)
        return str(result["id"])
