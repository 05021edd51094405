"""The fake's own validators. They stand alone (no OpenAPI spec needed) and produce Discord's
50035 "Invalid Form Body" error trees, so discord.py's HTTPException text names the field
(``In data.content: Must be 2000 or fewer in length.``).

Rules come from Discord's developer documentation (application commands; messages, modals, DMs,
threads, scheduled events and rate limits), checked against what discord.py 2.7.1 sends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

JSON = dict[str, Any]
Path = tuple[str | int, ...]

# CHAT_INPUT command / option names (stdlib approximation of Discord's unicode regex).
NAME_RE = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
MESSAGE_FLAGS_ALLOWED = 4 | 4096 | 32768  # SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, COMPONENTS_V2
EPHEMERAL = 64
COMPONENTS_V2 = 32768
THREAD_ARCHIVE_DURATIONS = frozenset({60, 1440, 4320, 10080})
OPTION_STRING, OPTION_INTEGER, OPTION_NUMBER, OPTION_CHANNEL = 3, 4, 10, 7
VALUE_TYPES = frozenset({3, 4, 5, 6, 7, 8, 9, 10, 11})


class Rejected(Exception):
    """A 4xx answer the fake gives; ``rule=True`` means it counts as a rejection of the bot."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
        *,
        rule: bool = True,
        headers: dict[str, str] | None = None,
        extra: JSON | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.rule = rule
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(f"{status} {code} {message}")

    def body(self) -> JSON:
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        data.update(self.extra)
        return data

    def reason(self) -> str:
        """Human text, flattened like discord.py does."""
        if not self.errors:
            return self.message
        return f"{self.message}: " + "; ".join(flatten_errors(self.errors))


