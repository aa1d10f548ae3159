"""The caveat base class, the registry of caveat kinds, and the functions that use it.

A caveat kind is one subclass of `Caveat` carrying its text form, JSON form,
parser and check, added once with ``@register``. The text parsers, the JSON
key sets and (in the verifier) the check table are built from the registry,
so adding a kind is writing one class. ``parse_text`` refuses what it cannot
read with CaveatUnknown; ``from_json`` refuses client input with
MalformedCaveat naming the key at fault.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Self, TypeAlias, TypeVar

from service.tokens.caveats.fields import SEP
from service.tokens.errors import CaveatUnknown, MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = [
    "AnyCaveat",
    "Caveat",
    "caveat_types",
    "from_json",
    "from_json_list",
    "parse_text",
    "register",
    "to_json",
    "to_text",
]


class Caveat:
    """A first-party caveat kind: its text form, JSON form and check, in one class.

    Subclasses are frozen, slotted dataclasses whose constructor validates the
    fields, so that whatever exists can be written and read back.
    """

    # Not an abc.ABC: isinstance() against an ABCMeta class that does not
    # match runs ABCMeta.__instancecheck__, and the verifier asks
    # isinstance(caveat, TimeCaveat) of every caveat of every request.
    # `register` checks instead that a class implements every method.
    __slots__ = ()

    # The caveat's name: the key of its text form and the "type" of its JSON form.
    type_name: ClassVar[str]
    # Operators of the text form ``<type_name> <op> <value>``; empty for a
    # caveat whose text form is the bare name (data.readonly).
    text_ops: ClassVar[tuple[str, ...]] = ("=",)
    # The keys its JSON form may carry besides "type".
    json_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        """Parse the text form's value (``op`` is one of ``text_ops``); raise ValueError if invalid."""
        raise NotImplementedError

    def write_text(self) -> str:
        """The caveat's text form, as it goes into a token."""
        raise NotImplementedError

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        """Build the caveat from its JSON form (keys already checked); MalformedCaveat if invalid."""
        raise NotImplementedError

    def write_json(self) -> dict[str, object]:
        """The caveat's REST JSON form."""
        raise NotImplementedError

    def check(self, ctx: Context) -> bool:
        """Whether the request described by ``ctx`` satisfies the caveat; False when unknown."""
        raise NotImplementedError


_INTERFACE_METHODS = ("read_text", "write_text", "read_json", "write_json", "check")


# Every parsed caveat is a Caveat; the name stays for the callers that use it.
AnyCaveat: TypeAlias = Caveat

_CaveatClass = TypeVar("_CaveatClass", bound=type[Caveat])
_REGISTRY: dict[str, type[Caveat]] = {}
_TEXT_PARSERS: dict[tuple[str, str], Callable[[str, str], Caveat]] = {}
_BARE_PARSERS: dict[str, Callable[[str, str], Caveat]] = {}
_JSON_KEYS: dict[str, frozenset[str]] = {}


def register(cls: _CaveatClass) -> _CaveatClass:
    """Add a caveat class to the registry its text and JSON parsers and checks are found in."""
    name = getattr(cls, "type_name", "")
    own = [vars(k) for k in cls.__mro__ if k is not Caveat and k is not object]
    missing = [m for m in _INTERFACE_METHODS if not any(m in d for d in own)]
    if missing:
        raise TypeError(f"{cls.__name__} does not implement {', '.join(missing)}")
    if name in _REGISTRY or name in _BARE_PARSERS:
        raise ValueError(f"caveat type {name!r} is already registered")
    if " " in name or SEP in name or not name:
        raise ValueError(f"bad caveat type name {name!r}")
    _REGISTRY[name] = cls
    _JSON_KEYS[name] = cls.json_keys | {"type"}
    if cls.text_ops:
        for op in cls.text_ops:
            _TEXT_PARSERS[(name, op)] = cls.read_text
    else:
        _BARE_PARSERS[name] = cls.read_text
    return cls


def caveat_types() -> tuple[type[Caveat], ...]:
    """Every registered caveat class, in registration order."""
    return tuple(_REGISTRY.values())


def parse_text(text: str) -> AnyCaveat:
    """Parse a caveat's text form; CaveatUnknown if it is unknown or invalid."""
    parts = text.split(" ", 2)
    if len(parts) == 3:
        key, op, value = parts
        parser = _TEXT_PARSERS.get((key, op))
        if parser is not None and value:
            try:
                return parser(op, value)
            except (MalformedCaveat, KeyError, ValueError, UnicodeError, binascii.Error):
                raise CaveatUnknown(text, "invalid caveat") from None
    bare = _BARE_PARSERS.get(text)
    if bare is not None:
        return bare("", "")
    raise CaveatUnknown(text)


def to_text(c: AnyCaveat) -> str:
    """Return the caveat's text form, as it goes into a token."""
    if not isinstance(c, Caveat):
        raise TypeError(f"not a caveat: {type(c).__name__}")
    return c.write_text()


def from_json(obj: object) -> AnyCaveat:
    """Build a caveat from its REST JSON form; MalformedCaveat names the bad key."""
    if not isinstance(obj, dict):
        raise MalformedCaveat("a caveat must be a JSON object", "caveats")
    ctype = obj.get("type")
    if not isinstance(ctype, str) or ctype not in _REGISTRY:
        raise MalformedCaveat("unknown caveat type", "type")
    allowed = _JSON_KEYS[ctype]
    for key in obj:
        if key not in allowed:
            raise MalformedCaveat(f"unexpected key {str(key)[:64]!r}", str(key))
    return _REGISTRY[ctype].read_json(obj)


def from_json_list(obj: object) -> tuple[AnyCaveat, ...]:
    """Build caveats from a JSON list; MalformedCaveat names the bad key."""
    if not isinstance(obj, list):
        raise MalformedCaveat("caveats must be a list", "caveats")
    return tuple(from_json(item) for item in obj)


def to_json(c: AnyCaveat) -> dict[str, object]:
    """Return the caveat's REST JSON form."""
    if not isinstance(c, Caveat):
        raise TypeError(f"not a caveat: {type(c).__name__}")
    return c.write_json()
