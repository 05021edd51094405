"""Component routes: what every button, select and modal of Haven's means, spelled once.

A route is a discord-free description: a name, typed fields, and who may press it. Its
`custom_id` is `haven:<name>:<field>…[:~<signature>]`, so a press is understood from the id alone
— after a restart, or weeks later — and one dispatcher (`cogs/_components.py`) handles them all:
it resolves the server from trusted data, checks the presser at press time, and only then calls
the feature's handler.

A field that must not be forged (a server id on a DM button, a message id on a "take it back"
button) is *signed*: an HMAC over the id and the presser's user id, with a key kept in the
database. A copied or edited id fails the check, and so does someone else pressing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Literal

from bot.db import Database
from bot.inputs import as_id

PREFIX = "haven"
CUSTOM_ID_MAX = 100
_SIGNATURE = "~"

FieldKind = Literal["id", "word"]
Who = Literal["member", "moderator", "anyone"]


@dataclass(frozen=True)
class Route:
    """One kind of component.

    - `fields`: (name, kind) pairs carried in the custom_id; "id" is a snowflake or other
      integer, "word" a short token of letters, digits and dashes.
    - `who`: "member" — a current member of the route's server (checked when pressed);
      "moderator" — one with Manage Server; "anyone" — even someone who left (stop buttons).
    - `signed`: the fields are bound to the member the component was made for.
    """

    name: str
    fields: tuple[tuple[str, FieldKind], ...] = ()
    who: Who = "member"
    signed: bool = False

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)


@dataclass(frozen=True)
class Decoded:
    route: Route
    values: dict[str, int | str] = field(default_factory=dict)
    signature_ok: bool = False


class Routes:
    """The registry of routes and the key that signs them."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._routes: dict[str, Route] = {}

    def add(self, *routes: Route) -> None:
        for route in routes:
            known = self._routes.get(route.name)
            if known is not None and known != route:
                raise ValueError(f"two different routes are named {route.name!r}")
            self._routes[route.name] = route

    def custom_id(self, route: Route, user_id: int | None = None, **values: int | str) -> str:
        """The custom_id for `route` with `values`; signed for `user_id` when the route is."""
        if set(values) != set(route.field_names):
            raise ValueError(f"{route.name} takes {route.field_names}, got {sorted(values)}")
        parts = [PREFIX, route.name, *(_encode(values[n], kind) for n, kind in route.fields)]
        text = ":".join(parts)
        if route.signed:
            if user_id is None:
                raise ValueError(f"{route.name} is signed for one member; pass user_id")
            text += f":{_SIGNATURE}{self._sign(text, user_id)}"
        if len(text) > CUSTOM_ID_MAX:
            raise ValueError(f"custom_id for {route.name} is {len(text)} characters")
        return text

    def decode(self, custom_id: str, user_id: int) -> Decoded | None:
        """The route and values of a pressed custom_id; None when it is not one of ours."""
        body, sep, signature = custom_id.rpartition(f":{_SIGNATURE}")
        if not sep:
            body, signature = custom_id, ""
        parts = body.split(":")
        if len(parts) < 2 or parts[0] != PREFIX:
            return None
        # Route names may contain a colon ("checkin:open"): take the longest registered one.
        for cut in range(len(parts), 1, -1):
            route = self._routes.get(":".join(parts[1:cut]))
            if route is not None:
                break
        else:
            return None
        raw = parts[cut:]
        if len(raw) != len(route.fields):
            return None
        values: dict[str, int | str] = {}
        for (name, kind), text in zip(route.fields, raw, strict=True):
            value = _decode(text, kind)
            if value is None:
                return None
            values[name] = value
        # As bytes: compare_digest refuses a str with non-ASCII characters (a forged id).
        expected = self._sign(body, user_id).encode()
        ok = bool(signature) and hmac.compare_digest(signature.encode(), expected)
        return Decoded(route, values, ok)

    def _sign(self, text: str, user_id: int) -> str:
        digest = hmac.new(self._key, f"{text}|{user_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")


def _encode(value: int | str, kind: FieldKind) -> str:
    text = str(value)
    if _decode(text, kind) is None:
        raise ValueError(f"{value!r} is not a valid {kind}")
    return text


def _decode(text: str, kind: FieldKind) -> int | str | None:
    if kind == "id":
        return as_id(text)
    ok = 0 < len(text) <= 32 and all(c.isascii() and (c.isalnum() or c == "-") for c in text)
    return text if ok else None


async def load_key(db: Database, name: str = "routes") -> bytes:
    """A secret key (`routes` signs custom_ids; `pseudonyms` keys the hashes that stand for
    members in avoid lists), made once and kept in the database so it survives restarts."""
    async with db.transaction() as tx:
        value = await tx.fetchval("SELECT value FROM app_secrets WHERE name = ?", (name,))
        if value is None:
            value = secrets.token_hex(32)
            await tx.execute("INSERT INTO app_secrets (name, value) VALUES (?, ?)", (name, value))
    return bytes.fromhex(value)
