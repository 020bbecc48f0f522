"""Running the bot: polling, the webhook behind the web app with Telegram's secret token, `notifier bot` and
`notifier run` as processes, and configuration errors named by their setting."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from jobs.processes import build_app
from notifier.bot.config import BotConfigError, connection, webhook_path
from notifier.bot.runner import running
from notifier.config import ConfigError
from notifier.rules.clock import FixedClock
from notifier.workflows.service import Service
from tests.conftest import make_settings
from tests.fakes import bot_harness
from tests.fakes.bot_harness import CHAT, D1, Harness, seed
from tests.fakes.helpers import free_port
from tests.fakes.telegram_bot_api import TOKEN, FakeBotAPI

HOOK = "https://notifier.test/tg/hook"
SECRET = "s3cret-Token_for_tests"

tg = bot_harness.tg  # the running bot (fixture)


async def test_polling_mode_clears_a_webhook_and_sets_the_command_menu(tg: Harness) -> None:
    assert tg.fake.calls_to("deleteWebhook")
    menu, menu_en = tg.fake.calls_to("setMyCommands")
    names = ["tracuu", "hoso", "phananh", "huy", "batdau", "english", "tiengviet"]
    assert [c["command"] for c in menu["commands"]] == names and "language_code" not in menu
    assert menu["commands"][1]["description"] == "Hồ sơ của tôi"
    # The same commands described in English for apps set to English.
    assert [c["command"] for c in menu_en["commands"]] == names and menu_en["language_code"] == "en"
    assert menu_en["commands"][1]["description"] == "My applications"
    assert (await tg.say(CHAT, "/start"))["text"].startswith("Xin chào")


async def test_webhook_mode_checks_telegrams_secret_token(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async with FakeBotAPI() as fake:
        settings = make_settings(
            db_url,
            tmp_path,
            channels={"telegram": {"token": TOKEN, "base_url": fake.base_url}},
            bot={"webhook_url": HOOK, "webhook_secret": SECRET},
        )
        service = Service.build(settings, clock)
        service.migrate()
        seed(service)
        app = build_app(service)
        async with running(service, app) as runtime:
            assert runtime is not None
            assert fake.webhook is not None
            assert fake.webhook["url"] == HOOK and fake.webhook["secret_token"] == SECRET
            assert "message" in fake.webhook["allowed_updates"]
            assert "callback_query" in fake.webhook["allowed_updates"]
            assert not fake.calls_to("getUpdates") and not fake.calls_to("deleteWebhook")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notifier.test") as client:
                update = fake.message(CHAT, f"{D1} 5678")
                missing = await client.post("/tg/hook", json=update)
                wrong = await client.post(
                    "/tg/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}
                )
                assert (missing.status_code, wrong.status_code) == (401, 401)
                assert fake.sent(CHAT) == []
                ok = await client.post(
                    "/tg/hook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                )
                assert ok.status_code == 200
                [reply] = fake.sent(CHAT)  # handled before the response
                assert "Trạng thái: Đang xử lý" in reply["text"]
        assert app.state.bot_runtime is None
        await service.aclose()


def test_the_webhook_route_exists_only_in_webhook_mode(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    polling = make_settings(db_url, tmp_path, channels={"telegram": {"token": TOKEN}})
    assert webhook_path(polling) is None
    hooked = make_settings(db_url, tmp_path, bot={"webhook_url": HOOK, "webhook_secret": SECRET})
    assert webhook_path(hooked) == "/tg/hook"
    # Without the secret header the route answers 401; where there is no route, 404.
    assert TestClient(build_app(Service.build(hooked, clock))).post("/tg/hook", json={}).status_code == 401
    assert TestClient(build_app(Service.build(polling, clock))).post("/tg/hook", json={}).status_code == 404


def test_configuration_errors_name_the_setting(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_secret = make_settings(db_url, tmp_path, bot={"webhook_url": HOOK})
    with pytest.raises(BotConfigError, match=r"bot\.webhook_secret"):
        webhook_path(no_secret)
    relative = make_settings(db_url, tmp_path, bot={"webhook_url": "/hook", "webhook_secret": SECRET})
    with pytest.raises(BotConfigError, match=r"bot\.webhook_url: value '/hook'"):
        webhook_path(relative)
    with pytest.raises(ConfigError, match=r"bot\.webhook_secret: value 'has …'"):
        make_settings(db_url, tmp_path, bot={"webhook_secret": "has spaces"})
    with pytest.raises(BotConfigError, match=r"channels\.telegram\.token: value '\*\*\*'"):
        connection(make_settings(db_url, tmp_path, channels={"telegram": {"token": "not-a-token"}}))
    assert connection(make_settings(db_url, tmp_path)) is None  # no [channels.telegram]: no bot
    monkeypatch.delenv("TG_TOKEN_FOR_TEST", raising=False)
    from_env = make_settings(db_url, tmp_path, channels={"telegram": {"token_env": "TG_TOKEN_FOR_TEST"}})
    with pytest.raises(BotConfigError, match=r"channels\.telegram\.token_env: value 'TG_TOKEN_FOR_TEST'"):
        connection(from_env)
    monkeypatch.setenv("TG_TOKEN_FOR_TEST", TOKEN)
    conn = connection(from_env)
    assert conn is not None and conn.token == TOKEN and conn.base_url is None


# -- as a user runs it --------------------------------------------------------------------------------------


def _config(tmp_path: Path, base_url: str) -> None:
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "n.db"}"\n'
        '[channels.file]\npath = "out/outbox.jsonl"\n'
        f'[channels.telegram]\ntoken_env = "TG_TOKEN_FOR_TEST"\nbase_url = "{base_url}"\n'
        "[admin]\nenabled = false\n",
        encoding="utf-8",
    )


async def _process(tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env["TG_TOKEN_FOR_TEST"] = TOKEN
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jobs",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    # SIGTERM, as systemd and docker stop send: a SIGINT would be ignored whenever the tests themselves run
    # as a shell's background job (the child inherits the ignored SIGINT, and keeps it, as Unix programs do).
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    return proc.returncode or 0, err.decode()


@pytest.mark.parametrize("command", [["bot"], ["run", "--port", "0"]])
async def test_the_process_answers_through_long_polling(
    tmp_path: Path, command: list[str], sqlite_template: Path
) -> None:
    # Already migrated: the process's start-up migration finds nothing to do (migrating is tested apart).
    shutil.copyfile(sqlite_template, tmp_path / "n.db")
    async with FakeBotAPI() as fake:
        _config(tmp_path, fake.base_url)
        if command[0] == "run":
            command = ["run", "--port", str(free_port())]
        proc = await _process(tmp_path, *command)
        try:
            # Start-up (imports, migration) can take long on a loaded machine: the chat speaks once the
            # process has asked getMe (the last call before polling), and its reply then gets the fake's
            # usual wait. (The fake does not record getUpdates calls.)
            for _ in range(600):
                if fake.calls_to("getMe") or proc.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            assert fake.calls_to("getMe"), "the bot process never started polling"
            reply = await asyncio.wait_for(fake.say(CHAT, "/start"), 60)
            assert reply["text"].startswith("Xin chào Hương!")
        finally:
            code, err = await _stop(proc)
        assert code == 0 and "Traceback" not in err, err
        assert fake.calls_to("deleteWebhook")


async def test_notifier_bot_without_a_token_says_which_setting(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "n.db"}"\n', encoding="utf-8"
    )
    proc = await _process(tmp_path, "bot")
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "channels.telegram.token" in err.decode()