def flatten_errors(tree: JSON, prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in tree.items():
        if key == "_errors":
            out.extend(f"In {prefix or '(body)'}: {e['message']}" for e in value)
        elif isinstance(value, dict):
            out.extend(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


class FormErrors:
    """Collects field errors and renders Discord's nested ``errors`` object."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str, str]] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, path: Path, code: str, message: str) -> None:
        self.items.append((path, code, message))

    def tree(self) -> JSON:
        root: JSON = {}
        for path, code, message in self.items:
            node = root
            for part in path:
                node = node.setdefault(str(part), {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        return root

    @staticmethod
    def single(path: Path, code: str, message: str) -> NoReturn:
        errs = FormErrors()
        errs.add(path, code, message)
        raise Rejected(400, 50035, "Invalid Form Body", errs.tree())

    def raise_if_any(self) -> None:
        if self.items:
            raise Rejected(400, 50035, "Invalid Form Body", self.tree())

    # -- small helpers ----------------------------------------------------------------------
    def length(self, value: Any, path: Path, lo: int, hi: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return
        if not isinstance(value, str):
            self.add(path, "BASE_TYPE_STRING", "Could not interpret value as string.")
            return
        n = len(value)
        if lo <= n <= hi:
            return
        if lo == 0:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {hi} or fewer in length.")
        else:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {lo} and {hi} in length.")

    def int_range(self, value: Any, path: Path, lo: int, hi: int) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
        elif value < lo:
            self.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {lo}.")
        elif value > hi:
            self.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {hi}.")

    def max_items(self, value: Any, path: Path, hi: int, lo: int = 0) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, "BASE_TYPE_LIST", "Must be an array.")
            return []
        if len(value) > hi:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {hi} or fewer in length.")
        elif len(value) < lo:
            self.add(path, "BASE_TYPE_MIN_LENGTH", f"Must be {lo} or more in length.")
        return value


# ---------------------------------------------------------------------------------------------
# messages, embeds, components
# ---------------------------------------------------------------------------------------------
def message_is_empty(body: JSON, n_files: int, existing: JSON | None = None) -> bool:
    merged = dict(existing or {})
    merged.update(body)
    return not (
        merged.get("content")
        or merged.get("embeds")
        or merged.get("components")
        or merged.get("sticker_ids")
        or merged.get("poll")
        or n_files
        or merged.get("attachments")
    )


def validate_message(
    body: Any,
    errs: FormErrors,
    path: Path = (),
    *,
    interaction: bool = False,
    n_files: int = 0,
    check_empty: bool = True,
) -> None:
    """Message create/edit bodies (channel messages, webhooks, interaction ``data``)."""
    if not isinstance(body, dict):
        errs.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    flags = body.get("flags") or 0
    if isinstance(flags, int):
        allowed = MESSAGE_FLAGS_ALLOWED | (EPHEMERAL if interaction else 0)
        if flags & ~allowed:
            errs.add((*path, "flags"), "MESSAGE_FLAGS_INVALID", f"Invalid flags {flags}.")
    else:
        errs.add((*path, "flags"), "NUMBER_TYPE_COERCE", f'Value "{flags}" is not int.')
        flags = 0
    v2 = bool(flags & COMPONENTS_V2)
    content = body.get("content")
    errs.length(content, (*path, "content"), 0, 2000)
    embeds = errs.max_items(body.get("embeds"), (*path, "embeds"), 10)
    if v2 and (content or embeds):
        errs.add(
            (*path, "content" if content else "embeds"),
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used with MessageFlags.IS_COMPONENTS_V2",
        )
    validate_embeds(embeds, errs, (*path, "embeds"))
    components = errs.max_items(body.get("components"), (*path, "components"), 40 if v2 else 5)
    validate_message_components(components, errs, (*path, "components"), v2=v2)
    validate_allowed_mentions(body.get("allowed_mentions"), errs, (*path, "allowed_mentions"))
    errs.max_items(body.get("attachments"), (*path, "attachments"), 10)
    if check_empty and message_is_empty(body, n_files) and not errs:
        raise Rejected(400, 50006, "Cannot send an empty message")


def validate_allowed_mentions(am: Any, errs: FormErrors, path: Path) -> None:
    if am is None:
        return
    if not isinstance(am, dict):
        errs.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    parse = am.get("parse") or []
    for i, p in enumerate(parse):
        if p not in ("users", "roles", "everyone"):
            errs.add(
                (*path, "parse", i),
                "BASE_TYPE_CHOICES",
                "Value must be one of {'users', 'roles', 'everyone'}.",
            )
    for kind in ("users", "roles"):
        ids = errs.max_items(am.get(kind), (*path, kind), 100)
        if ids and kind in parse:
            errs.add(
                (*path, "parse"),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def validate_embeds(embeds: Sequence[Any], errs: FormErrors, path: Path) -> None:
    total = 0
    for i, e in enumerate(embeds):
        p = (*path, i)
        if not isinstance(e, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        for key, hi in (("title", 256), ("description", 4096), ("url", 2048)):
            errs.length(e.get(key), (*p, key), 0, hi)
            total += len(e.get(key) or "")
        color = e.get("color")
        if color is not None:
            errs.int_range(color, (*p, "color"), 0, 16777215)
        fields = errs.max_items(e.get("fields"), (*p, "fields"), 25)
        for j, f in enumerate(fields):
            fp = (*p, "fields", j)
            if not isinstance(f, dict):
                errs.add(fp, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                continue
            errs.length(f.get("name"), (*fp, "name"), 1, 256, required=True)
            errs.length(f.get("value"), (*fp, "value"), 1, 1024, required=True)
            total += len(f.get("name") or "") + len(f.get("value") or "")
        footer = e.get("footer")
        if isinstance(footer, dict):
            errs.length(footer.get("text"), (*p, "footer", "text"), 1, 2048, required=True)
            total += len(footer.get("text") or "")
        author = e.get("author")
        if isinstance(author, dict):
            errs.length(author.get("name"), (*p, "author", "name"), 1, 256, required=True)
            total += len(author.get("name") or "")
        for media in ("image", "thumbnail"):
            m = e.get(media)
            if isinstance(m, dict) and not m.get("url"):
                errs.add((*p, media, "url"), "BASE_TYPE_REQUIRED", "This field is required")
    if total > 6000:
        errs.add(path, "MESSAGE_EMBED_TOO_LONG", "Embed size exceeds maximum size of 6000")


def _component_children(c: JSON) -> list[JSON]:
    out: list[JSON] = [x for x in c.get("components") or [] if isinstance(x, dict)]
    for key in ("accessory", "component"):
        if isinstance(c.get(key), dict):
            out.append(c[key])
    return out


def count_components(components: Sequence[Any]) -> int:
    n = 0
    for c in components:
        if isinstance(c, dict):
            n += 1 + count_components(_component_children(c))
    return n


def validate_message_components(
    components: Sequence[Any], errs: FormErrors, path: Path, *, v2: bool
) -> None:
    seen: set[str] = set()
    if v2:
        if count_components(components) > 40:
            errs.add(path, "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "Must be 40 or fewer in total.")
        for i, c in enumerate(components):
            _validate_component(c, errs, (*path, i), seen, top=True, v2=True)
        return
    for i, row in enumerate(components):
        p = (*path, i)
        if not isinstance(row, dict) or row.get("type") != 1:
            errs.add(
                (*p, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        _validate_component(row, errs, p, seen, top=True, v2=False)


def _validate_component(
    c: Any, errs: FormErrors, p: Path, seen: set[str], *, top: bool, v2: bool
) -> None:
    if not isinstance(c, dict):
        errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    ctype = c.get("type")
    if ctype == 1:
        kids = c.get("components")
        if not isinstance(kids, list) or not 1 <= len(kids) <= 5:
            errs.add(
                (*p, "components"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
            )
            kids = kids if isinstance(kids, list) else []
        has_select = any(isinstance(k, dict) and k.get("type") in SELECT_TYPES for k in kids)
        if has_select and len(kids) > 1:
            errs.add(
                (*p, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, k in enumerate(kids):
            if isinstance(k, dict) and k.get("type") not in (2, *SELECT_TYPES):
                errs.add(
                    (*p, "components", j, "type"),
                    "COMPONENT_TYPE_INVALID",
                    f"Component type {k.get('type')} is not allowed in an action row",
                )
            _validate_component(k, errs, (*p, "components", j), seen, top=False, v2=v2)
    elif ctype == 2:
        _validate_button(c, errs, p, seen)
    elif ctype in SELECT_TYPES:
        _validate_select(c, errs, p, seen)
    elif v2 and ctype in (9, 10, 11, 12, 13, 14, 17):
        if ctype == 10:
            errs.length(c.get("content"), (*p, "content"), 1, 4000, required=True)
        if ctype == 9 and not isinstance(c.get("accessory"), dict):
            errs.add((*p, "accessory"), "BASE_TYPE_REQUIRED", "This field is required")
        if ctype == 12:
            errs.max_items(c.get("items"), (*p, "items"), 10, 1)
        for j, k in enumerate(c.get("components") or []):
            _validate_component(k, errs, (*p, "components", j), seen, top=False, v2=v2)
        if isinstance(c.get("accessory"), dict) and c["accessory"].get("type") == 2:
            _validate_button(c["accessory"], errs, (*p, "accessory"), seen)
    else:
        errs.add((*p, "type"), "COMPONENT_TYPE_INVALID", f"Invalid component type {ctype}")


def _custom_id(c: JSON, errs: FormErrors, p: Path, seen: set[str]) -> None:
    cid = c.get("custom_id")
    errs.length(cid, (*p, "custom_id"), 1, 100, required=True)
    if isinstance(cid, str):
        if cid in seen:
            errs.add(
                (*p, "custom_id"),
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(cid)


def _validate_button(c: JSON, errs: FormErrors, p: Path, seen: set[str]) -> None:
    style = c.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        errs.add((*p, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}.")
    errs.length(c.get("label"), (*p, "label"), 0, 80)
    if style == 5:
        errs.length(c.get("url"), (*p, "url"), 1, 512, required=True)
        if c.get("custom_id") is not None:
            errs.add(
                (*p, "custom_id"), "BUTTON_LINK_CUSTOM_ID", "Link buttons cannot have a custom_id"
            )
    elif style == 6:
        if not c.get("sku_id"):
            errs.add((*p, "sku_id"), "BASE_TYPE_REQUIRED", "This field is required")
    else:
        _custom_id(c, errs, p, seen)
        if c.get("url") is not None:
            errs.add((*p, "url"), "BUTTON_NON_LINK_URL", "Non-link buttons cannot have a url")
    if style != 6 and not c.get("label") and not c.get("emoji"):
        errs.add((*p, "label"), "BUTTON_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required")


def _validate_select(c: JSON, errs: FormErrors, p: Path, seen: set[str]) -> None:
    _custom_id(c, errs, p, seen)
    errs.length(c.get("placeholder"), (*p, "placeholder"), 0, 150)
    lo, hi = c.get("min_values"), c.get("max_values")
    errs.int_range(lo, (*p, "min_values"), 0, 25)
    errs.int_range(hi, (*p, "max_values"), 1, 25)
    if c.get("type") == 3:
        options = c.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= 25:
            errs.add((*p, "options"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
            options = options if isinstance(options, list) else []
        values: set[Any] = set()
        for j, o in enumerate(options):
            op = (*p, "options", j)
            if not isinstance(o, dict):
                continue
            errs.length(o.get("label"), (*op, "label"), 1, 100, required=True)
            errs.length(o.get("value"), (*op, "value"), 1, 100, required=True)
            errs.length(o.get("description"), (*op, "description"), 0, 100)
            if o.get("value") in values:
                errs.add(
                    (*op, "value"),
                    "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                    "Option values must be unique",
                )
            values.add(o.get("value"))
        if isinstance(hi, int) and options and hi > len(options):
            errs.add(
                (*p, "max_values"),
                "SELECT_COMPONENT_MAX_VALUES_TOO_HIGH",
                f"max_values must be less than or equal to {len(options)}",
            )
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        errs.add(
            (*p, "min_values"), "SELECT_COMPONENT_MIN_GT_MAX", "min_values must be <= max_values"
        )


# ---------------------------------------------------------------------------------------------
# modals, autocomplete
# ---------------------------------------------------------------------------------------------
def validate_modal(data: Any, errs: FormErrors, path: Path = ("data",)) -> None:
    if not isinstance(data, dict):
        errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    errs.length(data.get("custom_id"), (*path, "custom_id"), 1, 100, required=True)
    errs.length(data.get("title"), (*path, "title"), 1, 45, required=True)
    comps = data.get("components")
    if not isinstance(comps, list) or not 1 <= len(comps) <= 5:
        errs.add(
            (*path, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
        comps = comps if isinstance(comps, list) else []
    seen: set[str] = set()
    for i, c in enumerate(comps):
        p = (*path, "components", i)
        if not isinstance(c, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        ctype = c.get("type")
        if ctype == 1:
            kids = c.get("components")
            if not isinstance(kids, list) or len(kids) != 1:
                errs.add(
                    (*p, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 1 in length."
                )
                continue
            if not isinstance(kids[0], dict) or kids[0].get("type") != 4:
                errs.add(
                    (*p, "components", 0, "type"),
                    "COMPONENT_TYPE_INVALID",
                    "Only text inputs may be in a modal action row",
                )
                continue
            _validate_text_input(kids[0], errs, (*p, "components", 0), seen, in_label=False)
        elif ctype == 18:
            errs.length(c.get("label"), (*p, "label"), 1, 45, required=True)
            errs.length(c.get("description"), (*p, "description"), 0, 100)
            inner = c.get("component")
            ip = (*p, "component")
            if not isinstance(inner, dict):
                errs.add(ip, "BASE_TYPE_REQUIRED", "This field is required")
            elif inner.get("type") == 4:
                _validate_text_input(inner, errs, ip, seen, in_label=True)
            elif inner.get("type") in SELECT_TYPES:
                _validate_select(inner, errs, ip, seen)
            elif inner.get("type") in (
                19,
                21,
                22,
                23,
            ):  # file upload, radio, checkbox group, checkbox
                _custom_id(inner, errs, ip, seen)
            else:
                errs.add(
                    (*ip, "type"),
                    "COMPONENT_TYPE_INVALID",
                    f"Invalid component type {inner.get('type')} in a label",
                )
        elif ctype == 10:
            errs.length(c.get("content"), (*p, "content"), 1, 4000, required=True)
        else:
            errs.add(
                (*p, "type"), "COMPONENT_TYPE_INVALID", f"Invalid modal component type {ctype}"
            )


def _validate_text_input(
    c: JSON, errs: FormErrors, p: Path, seen: set[str], *, in_label: bool
) -> None:
    _custom_id(c, errs, p, seen)
    if c.get("style") not in (1, 2):
        errs.add((*p, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
    # Inside a Label (type 18) discord.py sends "label": null; the Label carries the text.
    errs.length(c.get("label"), (*p, "label"), 1, 45, required=not in_label)
    errs.length(c.get("placeholder"), (*p, "placeholder"), 0, 100)
    errs.length(c.get("value"), (*p, "value"), 0, 4000)
    errs.int_range(c.get("min_length"), (*p, "min_length"), 0, 4000)
    errs.int_range(c.get("max_length"), (*p, "max_length"), 1, 4000)
    lo, hi = c.get("min_length"), c.get("max_length")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        errs.add((*p, "min_length"), "TEXT_INPUT_MIN_GT_MAX", "min_length must be <= max_length")


def validate_choices(data: Any, errs: FormErrors, path: Path = ("data",)) -> None:
    if not isinstance(data, dict):
        errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    choices = errs.max_items(data.get("choices"), (*path, "choices"), 25)
    for i, ch in enumerate(choices):
        p = (*path, "choices", i)
        if not isinstance(ch, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        errs.length(ch.get("name"), (*p, "name"), 1, 100, required=True)
        value = ch.get("value")
        if isinstance(value, str):
            errs.length(value, (*p, "value"), 0, 100)
        elif value is None or isinstance(value, bool) or not isinstance(value, int | float):
            errs.add((*p, "value"), "BASE_TYPE_REQUIRED", "This field is required")


# ---------------------------------------------------------------------------------------------
# application commands
# ---------------------------------------------------------------------------------------------
def validate_commands(commands: Any, errs: FormErrors) -> None:
    """A bulk-overwrite body (list of commands) for one scope."""
    if not isinstance(commands, list):
        errs.add((), "BASE_TYPE_LIST", "Must be an array.")
        return
    seen: set[tuple[int, str]] = set()
    counts = {1: 0, 2: 0, 3: 0, 4: 0}
    for i, cmd in enumerate(commands):
        validate_command(cmd, errs, (i,))
        if isinstance(cmd, dict):
            ctype = cmd.get("type") or 1
            key = (ctype, str(cmd.get("name")))
            if key in seen:
                errs.add(
                    (i, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {cmd.get('name')}",
                )
            seen.add(key)
            if ctype in counts:
                counts[ctype] += 1
    for ctype, limit in ((1, 100), (2, 15), (3, 15), (4, 1)):
        if counts[ctype] > limit:
            raise Rejected(400, 30032, "Maximum number of application commands reached")


def validate_command(cmd: Any, errs: FormErrors, path: Path = ()) -> None:
    if not isinstance(cmd, dict):
        errs.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    ctype = cmd.get("type") or 1
    if ctype not in (1, 2, 3, 4):
        errs.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
        return
    name = cmd.get("name")
    if ctype == 1:
        _check_name(name, errs, (*path, "name"))
        errs.length(cmd.get("description"), (*path, "description"), 1, 100, required=True)
        _check_options(cmd.get("options"), errs, (*path, "options"), level=0)
        size = _command_size(cmd)
        if size > 8000:
            errs.add(
                path,
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size (8000), is {size}",
            )
    else:
        errs.length(name, (*path, "name"), 1, 32, required=True)
        if cmd.get("description"):
            errs.add(
                (*path, "description"),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        if cmd.get("options"):
            errs.add(
                (*path, "options"),
                "APPLICATION_COMMAND_OPTIONS_INVALID",
                "Context menu commands cannot have options",
            )
    for key, limit in (("name_localizations", 32), ("description_localizations", 100)):
        locs = cmd.get(key)
        if isinstance(locs, dict):
            for loc, text in locs.items():
                if key == "name_localizations" and ctype == 1:
                    _check_name(text, errs, (*path, key, loc))
                else:
                    errs.length(text, (*path, key, loc), 1, limit, required=True)
    dmp = cmd.get("default_member_permissions")
    if dmp is not None and not (
        (isinstance(dmp, str) and dmp.isdigit())
        or (isinstance(dmp, int) and not isinstance(dmp, bool))
    ):
        errs.add(
            (*path, "default_member_permissions"),
            "NUMBER_TYPE_COERCE",
            f'Value "{dmp}" is not int.',
        )
    for key, allowed in (("contexts", {0, 1, 2}), ("integration_types", {0, 1})):
        vals = cmd.get(key)
        if vals is None:
            continue
        if not isinstance(vals, list) or not vals:
            errs.add((*path, key), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
            continue
        for j, v in enumerate(vals):
            if v not in allowed:
                errs.add(
                    (*path, key, j), "ENUM_TYPE_COERCE", f'Value "{v}" is not a valid enum value.'
                )


def _check_name(name: Any, errs: FormErrors, path: Path) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name) or name != name.lower():
        errs.add(path, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")


def _check_options(options: Any, errs: FormErrors, path: Path, *, level: int) -> None:
    """level 0: command, 1: group, 2: subcommand."""
    if options is None:
        return
    if not isinstance(options, list):
        errs.add(path, "BASE_TYPE_LIST", "Must be an array.")
        return
    if len(options) > 25:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[Any] = set()
    kinds = {"sub": 0, "value": 0}
    seen_optional = False
    for i, opt in enumerate(options):
        p = (*path, i)
        if not isinstance(opt, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        otype = opt.get("type")
        name = opt.get("name")
        _check_name(name, errs, (*p, "name"))
        errs.length(opt.get("description"), (*p, "description"), 1, 100, required=True)
        if name in names:
            errs.add(
                (*p, "name"),
                "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        if otype in (1, 2):
            kinds["sub"] += 1
            if otype == 2 and level != 0:
                errs.add(
                    (*p, "type"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Subcommand groups can only be nested in commands",
                )
            if otype == 1 and level == 2:
                errs.add(
                    (*p, "type"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Subcommands cannot be nested in subcommands",
                )
            sub_options = opt.get("options")
            _check_options(sub_options, errs, (*p, "options"), level=1 if otype == 2 else 2)
            continue
        if otype not in VALUE_TYPES:
            errs.add((*p, "type"), "BASE_TYPE_CHOICES", f"Invalid option type {otype}")
            continue
        kinds["value"] += 1
        if level == 1:
            errs.add(
                (*p, "type"),
                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                "Subcommand groups may only contain subcommands",
            )
        required = bool(opt.get("required"))
        if required and seen_optional:
            errs.add(
                (*p, "required"),
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        seen_optional = seen_optional or not required
        _check_value_option(opt, otype, errs, p)
    if kinds["sub"] and kinds["value"]:
        errs.add(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Options cannot mix subcommands/groups with other option types",
        )


def _check_value_option(opt: JSON, otype: int, errs: FormErrors, p: Path) -> None:
    choices = opt.get("choices")
    if opt.get("autocomplete"):
        if otype not in (OPTION_STRING, OPTION_INTEGER, OPTION_NUMBER):
            errs.add(
                (*p, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete is only valid for string, integer and number options",
            )
        if choices:
            errs.add(
                (*p, "autocomplete"),
                "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES_CONFLICT",
                "Autocomplete cannot be set when choices are present",
            )
    if choices is not None:
        if otype not in (OPTION_STRING, OPTION_INTEGER, OPTION_NUMBER):
            errs.add(
                (*p, "choices"),
                "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
                "Choices are only valid for string, integer and number options",
            )
        for j, ch in enumerate(errs.max_items(choices, (*p, "choices"), 25)):
            cp = (*p, "choices", j)
            if not isinstance(ch, dict):
                continue
            errs.length(ch.get("name"), (*cp, "name"), 1, 100, required=True)
            value = ch.get("value")
            if otype == OPTION_STRING:
                if not isinstance(value, str):
                    errs.add(
                        (*cp, "value"), "BASE_TYPE_STRING", "Could not interpret value as string."
                    )
                else:
                    errs.length(value, (*cp, "value"), 1, 100)
            elif otype == OPTION_INTEGER and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                errs.add((*cp, "value"), "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
            elif otype == OPTION_NUMBER and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                errs.add((*cp, "value"), "NUMBER_TYPE_COERCE", f'Value "{value}" is not a number.')
    for key, lo, hi in (("min_length", 0, 6000), ("max_length", 1, 6000)):
        if opt.get(key) is not None:
            if otype != OPTION_STRING:
                errs.add(
                    (*p, key),
                    "APPLICATION_COMMAND_OPTION_INVALID",
                    f"{key} is only valid for string options",
                )
            errs.int_range(opt.get(key), (*p, key), lo, hi)
    for key in ("min_value", "max_value"):
        if opt.get(key) is not None and otype not in (OPTION_INTEGER, OPTION_NUMBER):
            errs.add(
                (*p, key),
                "APPLICATION_COMMAND_OPTION_INVALID",
                f"{key} is only valid for integer and number options",
            )
    vmin, vmax = opt.get("min_value"), opt.get("max_value")
    if isinstance(vmin, int | float) and isinstance(vmax, int | float) and vmin > vmax:
        errs.add(
            (*p, "min_value"),
            "APPLICATION_COMMAND_OPTION_MIN_GT_MAX",
            "min_value must be <= max_value",
        )
    if opt.get("channel_types") is not None and otype != OPTION_CHANNEL:
        errs.add(
            (*p, "channel_types"),
            "APPLICATION_COMMAND_OPTION_INVALID",
            "channel_types is only valid for channel options",
        )


def _longest(obj: JSON, key: str) -> int:
    n = len(str(obj.get(key) or ""))
    locs = obj.get(f"{key}_localizations")
    if isinstance(locs, dict):
        n = max([n, *(len(str(v)) for v in locs.values())])
    return n


def _command_size(obj: JSON) -> int:
    """name + description + option names/descriptions + choice names/values (longest locale)."""
    size = _longest(obj, "name") + _longest(obj, "description")
    for ch in obj.get("choices") or []:
        if isinstance(ch, dict):
            size += _longest(ch, "name") + len(str(ch.get("value", "")))
    for opt in obj.get("options") or []:
        if isinstance(opt, dict):
            size += _command_size(opt)
    return size


# ---------------------------------------------------------------------------------------------
# threads, scheduled events
# ---------------------------------------------------------------------------------------------
def validate_thread(body: Any, errs: FormErrors, *, from_message: bool) -> None:
    if not isinstance(body, dict):
        errs.add((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    errs.length(body.get("name"), ("name",), 1, 100, required=True)
    aad = body.get("auto_archive_duration")
    if aad is not None and aad not in THREAD_ARCHIVE_DURATIONS:
        errs.add(
            ("auto_archive_duration",),
            "BASE_TYPE_CHOICES",
            "Value must be one of {60, 1440, 4320, 10080}.",
        )
    rl = body.get("rate_limit_per_user")
    if rl is not None:
        errs.int_range(rl, ("rate_limit_per_user",), 0, 21600)
    if not from_message:
        ttype = body.get("type")
        if ttype is not None and ttype not in (10, 11, 12):
            errs.add(("type",), "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


IMAGE_DATA_RE = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,[A-Za-z0-9+/=]+$")


def validate_scheduled_event(
    body: Any,
    errs: FormErrors,
    *,
    channel_types: dict[int, int],
    existing: JSON | None = None,
    now: datetime | None = None,
) -> None:
    """POST (``existing`` None) or PATCH (merged over ``existing``) a guild scheduled event.

    ``channel_types`` maps the guild's channel ids to their types; ``now`` is the instant
    "in the past" is judged against (the test's clock; real time by default).
    """
    if not isinstance(body, dict):
        errs.add((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    create = existing is None
    ev: JSON = dict(existing or {})
    ev.update(body)
    if create:
        for key in ("name", "scheduled_start_time", "privacy_level", "entity_type"):
            if body.get(key) is None:
                errs.add((key,), "BASE_TYPE_REQUIRED", "This field is required")
    if "name" in body or create:
        errs.length(body.get("name"), ("name",), 1, 100, required=create)
    errs.length(body.get("description"), ("description",), 0, 1000)
    if ev.get("privacy_level") is not None and ev.get("privacy_level") != 2:
        errs.add(("privacy_level",), "BASE_TYPE_CHOICES", "Value must be one of {2}.")
    etype = ev.get("entity_type")
    if etype is not None and etype not in (1, 2, 3):
        errs.add(("entity_type",), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}.")
    start = parse_time(ev.get("scheduled_start_time"))
    end = parse_time(ev.get("scheduled_end_time"))
    if ev.get("scheduled_start_time") is not None and start is None:
        errs.add(
            ("scheduled_start_time",), "DATE_TYPE_PARSE", "Could not parse date. Must be ISO8601."
        )
    if ev.get("scheduled_end_time") is not None and end is None:
        errs.add(
            ("scheduled_end_time",), "DATE_TYPE_PARSE", "Could not parse date. Must be ISO8601."
        )
    now = now or datetime.now(UTC)
    if start is not None and "scheduled_start_time" in body and start < now:
        errs.add(
            ("scheduled_start_time",),
            "GUILD_SCHEDULED_EVENT_SCHEDULED_START_TIME_IN_PAST",
            "Cannot schedule event in the past.",
        )
    if start is not None and end is not None and end <= start:
        errs.add(
            ("scheduled_end_time",),
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "Cannot schedule event to end before starting.",
        )
    if etype == 3:
        meta = ev.get("entity_metadata")
        location = meta.get("location") if isinstance(meta, dict) else None
        errs.length(location, ("entity_metadata", "location"), 1, 100, required=True)
        if ev.get("scheduled_end_time") is None:
            errs.add(("scheduled_end_time",), "BASE_TYPE_REQUIRED", "This field is required")
        if ev.get("channel_id") is not None:
            errs.add(
                ("channel_id",),
                "GUILD_SCHEDULED_EVENT_CHANNEL_ID_EXTERNAL",
                "channel_id must be null for external events",
            )
    elif etype in (1, 2):
        cid = ev.get("channel_id")
        want = 13 if etype == 1 else 2
        try:
            ctype = channel_types.get(int(cid)) if cid is not None else None
        except (TypeError, ValueError):
            ctype = None
        if cid is None:
            errs.add(("channel_id",), "BASE_TYPE_REQUIRED", "This field is required")
        elif ctype != want:
            errs.add(
                ("channel_id",),
                "GUILD_SCHEDULED_EVENT_INVALID_CHANNEL",
                "Invalid channel for this entity type",
            )
    image = body.get("image")
    if image is not None and (not isinstance(image, str) or not IMAGE_DATA_RE.match(image)):
        errs.add(("image",), "IMAGE_DATA_INVALID", "Invalid image data")
    status = body.get("status")
    if status is not None and existing is not None:
        old = existing.get("status", 1)
        ok = {1: {1, 2, 4}, 2: {2, 3}}.get(old, {old})
        if status not in ok:
            errs.add(
                ("status",),
                "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
                f"Cannot change status from {old} to {status}",
            )
