"""What a bad value should have been, in the words of a person rather than of msgspec.

msgspec stops at the first bad field and says what it expected in its own terms ("Expected
`int` <= 5", a regex). People fixing a form need every bad field at once, each with what it
takes: "mood: must be a whole number from 1 to 5", "weekday: must be one of monday, ...".
The requirement is read from the type itself (msgspec.inspect), so a new field or a new
allowed value is worded without anyone touching this module; only a new regex needs a
meaning here (tests/attack/test_error_wording.py fails until it has one)."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import msgspec
import msgspec.inspect as mi

# The most errors one answer lists: enough for any form, short for a body of 10,000 bad items.
MAX_ERRORS = 50

# Every regex a request field or parameter uses, with what it asks of a person.
PATTERN_MEANINGS = {
    r"\S": "must not be blank",
    r"^\S+$": "must not be blank nor hold spaces",
    r"^(?![\s\S]*[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff])[\s\S]*\S": (
        "must not be blank, nor hold line breaks, tabs or invisible formatting characters"
    ),
    r"^(?![\s\S]*[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff])[\s\S]*\S": (
        "must not be blank, nor hold control or invisible formatting characters (line breaks are fine)"
    ),
    r"^[0-9+()\-. ]+$": "may hold only digits, spaces and + ( ) - .",
    r"^[^@\s]+@[^@\s]+$": "is not an email address",
    r"^([01][0-9]|2[0-3]):[0-5][0-9]$": "must be a time of day like 18:30 (24-hour)",
    r"^https?://\S+$": "must be a web address starting with https:// or http://",
    r"^[A-Za-z0-9][A-Za-z0-9_-]*$": "may hold only letters, digits, - and _, and must start with a letter or digit",
    r"^[0-9]{6}$": "must be a 6-digit code",
}

_AT = re.compile(r" - at `\$([^`]*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
_OWN_RULE = re.compile(r"^([\w.\[\]]+): (.+)$", re.S)  # our __post_init__ checks: "field: message"


def bad_fields(value: Any, kind: Any, at: str = "") -> list[tuple[str, str]]:
    """Every bad field of `value` decoded as `kind`, as (field, message), [] if it decodes.
    Decodes as Litestar does (strict=False), so nothing it accepts is reported."""
    try:
        msgspec.convert(value, kind, strict=False)
        return []
    except msgspec.ValidationError as exc:
        error = str(exc)
    info = _unwrap(mi.type_info(kind))
    fields = _struct_fields(kind) if isinstance(info, mi.StructType) and isinstance(value, dict) else None
    found: list[tuple[str, str]] = []
    if fields is not None:
        assert isinstance(info, mi.StructType)  # fields are only read for a struct (above)
        for name, (field_kind, required) in fields.items():
            if name in value:
                found += bad_fields(value[name], field_kind, _join(at, name))
            elif required:
                found.append((_join(at, name), "is required"))
        if info.forbid_unknown_fields:
            found += [(_join(at, _sent_name(k)), "is not a field of this request") for k in value if k not in fields]
    elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType)) and isinstance(value, list):
        if (problem := _count(info, len(value))) is not None:
            found.append((at or "body", problem))
        for i, item in enumerate(value[:MAX_ERRORS]):
            found += bad_fields(item, _item_kind(kind), f"{at}[{i}]")
    elif isinstance(info, mi.DictType) and isinstance(value, dict):
        key_kind, value_kind = typing.get_args(_bare(kind))
        if any(bad_fields(k, key_kind) for k in value):
            # Named by what it may hold: a key sent is not repeated (it could be anything).
            keys = describe(mi.type_info(key_kind), _declared(key_kind)).replace("must be one of", "may only name", 1)
            found.append((at or "body", keys))
        for k, item in list(value.items())[:MAX_ERRORS]:
            if not bad_fields(k, key_kind):
                found += bad_fields(item, value_kind, _join(at, str(k)))
    return (found or [_one(error, info, at, kind)])[:MAX_ERRORS]


def reword(kind: Any, message: str) -> str:
    """A msgspec message about a value of `kind` (a query or path parameter), reworded."""
    info = _unwrap(mi.type_info(kind))
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType)) and "`array`" not in message:
        info = _unwrap(info.item_type)  # not the list, so one of the repeated values is wrong
    return _requirement(info, _AT.sub("", message), kind)


def plain(message: str) -> str:
    """A msgspec message with no type at hand (the CLI), without regexes or type names."""
    message = _AT.sub("", message)
    if _MISSING.search(message):
        return "is required"
    for pattern, meaning in PATTERN_MEANINGS.items():
        if f"matching regex {pattern!r}" in message:
            return meaning
    if "of length >=" in message:
        return _too_short(message)
    if "of length <=" in message:
        return f"must be at most {_bound(message)} characters long"
    return "is not valid"


def named_in(message: str) -> tuple[str, str]:
    """(field, message) from a msgspec message alone, when the value is not at hand."""
    return _one(message, mi.AnyType(), "", None)


def _one(error: str, info: mi.Type, at: str, kind: Any) -> tuple[str, str]:
    """The one error msgspec gave for a value that has no fields to look into."""
    inner = _AT.search(error)
    path = inner.group(1).lstrip(".") if inner else ""
    message = _AT.sub("", error)
    if own := _OWN_RULE.match(message):  # a __post_init__ rule, already in people's words
        return _join(_join(at, path), own.group(1)), own.group(2)
    if missing := _MISSING.search(message):
        return _join(_join(at, path), missing.group(1)), "is required"
    if unknown := _UNKNOWN.search(message):
        return _join(_join(at, path), unknown.group(1)), "is not a field of this request"
    if path:  # deeper than the types we walk (a dict's value): say what the outer value takes
        return _join(at, path), "is not valid"
    return at or "body", _requirement(info, message, kind)


def _requirement(info: mi.Type, message: str, kind: Any = None) -> str:
    if isinstance(info, mi.StrType):
        if "matching regex" in message:
            return PATTERN_MEANINGS.get(info.pattern or "", "is not in the expected form")
        if "of length >=" in message:
            return _too_short(message)
        if "of length <=" in message:
            return f"must be at most {info.max_length} characters long"
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType)) and "of length" in message:
        return _count(info, -1 if "of length >=" in message else 10**9) or "is not valid"
    return describe(info, _declared(kind))


def describe(info: mi.Type, order: tuple[Any, ...] = ()) -> str:
    """What a value of this type must be, as a person would say it; allowed values in `order`
    (as declared: monday before tuesday) where msgspec's own order is alphabetical."""
    info = _unwrap(info)
    if isinstance(info, mi.BoolType):
        return "must be true or false"
    if isinstance(info, mi.IntType):
        return "must be a whole number" + _range(info, whole=True)
    if isinstance(info, mi.FloatType):
        return "must be a number" + _range(info, whole=False)
    if isinstance(info, mi.StrType):
        return "must be text"
    if isinstance(info, mi.DateTimeType):
        return "must be a date-time like 2026-03-01T09:00:00-06:00"
    if isinstance(info, mi.DateType):
        return "must be a date like 2026-03-01"
    if isinstance(info, mi.TimeType):
        return "must be a time like 09:00"
    if isinstance(info, mi.UUIDType):
        return "must be an id like 9b2f0c1e-5d4a-4c3b-8e2f-1a2b3c4d5e6f"
    if isinstance(info, mi.LiteralType):
        ranked = sorted(info.values, key=lambda v: order.index(v) if v in order else len(order))
        return "must be one of " + ", ".join(str(v) for v in ranked)
    if isinstance(info, mi.EnumType):
        return "must be one of " + ", ".join(str(m.value) for m in info.cls)
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType)):
        return "must be a list"
    if isinstance(info, (mi.StructType, mi.DictType, mi.TypedDictType, mi.DataclassType)):
        return "must be an object"
    if isinstance(info, mi.UnionType):
        choices = [describe(t, order).removeprefix("must be ") for t in info.types if not _nothing(_unwrap(t))]
        return "must be " + " or ".join(choices)
    return "is not valid"


