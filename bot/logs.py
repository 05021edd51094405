"""Keep members' private words out of the logs, at every level.

At DEBUG, discord.py 2.7 and aiosqlite write raw payloads to the log:

- ``discord.http``: ``"%s %s with %s has returned %s"`` carries every request body (a check-in
  shared to a channel, a DM to a buddy) and ``"%s %s has received %s"`` every response body,
  which echoes the message back.
- ``discord.gateway``: ``"For Shard ID %s: WebSocket Event: %s"`` carries every event received;
  an interaction holds the options and modal fields a member typed, so a private check-in note.
- ``discord.webhook.async_`` (interaction replies and follow-ups) logs no body, but its URLs
  hold the interaction token, with which anyone reading the log could fetch the private reply
  for 15 minutes. ``discord.http`` URLs can hold one too.
- ``aiosqlite``: ``"executing %s"`` and ``"operation %s completed"`` carry each database
  call with its SQL parameters, so every note Haven stores.

The other loggers the library writes to (``discord.state``, ``discord.client``, ``discord.ui``,
``discord.app_commands``) log ids, event names, reprs without values and tracebacks.

This is a filter on those loggers rather than a level because levels belong to operators and
test harnesses (``LOG_LEVEL=DEBUG``, ``discord.utils.setup_logging``, pytest's caplog) and a
filter stays whatever they set. It keeps every record, so "what happened, where, which status,
which rate-limit bucket" still reaches the log, and withholds only the arguments that are
payloads. A payload is recognised by its shape, not by the wording of one release: any mapping,
list, bytes, JSON text or other object (such as aiohttp's ``FormData``) passed as an argument.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
from collections.abc import Mapping
from typing import Any

PAYLOAD_LOGGERS = ("discord.http", "discord.gateway", "discord.webhook.async_", "aiosqlite")

WITHHELD = "<payload withheld>"

# /webhooks/{application_id}/{interaction token}/… and /interactions/{id}/{token}/callback.
_TOKEN_IN_URL = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/?#\s]+")


class _WithholdPayloads(logging.Filter):
    """Rewrites a record's payload arguments in place; never drops the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            # logging unpacks a lone mapping argument into args: the whole of it is the payload.
            record.msg = f"{record.msg} [arguments withheld]"
            record.args = ()
        elif record.args:
            record.args = tuple(_safe(arg) for arg in record.args)
        return True


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return WITHHELD if _looks_like_json(value) else _TOKEN_IN_URL.sub(r"\1…", value)
    if isinstance(value, Mapping) and "op" in value:  # a gateway event: keep its envelope only
        return f"<payload withheld: op={value.get('op')} t={value.get('t')} s={value.get('s')}>"
    if isinstance(value, functools.partial):  # an aiosqlite call: keep which one, not its values
        return f"{getattr(value.func, '__qualname__', 'call')}({WITHHELD})"
    if _is_plain(value) or (isinstance(value, tuple) and all(map(_is_plain, value))):
        return value  # a tuple of plain values: aiohttp's WSMessage for a close frame
    return WITHHELD  # a mapping, list, bytes, FormData or any other object


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _is_plain(value: object) -> bool:
    """Ids, statuses, codes, flags and exceptions: nothing a member typed."""
    if isinstance(value, str):
        return not _looks_like_json(value)
    return value is None or isinstance(value, bool | int | float | enum.Enum | BaseException)


_FILTER = _WithholdPayloads()


def keep_private_text_out_of_logs() -> None:
    """Withhold payloads from the loggers that carry them (safe to call more than once)."""
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # addFilter ignores a filter it already has
