"""Channel abilities are protocols: each shipped class has exactly the abilities it claims, a channel is
asked only for the abilities it declares, and the registry builds through the protocol's constructor."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator, Mapping
from importlib import invalidate_caches
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy.orm import Session, sessionmaker

from notifier.channels.abilities import (
    HasRateLimits,
    HasSmsBudget,
    KeepsState,
    TakesInbound,
    TakesReceipts,
    WantsTemplateData,
)
from notifier.channels.base import BaseChannel, Channel, ChannelSettings, Message, Recipient
from notifier.channels.console import ConsoleChannel
from notifier.channels.email import EmailChannel
from notifier.channels.esms import EsmsSms
from notifier.channels.file import FileChannel
from notifier.channels.registry import NotAChannel, available, build, load_class
from notifier.channels.telegram import TelegramChannel
from notifier.channels.twilio_sms import TwilioSms
from notifier.channels.zalo import ZaloZns
from notifier.channels.zalo_oa import ZaloOa
from notifier.rules.clock import FixedClock
from notifier.rules.ratelimit import Limits
from notifier.rules.smsbudget import SmsBudget
from tests.fakes.helpers import build as build_service
from tests.fakes.helpers import notes, received_dossier

ABILITIES: tuple[type, ...] = (TakesReceipts, TakesInbound, WantsTemplateData, KeepsState, HasRateLimits,
                               HasSmsBudget)  # fmt: skip

# Every channel notifier ships, with the abilities it claims; a new one must be added here.
SHIPPED: dict[str, tuple[type, frozenset[type]]] = {
    "file": (FileChannel, frozenset()),
    "console": (ConsoleChannel, frozenset()),
    "sms_twilio": (TwilioSms, frozenset({TakesReceipts, TakesInbound, HasRateLimits, HasSmsBudget})),
    "sms_esms": (EsmsSms, frozenset({TakesReceipts, TakesInbound, HasRateLimits, HasSmsBudget})),
    "telegram": (TelegramChannel, frozenset({HasRateLimits})),
    "zalo_zns": (ZaloZns, frozenset({TakesReceipts, WantsTemplateData, KeepsState, HasRateLimits})),
    "email": (EmailChannel, frozenset({HasRateLimits})),
    # Its webhook is the chatbot's (events through the conversation core), not TakesInbound's SMS shape.
    "zalo_oa": (ZaloOa, frozenset({KeepsState, HasRateLimits})),
}

# The smallest valid [channels.NAME] table of each, with the environment its secrets come from.
ENV = {"TWILIO_AUTH_TOKEN": "t", "ESMS_API_KEY": "k", "ESMS_SECRET_KEY": "s", "ZALO_APP_SECRET": "a",
       "ZALO_ACCESS_TOKEN": "b", "ZALO_REFRESH_TOKEN": "c", "TELEGRAM_BOT_TOKEN": "123456:abcdef", "ZALO_OA_SECRET": "d"}  # fmt: skip
TABLES: dict[str, dict[str, Any]] = {
    "file": {"path": "outbox.jsonl"},
    "console": {},
    "sms_twilio": {"account_sid": "AC1", "from_number": "+15005550006"},
    "sms_esms": {"brandname": "HAIPHONG", "khong_dau": "auto", "max_segments": 1, "max_segments_by_kind": {"overdue_apology": 3}},
    "telegram": {},
    "zalo_zns": {"app_id": "4321"},
    "email": {"from_address": "thongbao@haiphong.gov.vn"},
    "zalo_oa": {"app_id": "4321"},
}


def members(ability: type) -> list[str]:
    return [n for n, v in vars(ability).items() if inspect.isfunction(v) and not n.startswith("_")]


def test_the_table_lists_every_shipped_channel() -> None:
    shipped = {name for name, ep in available().items() if ep.value.startswith("notifier.")}
    assert shipped == set(SHIPPED)


@pytest.mark.parametrize("plugin", sorted(SHIPPED))
def test_a_shipped_class_has_exactly_the_abilities_it_claims(plugin: str) -> None:
    cls, claimed = SHIPPED[plugin]
    assert load_class(plugin) is cls
    assert {a for a in ABILITIES if issubclass(cls, a)} == claimed
    for ability in claimed:  # the methods are the protocol's, not merely named like them
        for member in members(ability):
            want, have = getattr(ability, member), getattr(cls, member)
            assert inspect.signature(have).parameters.keys() == inspect.signature(want).parameters.keys()
            assert inspect.signature(have).return_annotation == inspect.signature(want).return_annotation
            assert inspect.iscoroutinefunction(have) == inspect.iscoroutinefunction(want), member


@pytest.mark.parametrize("plugin", sorted(SHIPPED))
def test_a_shipped_channel_is_built_through_the_protocol(
    plugin: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    channel = build(f"my_{plugin}", {"plugin": plugin, **TABLES[plugin]}, clock)
    assert isinstance(channel, Channel) and type(channel) is SHIPPED[plugin][0]
    assert {a for a in ABILITIES if isinstance(channel, a)} == SHIPPED[plugin][1]


LANDLINE = Recipient(label="citizen", name="Công ty TNHH Cảng Xanh", phone="+842253838888")
MOBILE = Recipient(label="citizen", name="Nguyễn Văn An", phone="+84912000111", email="an@example.vn")
NOBODY = Recipient(label="citizen", name="Đinh Văn Lộc")


@pytest.mark.parametrize(
    ("plugin", "mobile", "landline_with_email"),
    [
        ("sms_twilio", "+84912000111", None),
        ("sms_esms", "+84912000111", None),
        ("zalo_zns", "+84912000111", None),
        ("file", "+84912000111", "cangxanh@example.vn"),
        ("console", "+84912000111", "cangxanh@example.vn"),
    ],
)
def test_sms_and_zns_reach_mobiles_only_and_no_channel_invents_an_address(
    plugin: str, mobile: str, landline_with_email: str | None, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "0225 3838888" received SMS in the demo: a landline is no address for SMS or ZNS, so routing falls
    # through; a stand-in channel records the e-mail instead, and nothing at all for a citizen without one.
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    channel = build(f"my_{plugin}", {"plugin": plugin, **TABLES[plugin]}, clock)
    assert channel.address_for(MOBILE) == mobile
    assert channel.address_for(LANDLINE) is None
    with_email = Recipient(label="citizen", phone="+842253838888", email="cangxanh@example.vn")
    assert channel.address_for(with_email) == landline_with_email
    assert channel.address_for(NOBODY) is None


def test_abilities_read_the_typed_settings(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    esms = build("sms", {"plugin": "sms_esms", **TABLES["sms_esms"], "rate_per_second": 5}, clock)
    assert isinstance(esms, HasSmsBudget) and isinstance(esms, HasRateLimits)
    assert esms.sms_budget("overdue_apology") == SmsBudget("auto", 3)
    assert esms.sms_budget("received") == SmsBudget("auto", 1)
    assert esms.rate_limits() == Limits(rate_per_second=5)
    telegram = build("telegram", {}, clock)
    assert isinstance(telegram, HasRateLimits)
    assert telegram.rate_limits() == Limits(30.0, 30, 1.0, 1, 10.0)  # Bot API limits by default


# -- asked only for what is declared --------------------------------------------------------------------
class TrapSettings(ChannelSettings):
    # Fields that used to be found by name on any channel's settings: without the abilities they mean nothing.
    khong_dau: bool = True
    rate_per_second: float = 0.001
    burst: int = 1


class Plain(BaseChannel):
    """An SMS plugin that declares no ability, though its settings and attributes look as if it might."""

    name: ClassVar[str] = "plain"
    medium: ClassVar[str] = "sms"
    settings_model: ClassVar[type[ChannelSettings]] = TrapSettings
    wants_data: ClassVar[bool] = True  # the flag the dispatcher once looked for

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(TrapSettings(), clock, self.name)
        self.received: list[Message] = []

    def address_for(self, recipient: Recipient) -> str | None:
        return recipient.phone

    async def send(self, message: Message) -> str:
        self.received.append(message)
        return f"{self.name}-{len(self.received)}"


class Able(Plain):
    """The same plugin declaring four abilities; the dispatcher asks for each."""

    name: ClassVar[str] = "able"

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.bound: list[sessionmaker[Session]] = []

    def sms_budget(self, kind: str) -> SmsBudget:
        return SmsBudget(khong_dau=True)

    def rate_limits(self) -> Limits:
        return Limits(rate_per_second=0.001, burst=1)  # one message, then a wait far over max_wait_seconds

    def data_templates(self, kind: str) -> Mapping[str, str] | None:
        return {"ma_ho_so": "{{ dossier.code }}"}

    def bind_storage(self, factory: sessionmaker[Session]) -> None:
        self.bound.append(factory)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        # Plain: text as rendered, no limit, no data, nothing bound.
        (Plain, {"abilities": set(), "folded": False, "sent": 2, "data": None, "bound": 0}),
        # Able: folded to không dấu, the second message waits for the limiter, data filled, bound once.
        (Able, {"abilities": {HasSmsBudget, HasRateLimits, WantsTemplateData, KeepsState}, "folded": True,
                "sent": 1, "data": {"ma_ho_so": "000.00.30.H26-261120-0001"}, "bound": 1}),
    ],
)  # fmt: skip
async def test_a_channel_is_asked_only_for_the_abilities_it_declares(
    db_url: str, tmp_path: Path, clock: FixedClock, cls: type[Plain], expected: dict[str, Any]
) -> None:
    channel = cls(clock)
    assert {a for a in ABILITIES if isinstance(channel, a)} == expected["abilities"]
    svc = build_service(db_url, tmp_path, clock, {}, citizen=[cls.name])
    svc.channels.put(cls.name, channel)
    svc.settings.channels[cls.name] = {}
    received_dossier(svc, "000.00.30.H26-261120-0001")
    received_dossier(svc, "000.00.30.H26-261120-0002")
    await svc.dispatcher.drain()
    await svc.dispatcher.drain()
    assert len(channel.received) == expected["sent"]
    first = channel.received[0]
    assert first.text.startswith("Sở Tư pháp" if not expected["folded"] else "So Tu phap")
    assert first.data == expected["data"]
    assert len(getattr(channel, "bound", [])) == expected["bound"]
    statuses = sorted(n.status for n in notes(svc))
    assert statuses == (["sent", "sent"] if expected["sent"] == 2 else ["queued", "sent"])


# -- the registry and the constructor ------------------------------------------------------------------
PROBES = '''
from typing import ClassVar
from notifier.channels.base import BaseChannel, ChannelSettings


def a_function(settings, clock, instance_name=None):
    return None


class Fine:  # the protocol alone, without BaseChannel
    name: ClassVar[str] = "fine"
    medium: ClassVar[str] = "sms"
    settings_model = ChannelSettings

    def __init__(self, settings, clock, instance_name=None):
        self.channel_type = "sms"

    def address_for(self, recipient):
        return recipient.phone

    async def send(self, message):
        return "x"

    async def aclose(self):
        return None


class NoSend:
    name = "no_send"
    medium = "sms"
    settings_model = ChannelSettings

    def address_for(self, recipient):
        return None

    async def aclose(self):
        return None


class SettingsOnly(BaseChannel):
    name = "settings_only"

    def __init__(self, settings):
        super().__init__(settings, None)


class DictModel(Fine):
    settings_model = dict


class NoChannelType(Fine):
    def __init__(self, settings, clock, instance_name=None):
        pass
'''


@pytest.fixture
def probes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution whose entry points load the classes above."""
    site = tmp_path / "site-packages"
    info = site / "probe_channels-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "probe_channels.py").write_text(PROBES, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-channels\nVersion: 1.0\n", encoding="utf-8")
    targets = ["a_function", "Fine", "NoSend", "SettingsOnly", "DictModel", "NoChannelType"]
    lines = [f"probe_{t.lower()} = probe_channels:{t}" for t in targets]
    (info / "entry_points.txt").write_text("[notifier.channels]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    invalidate_caches()
    yield
    sys.modules.pop("probe_channels", None)


def test_a_class_with_the_protocol_alone_is_built(probes: None, clock: FixedClock) -> None:
    channel = build("probe_fine", {}, clock)
    assert isinstance(channel, Channel)
    assert not any(isinstance(channel, a) for a in ABILITIES)


@pytest.mark.parametrize(
    ("plugin", "problem"),
    [
        ("probe_a_function", "not a class but function"),
        ("probe_nosend", "lacks send of the Channel protocol"),
        ("probe_settingsonly", r"constructor does not take \(settings, clock, instance_name\)"),
        ("probe_dictmodel", "settings_model is not a subclass of ChannelSettings"),
        ("probe_nochanneltype", "what its constructor built does not satisfy the Channel protocol"),
    ],
)
def test_a_plugin_that_does_not_fit_the_protocol_is_named(
    probes: None, clock: FixedClock, plugin: str, problem: str
) -> None:
    with pytest.raises(NotAChannel, match=f"channel plugin '{plugin}' \\(probe_channels:.*\\): {problem}"):
        build(plugin, {}, clock)
