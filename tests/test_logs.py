"""What reaches the log: no member's private words at any level, and error ids that match."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import pytest

from bot.logs import keep_private_text_out_of_logs
from tests.conftest import Haven
from tests.fakediscord import CH_CHECKINS, CH_MODS, MONA


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything at DEBUG, from start-up on (requested before `haven`, so it applies first):
    what an operator with LOG_LEVEL=DEBUG would see, whatever conftest quietened."""
    caplog.set_level(logging.DEBUG)
    for name in ("discord", "aiosqlite", "aiohttp", "asyncio", "apscheduler", "bot", "cogs"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _all_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return caplog.get_records("setup") + caplog.get_records("call")


def _everything_in(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.msg), repr(record.args), record.exc_text or ""]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


async def test_private_words_never_reach_the_log_even_at_debug(
    debug_logs: pytest.LogCaptureFixture, haven: Haven
) -> None:
    marker = secrets.token_hex(6)
    private = f"the private note {marker} about the night shift"
    shared = f"the shared note {marker} about the garden"
    picked = f"the picker note {marker} about my sister"
    await (
        await haven.fake.slash(
            "haven", "setup", user=MONA, checkin_channel=CH_CHECKINS, mod_channel=CH_MODS
        )
    ).reply()

    reply = await (await haven.fake.slash("checkin", feeling="heavy", note=private)).reply()
    assert private in reply.text  # the member sees their note; only the log must not
    await (
        await haven.fake.slash("checkin", feeling="bright", share="channel", note=shared)
    ).reply()
    opened = await haven.fake.slash("checkin")
    await opened.modal()
    submitted = await haven.fake.submit_modal(
        opened, {"feeling": ["tender"], "note": picked, "share": ["channel"]}
    )
    await submitted.reply()
    await haven.settle()

    posts = " ".join(m.text for m in haven.fake.messages_in(CH_CHECKINS))
    assert shared in posts and picked in posts  # both went through Discord's REST API
    records = _all_records(debug_logs)
    loggers = {r.name for r in records if r.levelno == logging.DEBUG}
    # The loggers that carried payloads did log at DEBUG here, so this test can fail.
    database = {"aiosqlite"} if haven.services.db.dialect == "sqlite" else set()
    assert {"discord.http", "discord.gateway", *database} <= loggers
    assert any("INTERACTION_CREATE" in r.getMessage() for r in records)
    leaks = [
        f"{r.name} ({r.module}.py:{r.lineno}) {r.msg!r}"
        for r in records
        if marker in _everything_in(r)
    ]
    assert not leaks, "private words reached the log:\n" + "\n".join(leaks)


def test_the_filter_keeps_what_operators_need_and_masks_interaction_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    http = logging.getLogger("discord.http")
    keep_private_text_out_of_logs()
    installed = list(http.filters)
    keep_private_text_out_of_logs()
    assert http.filters == installed and installed  # a second call adds no second filter
    caplog.set_level(logging.DEBUG, logger="discord")
    url = "https://discord.com/api/v10/webhooks/12345/aW50ZXJhY3Rpb24tdG9rZW4/messages/@original"
    http.warning(
        "We are being rate limited. %s %s responded with 429. Retrying in %.2f.", "PATCH", url, 1.5
    )
    http.debug("%s %s with %s has returned %s", "POST", url, '{"content": "secret"}', 200)
    event: dict[str, Any] = {"op": 0, "t": "INTERACTION_CREATE", "s": 7, "d": {"x": "secret"}}
    logging.getLogger("discord.gateway").debug("For Shard ID %s: WebSocket Event: %s", None, event)
    warning, body, gateway = (r.getMessage() for r in caplog.records)
    assert warning == (
        "We are being rate limited. PATCH https://discord.com/api/v10/webhooks/12345/…"
        "/messages/@original responded with 429. Retrying in 1.50."
    )
    assert "secret" not in body and body.startswith("POST ") and body.endswith(" has returned 200")
    assert gateway.endswith("op=0 t=INTERACTION_CREATE s=7>") and "secret" not in gateway


async def test_an_unexpected_error_is_logged_with_the_id_the_member_sees(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(guild_id: int, user_id: int) -> Any:
        raise RuntimeError("the profile store fell over")

    monkeypatch.setattr(haven.services.members, "profile", broken)
    caplog.set_level(logging.ERROR)
    reply = await (await haven.fake.slash("my", "timezone")).reply()

    found = re.search(r"error id `([0-9A-F]{6})`", reply.text)
    assert found, reply.text
    [logged] = [r for r in caplog.records if r.exc_info]
    assert logged.levelno == logging.ERROR
    assert found.group(1) in logged.getMessage() and "/my timezone" in logged.getMessage()
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RuntimeError)
