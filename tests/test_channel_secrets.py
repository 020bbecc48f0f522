"""A provider's `*_env` setting names the environment variable that holds a secret: given in the config,
the variable must be set, or the config is refused with the setting's and the variable's names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from notifier.channels.email import EmailSettings
from notifier.channels.esms import EsmsSettings
from notifier.channels.twilio_sms import TwilioSettings
from notifier.channels.zalo import ZaloSettings
from notifier.channels.zalo_oa import ZaloOaSettings

CASES: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (EmailSettings, {"from_address": "mot-cua@example.vn"}, "password_env"),
    *((EsmsSettings, {"brandname": "UBND"}, f) for f in ("api_key_env", "secret_key_env", "callback_token_env")),
    (TwilioSettings, {"account_sid": "AC1", "from_number": "+15005550006"}, "auth_token_env"),
    *((ZaloSettings, {"app_id": "1"}, f) for f in ("app_secret_env", "refresh_token_env", "oa_secret_env")),
    *((ZaloOaSettings, {"app_id": "1"}, f) for f in ("app_secret_env", "refresh_token_env", "oa_secret_env")),
]


@pytest.mark.parametrize(("model", "base", "field"), CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_a_secret_setting_needs_its_variable_set(
    model: type[BaseModel], base: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFIER_TEST_SECRET", raising=False)
    with pytest.raises(ValidationError) as refused:
        model.model_validate({**base, field: "NOTIFIER_TEST_SECRET"})
    assert refused.value.errors()[0]["loc"] == (field,)
    assert "environment variable 'NOTIFIER_TEST_SECRET' is not set" in str(refused.value)

    monkeypatch.setenv("NOTIFIER_TEST_SECRET", "bi-mat")
    assert getattr(model.model_validate({**base, field: "NOTIFIER_TEST_SECRET"}), field) == "NOTIFIER_TEST_SECRET"
