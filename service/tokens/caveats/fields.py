"""Helpers the caveat kinds share: list fields, JSON field readers, the list separator.

Lists are stored as tuples so that a caveat stays hashable. Every check here
raises MalformedCaveat naming the JSON key at fault; the text parser turns
that into CaveatUnknown. For the caveat modules of this package only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from service.tokens.errors import MalformedCaveat

SEP = "|"
"""The separator of a list in a caveat's text form (Onedata's)."""

# Every request parses its token's caveats, and the generated __init__ of a
# frozen dataclass (object.__setattr__ per field, then __post_init__) costs
# more than the parsing. The parsers of the common caveats (time, namespace,
# app) check the value the way __post_init__ would, then fill the one slot
# directly; a test compares them with the constructors.
new_object = object.__new__


def as_tuple(obj: object, attr: str) -> None:
    """Store a list handed in for attribute `attr` as a tuple, so the caveat stays hashable."""
    value = getattr(obj, attr)
    if isinstance(value, list):
        object.__setattr__(obj, attr, tuple(value))


def check_list(values: tuple[object, ...], key: str) -> None:
    """MalformedCaveat naming `key` unless `values` is a non-empty tuple."""
    if not isinstance(values, tuple) or not values:
        raise MalformedCaveat(f"{key} must be a non-empty list", key)


def check_strings(
    values: tuple[str, ...], key: str, valid: Callable[[str], bool], what: str
) -> None:
    """MalformedCaveat naming `key` unless `values` is a non-empty tuple of valid strings."""
    check_list(values, key)
    for v in values:
        if not isinstance(v, str) or not valid(v):
            raise MalformedCaveat(f"invalid {what}", key)


def split_list(value: str) -> tuple[str, ...]:
    """The entries of a text-form list."""
    return tuple(value.split(SEP))


def json_field(obj: Mapping[str, object], key: str) -> object:
    """The value of a required JSON key; MalformedCaveat if it is missing."""
    if key not in obj:
        raise MalformedCaveat(f"missing {key}", key)
    return obj[key]


def json_str(obj: Mapping[str, object], key: str) -> str:
    """The value of a required JSON key that must be a string."""
    value = json_field(obj, key)
    if not isinstance(value, str):
        raise MalformedCaveat(f"{key} must be a string", key)
    return value


def json_str_list(obj: Mapping[str, object], key: str) -> tuple[str, ...]:
    """The value of a required JSON key that must be a non-empty list of strings."""
    value = json_field(obj, key)
    if not isinstance(value, list) or not value:
        raise MalformedCaveat(f"{key} must be a non-empty list", key)
    if not all(isinstance(v, str) for v in value):
        raise MalformedCaveat(f"{key} must be a list of strings", key)
    return tuple(value)
