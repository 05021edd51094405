"""Request-body validation against Discord's official OpenAPI 3.1 description.

The spec is loaded once per process (it is 1.2 MB); a validator per operation is compiled the
first time that operation is used. ``$ref``s resolve inside the spec document through a
``referencing`` registry, with Draft 2020-12 semantics (what OpenAPI 3.1 uses).

A few things discord.py 2.7.1 legitimately sends (and Discord accepts) are narrower or wider in
the spec; they are listed in ``ALLOW_LIST`` below and patched into an in-memory copy of the spec,
so the rest of each schema still applies.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

JSON = dict[str, Any]
SPEC_URI = "urn:discord-openapi"
# Vendored from discord/discord-api-spec (MIT; see its README and LICENSE in that folder).
DEFAULT_SPEC = Path(__file__).resolve().parent / "discord-api-spec" / "openapi.json"

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}

# Deviations from the spec that the fake accepts, each with the reason. Every entry is
# (schema name, JSON path inside that schema, replacement schema, why).
# Checked and needing no entry: discord.py 2.7.1 sends ``nonce`` as a string of digits (<= 20
# chars, the spec allows strings <= 25), and ``"label": null`` on a text input inside a Label is
# allowed by TextInputComponentForModalRequest (label is ["string", "null"]).
ALLOW_LIST: list[tuple[str, tuple[str, ...], JSON, str]] = [
    (
        "SnowflakeType",
        (),
        {
            "oneOf": [
                {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
                {"type": "integer", "minimum": 0},
            ]
        },
        "Discord accepts snowflakes as JSON integers; discord.py sends ints for recipient_id "
        "(POST /users/@me/channels), allowed_mentions.users/roles, message_reference ids, "
        "sticker_ids and applied_tags.",
    ),
    (
        "ApplicationCommandCreateRequest",
        ("properties", "default_member_permissions"),
        {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 0}, _DIGITS]},
        "discord.py sends default_member_permissions as a string of digits (as the docs say).",
    ),
    (
        "ApplicationCommandUpdateRequest",
        ("properties", "default_member_permissions"),
        {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 0}, _DIGITS]},
        "discord.py sends default_member_permissions as a string of digits (as the docs say).",
    ),
    (
        "ApplicationCommandPatchRequestPartial",
        ("properties", "default_member_permissions"),
        {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 0}, _DIGITS]},
        "discord.py sends default_member_permissions as a string of digits (as the docs say).",
    ),
]


@dataclass(frozen=True)
class SpecError:
    path: tuple[str | int, ...]
    message: str
    schema_path: str

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "(body)"
        return f"{where}: {self.message} (schema {self.schema_path})"


def find_spec(spec_path: str | os.PathLike[str] | None) -> Path | None:
    """Resolve ``spec_path``: None → no spec; "auto" → $HAVEN_DISCORD_SPEC, else DEFAULT_SPEC."""
    if spec_path is None:
        return None
    if str(spec_path) != "auto":
        return Path(spec_path)
    env = os.environ.get("HAVEN_DISCORD_SPEC")
    if env:
        return Path(env) if Path(env).is_file() else None
    return DEFAULT_SPEC if DEFAULT_SPEC.is_file() else None


def _patch(spec: JSON) -> None:
    schemas = spec["components"]["schemas"]
    for name, path, replacement, _why in ALLOW_LIST:
        if name not in schemas:
            continue
        if not path:
            schemas[name] = replacement
            continue
        node = schemas[name]
        for part in path[:-1]:
            node = node[part]
        if path[-1] in node:
            node[path[-1]] = replacement


def _template_regex(template: str) -> re.Pattern[str]:
    parts = []
    for seg in template.strip("/").split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(seg))
    return re.compile("/" + "/".join(parts))


def _pointer(*parts: str) -> str:
    escaped = [p.replace("~", "~0").replace("/", "~1") for p in parts]
    return quote("/" + "/".join(escaped), safe="/~")


_DISCRIMINATORS = ("type", "entity_type")


class SpecValidator:
    """Matches a request path to a spec operation and validates its JSON body."""

    def __init__(self, spec: JSON) -> None:
        self.spec = spec
        self.schemas: JSON = spec["components"]["schemas"]
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._routes: dict[str, list[tuple[int, re.Pattern[str], str]]] = {}
        for template, ops in spec["paths"].items():
            literal = sum(1 for s in template.split("/") if s and not s.startswith("{"))
            for method, op in ops.items():
                if isinstance(op, dict) and "requestBody" in op:
                    self._routes.setdefault(method.upper(), []).append(
                        (literal, _template_regex(template), template)
                    )
        for routes in self._routes.values():
            routes.sort(key=lambda r: -r[0])  # prefer literal segments (@original over {id})
        self._validators: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def match(self, method: str, path: str) -> str | None:
        for _lit, regex, template in self._routes.get(method.upper(), ()):
            if regex.fullmatch(path):
                return template
        return None

    def _validator(self, template: str, method: str, content_type: str, body: Any) -> Any:
        op = self.spec["paths"][template][method.lower()]
        content = op["requestBody"].get("content", {})
        if content_type not in content:
            content_type = "application/json"
            if content_type not in content:
                return None
        schema = content[content_type]["schema"]
        base = _pointer(
            "paths", template, method.lower(), "requestBody", "content", content_type, "schema"
        )
        branch = _pick_branch(self.schemas, schema, body)
        key = (template, method, content_type + (f"#{branch}" if branch is not None else ""))
        with self._lock:
            validator = self._validators.get(key)
            if validator is None:
                ref = base if branch is None else f"{base}/{_union_key(schema)}/{branch}"
                validator = jsonschema.Draft202012Validator(
                    {"$ref": f"{SPEC_URI}#{ref}"}, registry=self.registry
                )
                self._validators[key] = validator
        return validator

    def validate(
        self, method: str, path: str, body: Any, *, multipart: bool = False
    ) -> list[SpecError] | None:
        """Errors for ``body``; None when the spec has no request schema for this route."""
        template = self.match(method, path)
        if template is None:
            return None
        ctype = "multipart/form-data" if multipart else "application/json"
        validator = self._validator(template, method, ctype, body)
        if validator is None:
            return None
        errors = list(validator.iter_errors(body))
        if not errors:
            return []
        best = best_match(errors)
        assert best is not None
        return [_to_spec_error(best)]


def _union_key(schema: JSON) -> str:
    return "anyOf" if "anyOf" in schema else "oneOf"


def _branch_enum(spec_schemas: JSON, branch: JSON, key: str) -> list[Any] | None:
    ref = branch.get("$ref", "")
    if not ref.startswith("#/components/schemas/"):
        return None
    target = spec_schemas.get(ref.rsplit("/", 1)[1], {})
    enum = target.get("properties", {}).get(key, {}).get("enum")
    return enum if isinstance(enum, list) else None


def _pick_branch(spec_schemas: JSON, schema: JSON, body: Any) -> int | None:
    """For a top-level union discriminated by ``type``/``entity_type``, the index of the
    branch matching the body (so errors describe that branch, not "not valid under any")."""
    union = schema.get("anyOf") or schema.get("oneOf")
    if not isinstance(union, list) or not isinstance(body, dict):
        return None
    for key in _DISCRIMINATORS:
        if key not in body:
            continue
        for i, branch in enumerate(union):
            enum = _branch_enum(spec_schemas, branch, key)
            if enum is not None and body[key] in enum:
                return i
    return None


def _to_spec_error(err: ValidationError) -> SpecError:
    limit = err.validator_value
    message = {
        "maxLength": f"Must be {limit} or fewer in length.",
        "minLength": f"Must be {limit} or more in length.",
        "maxItems": f"Must be {limit} or fewer in length.",
        "minItems": f"Must be {limit} or more in length.",
    }.get(str(err.validator), err.message)
    if len(message) > 300:
        message = message[:300] + "…"
    schema_path = "/".join(str(p) for p in err.relative_schema_path)
    return SpecError(tuple(err.absolute_path), message, schema_path)


_CACHE: dict[Path, SpecValidator] = {}
_CACHE_LOCK = threading.Lock()


def load_spec(path: Path) -> SpecValidator:
    """The (cached, once per process) validator for the spec at ``path``."""
    path = path.resolve()
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
        if cached is None:
            spec = json.loads(path.read_text(encoding="utf-8"))
            _patch(spec)
            cached = _CACHE[path] = SpecValidator(spec)
        return cached
