"""Synced application commands, and building interaction ``data`` from them.

The fake remembers what the bot synced per scope (``None`` = global, else a guild id) for as long
as the fake lives, across bot restarts, like Discord. ``slash()``/``autocomplete()`` look commands
up here, so a test can only invoke what the bot actually registered, with values Discord would
accept for the synced option types, ranges and choices.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .validate import Rejected
from .world import JSON, THREAD_TYPES, World

Scope = int | None

OPTION_TYPES = {
    1: "subcommand",
    2: "group",
    3: "string",
    4: "integer",
    5: "boolean",
    6: "user",
    7: "channel",
    8: "role",
    9: "mentionable",
    10: "number",
    11: "attachment",
}
_INT_LIMIT = 2**53


class CommandStore:
    def __init__(self, world: World) -> None:
        self.world = world
        self.scopes: dict[Scope, list[JSON]] = {}
        self._ids: dict[tuple[Scope, int, str], int] = {}
        self._version = 0
        self.sync_count = 0

    # ---- REST ----------------------------------------------------------------------------
    def _normalise(self, scope: Scope, cmd: JSON, *, keep_id: int | None = None) -> JSON:
        ctype = cmd.get("type") or 1
        name = cmd["name"]
        key = (scope, ctype, name)
        cid = keep_id or self._ids.get(key) or self.world.next_id()
        self._ids[key] = cid
        self._version += 1
        out: JSON = {
            "id": str(cid),
            "application_id": str(self.world.app_id),
            "version": str(self.world.next_id()),
            "type": ctype,
            "name": name,
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description") or "",
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": _opt_str(cmd.get("default_member_permissions")),
            "nsfw": bool(cmd.get("nsfw")),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
        }
        if scope is None:
            out["dm_permission"] = cmd.get("dm_permission", True) is not False
        else:
            out["guild_id"] = str(scope)
        if cmd.get("options"):
            out["options"] = [_normalise_option(o) for o in cmd["options"]]
        return out

    def bulk_overwrite(self, scope: Scope, commands: list[JSON]) -> list[JSON]:
        self.sync_count += 1
        self.scopes[scope] = [self._normalise(scope, c) for c in commands]
        return copy.deepcopy(self.scopes[scope])

    def upsert(self, scope: Scope, cmd: JSON) -> tuple[JSON, bool]:
        stored = self.scopes.setdefault(scope, [])
        ctype = cmd.get("type") or 1
        new = self._normalise(scope, cmd)
        for i, old in enumerate(stored):
            if old["type"] == ctype and old["name"] == cmd["name"]:
                stored[i] = new
                return copy.deepcopy(new), False
        stored.append(new)
        return copy.deepcopy(new), True

    def find_by_id(self, scope: Scope, command_id: int) -> JSON:
        for cmd in self.scopes.get(scope, []):
            if int(cmd["id"]) == command_id:
                return cmd
        raise Rejected(404, 10063, "Unknown application command")

    def edit(self, scope: Scope, command_id: int, patch: JSON) -> JSON:
        old = self.find_by_id(scope, command_id)
        merged = {**old, **patch}
        new = self._normalise(scope, merged, keep_id=command_id)
        stored = self.scopes[scope]
        stored[stored.index(old)] = new
        return copy.deepcopy(new)

    def delete(self, scope: Scope, command_id: int) -> None:
        old = self.find_by_id(scope, command_id)
        self.scopes[scope].remove(old)

    def list(self, scope: Scope) -> list[JSON]:
        return copy.deepcopy(self.scopes.get(scope, []))

    # ---- lookup for tests --------------------------------------------------------------------
    def lookup(self, name: str, guild_id: int | None, ctype: int = 1) -> tuple[JSON, Scope]:
        """Guild scope first (for a guild interaction), then global; from a DM, global first
        and then any guild scope (a stale client)."""
        order: list[Scope] = [guild_id, None] if guild_id is not None else [None]
        if guild_id is None:
            order += [s for s in self.scopes if s is not None]
        for scope in order:
            for cmd in self.scopes.get(scope, []):
                if cmd["name"] == name and cmd["type"] == ctype:
                    return cmd, scope
        known = sorted(
            {c["name"] for s in order for c in self.scopes.get(s, []) if c["type"] == ctype}
        )
        raise LookupError(
            f"command {name!r} (type {ctype}) was not synced for guild={guild_id}; synced: {known}"
        )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _normalise_option(opt: JSON) -> JSON:
    out = {k: v for k, v in opt.items() if v is not None}
    out.setdefault("description", "")
    if "options" in out:
        out["options"] = [_normalise_option(o) for o in out["options"]]
    return out


# ---------------------------------------------------------------------------------------------
# building interaction data
# ---------------------------------------------------------------------------------------------
AttachmentFactory = Callable[[Any], JSON]


class OptionBuilder:
    """Turns Python keyword values into the ``options``/``resolved`` Discord would send."""

    def __init__(
        self,
        world: World,
        *,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        attachment_factory: AttachmentFactory | None = None,
        unchecked: bool = False,
    ) -> None:
        """``unchecked``: skip the limits a Discord client enforces (required options, ranges,
        lengths, choices), to simulate a stale client and prove the bot's own checks."""
        self.world = world
        self.unchecked = unchecked
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.resolved: dict[str, dict[str, JSON]] = {}
        self.attachment_factory = attachment_factory

    def build(
        self,
        cmd: JSON,
        path: tuple[str, ...],
        values: Mapping[str, Any],
        *,
        focused: str | None = None,
    ) -> list[JSON]:
        options: list[JSON] = cmd.get("options") or []
        where = f"/{cmd['name']}"
        chain: list[JSON] = []
        for part in path:
            found = next(
                (o for o in options if o.get("name") == part and o.get("type") in (1, 2)), None
            )
            if found is None:
                subs = [o["name"] for o in options if o.get("type") in (1, 2)]
                raise LookupError(f"{where} has no subcommand/group {part!r}; it has {subs}")
            chain.append(found)
            where += f" {part}"
            options = found.get("options") or []
        subs = [o["name"] for o in options if o.get("type") in (1, 2)]
        if subs:
            raise ValueError(f"{where} needs a subcommand, one of {subs}")
        by_name = {o["name"]: o for o in options}
        leaf: list[JSON] = []
        given: set[str] = set()
        for key, value in values.items():
            # `user_=` reaches an option named "user" (slash() has its own `user=`, etc.)
            opt = (
                by_name.get(key)
                or by_name.get(key.replace("_", "-"))
                or (by_name.get(key[:-1]) if key.endswith("_") else None)
            )
            if opt is None:
                raise LookupError(f"{where} has no option {key!r}; options: {sorted(by_name)}")
            given.add(opt["name"])
            is_focused = focused is not None and opt["name"] in (
                focused,
                focused.replace("_", "-"),
                focused.rstrip("_"),
            )
            leaf.append(self._value(where, opt, value, focused=is_focused))
        if focused is None and not self.unchecked:
            missing = [o["name"] for o in options if o.get("required") and o["name"] not in given]
            if missing:
                raise ValueError(f"{where}: missing required option(s) {missing}")
        elif focused is not None and not any(o.get("focused") for o in leaf):
            raise LookupError(f"{where}: focused option {focused!r} was not given a value")
        result = leaf
        for link in reversed(chain):
            result = [{"name": link["name"], "type": link["type"], "options": result}]
        return result

    # ---- one value --------------------------------------------------------------------------
    def _value(self, where: str, opt: JSON, value: Any, *, focused: bool) -> JSON:
        otype = opt["type"]
        name = opt["name"]
        label = f"{where} {name}"
        if focused:
            if not opt.get("autocomplete"):
                raise ValueError(f"{label} has no autocomplete; Discord would not ask")
            return {"name": name, "type": otype, "value": str(value), "focused": True}
        if otype == 3:
            if not isinstance(value, str):
                raise ValueError(f"{label} is a string option, got {value!r}")
            lo, hi = opt.get("min_length", 0), opt.get("max_length", 6000)
            if not lo <= len(value) <= hi and not self.unchecked:
                raise ValueError(f"{label}: length {len(value)} outside [{lo}, {hi}]")
        elif otype == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{label} is an integer option, got {value!r}")
            self._range(label, opt, value, -_INT_LIMIT, _INT_LIMIT)
        elif otype == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{label} is a number option, got {value!r}")
            self._range(label, opt, value, -_INT_LIMIT, _INT_LIMIT)
        elif otype == 5:
            if not isinstance(value, bool):
                raise ValueError(f"{label} is a boolean option, got {value!r}")
        elif otype in (6, 7, 8, 9):
            value = str(self._resolve(label, otype, opt, value))
        elif otype == 11:
            if self.attachment_factory is None:
                raise ValueError(f"{label}: attachments are not supported here")
            att = self.attachment_factory(value)
            self.resolved.setdefault("attachments", {})[att["id"]] = att
            value = att["id"]
        else:
            raise ValueError(f"{label}: unsupported option type {otype}")
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices] and not self.unchecked:
            raise ValueError(
                f"{label}: {value!r} is not one of the synced choices "
                f"{[c['value'] for c in choices]}"
            )
        return {"name": name, "type": otype, "value": value}

    def _range(self, label: str, opt: JSON, value: float, lo: float, hi: float) -> None:
        if self.unchecked:
            return
        lo = opt.get("min_value", lo)
        hi = opt.get("max_value", hi)
        if not lo <= value <= hi:
            raise ValueError(f"{label}: {value} outside [{lo}, {hi}]")

    def _resolve(self, label: str, otype: int, opt: JSON, value: Any) -> int:
        target = getattr(value, "id", value)
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, bool) or not isinstance(target, int):
            raise ValueError(f"{label} takes an id (int), got {value!r}")
        w = self.world
        guild = w.guilds.get(self.guild_id) if self.guild_id is not None else None
        if otype in (6, 9) and target in w.users:
            self.resolved.setdefault("users", {})[str(target)] = w.user_payload(target)
            if guild is not None and target in guild.members:
                perms = w.permissions(guild.id, target, self.channel_id)
                self.resolved.setdefault("members", {})[str(target)] = w.member_payload(
                    guild.id, target, with_user=False, permissions=perms
                )
            return target
        if otype in (8, 9) and guild is not None and target in guild.roles:
            self.resolved.setdefault("roles", {})[str(target)] = w.role_payload(guild.id, target)
            return target
        if otype == 7 and target in w.channels:
            ch = w.channels[target]
            allowed = opt.get("channel_types")
            if allowed and ch.type not in allowed:
                raise ValueError(f"{label}: channel type {ch.type} not in {allowed}")
            if ch.guild_id != self.guild_id:
                raise ValueError(f"{label}: channel {target} is not in guild {self.guild_id}")
            data = w.channel_payload(target, permissions_for=self.user_id)
            if ch.type in THREAD_TYPES:
                data["parent_id"] = str(ch.parent_id)
            self.resolved.setdefault("channels", {})[str(target)] = data
            return target
        kind = OPTION_TYPES[otype]
        raise ValueError(f"{label}: no {kind} with id {target} in the world")
