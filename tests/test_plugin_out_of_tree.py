"""A province's own gateway, packaged apart (tests/plugin_pkg), becomes a channel without touching notifier.

The package is registered the way an installed distribution is: a `*.dist-info` with the entry points its
pyproject declares, on the import path. notifier finds it through the `notifier.channels` group, both in
this process and in a separate `notifier` CLI process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from importlib import invalidate_caches
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from notifier.channels.abilities import (
    HasRateLimits,
    HasSmsBudget,
    KeepsState,
    TakesInbound,
    TakesReceipts,
    WantsTemplateData,
)
from notifier.channels.registry import available
from notifier.rules.clock import FixedClock
from notifier.rules.ratelimit import Limits
from notifier.rules.smsbudget import SmsBudget
from notifier.web.api import create_app
from tests.factories import dossier, ts
from tests.fakes.helpers import build, notes, received_dossier
from tests.fakes.server import FakeServer

PACKAGE = Path(__file__).parent / "plugin_pkg"


def install(target: Path) -> Path:
    """Lay the package out as pip would: its module plus a dist-info carrying its declared entry points."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = target / "site-packages"
    info = site / f"hp_gateway-{project['version']}.dist-info"
    info.mkdir(parents=True)
    shutil.copy(PACKAGE / "hp_gateway.py", site / "hp_gateway.py")
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target_}" for name, target_ in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return site


@dataclass
class FakeGateway(FakeServer):
    key: str = "hp-key"
    received: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self.app.router.add_post("/sms", self._sms)

    async def _sms(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response({"status": "error", "code": "auth"})
        self.received.append(await request.json())
        return web.json_response({"status": "ok", "id": f"hp-{len(self.received)}"})


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    await fake.start()
    monkeypatch.setenv("HP_GATEWAY_KEY", fake.key)
    yield fake
    await fake.stop()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = install(tmp_path / "plugin")
    monkeypatch.syspath_prepend(str(path))
    invalidate_caches()
    yield path
    sys.modules.pop("hp_gateway", None)


def test_the_gateway_is_not_known_until_installed(tmp_path: Path) -> None:
    assert "sms_haiphong" not in available()


async def test_installed_gateway_is_found_by_name_and_used_by_routing(
    db_url: str, tmp_path: Path, clock: FixedClock, site: Path, gateway: FakeGateway
) -> None:
    assert available()["sms_haiphong"].value == "hp_gateway:HaiPhongSms"
    svc = build(db_url, tmp_path, clock, {"sms_haiphong": {"base_url": gateway.url}}, citizen=["sms_haiphong"])
    received_dossier(svc)
    assert (await svc.dispatcher.drain()).sent == 1
    [n] = notes(svc)
    [got] = gateway.received
    assert got["msisdn"] == "84912345678" and got["ref"] == f"notifier-{n.id}"
    # the plugin declares HasSmsBudget: its `khong_dau` setting is honoured by the dispatcher's SMS economics
    assert got["message"].startswith("So Tu phap thanh pho Hai Phong: Ho so")
    assert (n.channel, n.provider_id, n.segments) == ("sms_haiphong", "hp-1", 1)


async def test_the_installed_gateway_has_the_abilities_it_declares_and_no_others(
    db_url: str, tmp_path: Path, clock: FixedClock, site: Path, gateway: FakeGateway
) -> None:
    table = {"base_url": gateway.url, "max_segments_by_kind": {"overdue_apology": 3}}
    svc = build(db_url, tmp_path, clock, {"sms_haiphong": table}, citizen=["sms_haiphong"])
    channel = svc.channels.get("sms_haiphong")
    has = {a.__name__ for a in (HasRateLimits, HasSmsBudget, KeepsState, TakesInbound, TakesReceipts,
                                WantsTemplateData) if isinstance(channel, a)}  # fmt: skip
    assert has == {"HasRateLimits", "HasSmsBudget"}
    assert isinstance(channel, HasRateLimits) and isinstance(channel, HasSmsBudget)
    assert channel.rate_limits() == Limits(rate_per_second=20.0)
    assert channel.sms_budget("overdue_apology") == SmsBudget(True, 3)
    # No webhooks declared: the web app does not ask the plugin to read one.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(svc)), base_url="http://t") as c:
        receipt, inbound = await c.post("/webhooks/sms_haiphong/receipt"), await c.post("/webhooks/sms_haiphong/inbound")
        assert (receipt.status_code, receipt.json()["detail"]) == (404, "channel 'sms_haiphong': takes no delivery receipts")
        assert (inbound.status_code, inbound.json()["detail"]) == (404, "channel 'sms_haiphong': takes no inbound messages")


async def test_a_separate_notifier_process_uses_the_installed_gateway(
    tmp_path: Path, site: Path, gateway: FakeGateway, sqlite_template: Path
) -> None:
    # Migrated already (what `notifier db upgrade` makes; its own tests run it): the processes here are the
    # ones that load channels, the last of them sending through the plugin.
    shutil.copyfile(sqlite_template, tmp_path / "notifier.db")
    (tmp_path / "config.toml").write_text(
        f"""
[database]
url = "sqlite:///{tmp_path / 'notifier.db'}"

[routing]
citizen = ["sms_haiphong"]
officer = ["file"]
head = ["file"]

[channels.file]
path = "{tmp_path / 'outbox.jsonl'}"

[channels.sms_haiphong]
base_url = "{gateway.url}"
""",
        encoding="utf-8",
    )
    (tmp_path / "dossiers.json").write_text(
        json.dumps({"data": [dossier(TrangThaiHoSo=2, NgayTiepNhan=ts(2026, 12, 1, 8, 0))]}), encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env["PYTHONPATH"] = str(site)
    cli = Path(sys.executable).parent / "notifier"
    now = ["--now", "2026-12-01T09:00"]
    for args in (["import", str(tmp_path / "dossiers.json"), *now], ["scan", *now], ["dispatch", "--once", *now]):
        proc = await asyncio.create_subprocess_exec(
            str(cli), "--config", str(tmp_path / "config.toml"), *args,
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, f"notifier {' '.join(args)}: {out.decode()}"
    [got] = gateway.received
    assert got["msisdn"] == "84912345678" and "da duoc tiep nhan" in got["message"]
    assert not (tmp_path / "outbox.jsonl").exists()  # nothing fell back to the file channel