def _range(info: mi.IntType | mi.FloatType, *, whole: bool) -> str:
    low = info.ge if info.ge is not None else (info.gt + 1 if whole and info.gt is not None else None)
    high = info.le if info.le is not None else (info.lt - 1 if whole and info.lt is not None else None)
    low_words = f"at least {low}" if low is not None else f"more than {info.gt}" if info.gt is not None else None
    high_words = f"at most {high}" if high is not None else f"less than {info.lt}" if info.lt is not None else None
    if low is not None and high is not None:
        return f" from {low} to {high}"
    return " " + " and ".join(w for w in (low_words, high_words) if w) if (low_words or high_words) else ""


def _count(info: Any, length: int) -> str | None:
    low, high = info.min_length, info.max_length
    if (low is None or length >= low) and (high is None or length <= high):
        return None
    if low is not None and high is not None:
        return f"must hold {low} to {high} items"
    return f"must hold at least {low} items" if low is not None else f"must hold at most {high} items"


def _too_short(message: str) -> str:
    low = _bound(message)
    return "must not be empty" if low == "1" else f"must be at least {low} characters long"


def _bound(message: str) -> str:
    found = re.search(r"of length [<>]= (\d+)", message)
    return found.group(1) if found else "?"


def _unwrap(info: mi.Type) -> mi.Type:
    """`X | None` as X (null is never what a bad value is told to be), without descriptions."""
    while True:
        if isinstance(info, mi.Metadata):
            info = info.type
        elif isinstance(info, mi.UnionType) and len(rest := [t for t in info.types if not _nothing(t)]) == 1:
            info = rest[0]
        else:
            return info


def _nothing(info: mi.Type) -> bool:
    return isinstance(info, mi.NoneType)  # msgspec.inspect leaves UNSET out already


def _struct_fields(kind: Any) -> dict[str, tuple[Any, bool]]:
    cls = _bare(kind)
    return {f.encode_name: (_without_unset(f.type), f.required) for f in msgspec.structs.fields(cls)}


def _bare(kind: Any) -> Any:
    """The Struct class inside `Annotated[...]` and `... | None`."""
    while True:
        origin = typing.get_origin(kind)
        if origin is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif origin in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a not in (type(None), msgspec.UnsetType))
        else:
            return kind


def _item_kind(kind: Any) -> Any:
    return typing.get_args(_bare(kind))[0]


def _without_unset(kind: Any) -> Any:
    """msgspec.convert takes UNSET only inside a Struct; outside, a field left out is not checked."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = tuple(a for a in typing.get_args(kind) if a is not msgspec.UnsetType)
        return typing.Union[args] if len(args) > 1 else args[0]  # noqa: UP007 (built at run time)
    return kind


def _declared(kind: Any) -> tuple[Any, ...]:
    """The values of every Literal in `kind`, in the order they were written."""
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)
    return tuple(v for arg in typing.get_args(kind) for v in _declared(arg))


def _sent_name(name: object) -> str:
    """A field name the client made up, as named back: cut short, since it could be anything."""
    text = str(name)
    return text if len(text) <= 40 else text[:40] + "…"


def _join(at: str, name: str) -> str:
    if not name:
        return at
    if not at:
        return name
    return f"{at}{name}" if name.startswith("[") else f"{at}.{name}"
