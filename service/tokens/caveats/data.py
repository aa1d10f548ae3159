"""Caveats on data access: ``data.readonly``, ``data.path``, ``data.objectid``.

Tokens carrying any of them are data-access tokens. ``data.readonly`` is
judged here from the request's method (only safe methods pass); paths and
object ids name things in a data space, which only the data service can
judge: with ``Context.defer_data_caveats`` all three are left to it,
without it ``data.path`` and ``data.objectid`` fail closed. ``data.path``
entries are absolute paths, written as standard base64 in both forms, as
Onezone writes them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

from service.tokens.caveats.fields import SEP, json_str_list, split_list
from service.tokens.caveats.lists import ListCaveat
from service.tokens.caveats.registry import Caveat, register
from service.tokens.errors import MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = ["SAFE_METHODS", "DataObjectIdCaveat", "DataPathCaveat", "DataReadonlyCaveat"]

# Methods that only read (RFC 9110 §9.2.1), for data.readonly.
SAFE_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})

_OBJECTID = re.compile(r"[A-Za-z0-9]{1,1024}")


def _valid_path(path: str) -> bool:
    return path.startswith("/") and "\x00" not in path


def _b64_path(path: str) -> str:
    return base64.b64encode(path.encode("utf-8")).decode("ascii")


def _unb64_path(entry: str) -> str:
    # Strict standard base64, as Erlang's base64:encode/1 writes it.
    raw = base64.b64decode(entry.encode("ascii"), validate=True)
    if base64.b64encode(raw).decode("ascii") != entry:
        raise ValueError("non-canonical base64")
    return raw.decode("utf-8")


@register
@dataclass(frozen=True, slots=True)
class DataReadonlyCaveat(Caveat):
    """Data may only be read."""

    type_name: ClassVar[str] = "data.readonly"
    text_ops: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls()

    def write_text(self) -> str:
        return "data.readonly"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls()

    def write_json(self) -> dict[str, object]:
        return {"type": "data.readonly"}

    def check(self, ctx: Context) -> bool:
        if ctx.defer_data_caveats:
            return True
        return ctx.method is not None and ctx.method.upper() in SAFE_METHODS


@register
@dataclass(frozen=True, slots=True)
class DataPathCaveat(ListCaveat):
    """Data may only be accessed under the listed absolute paths (plain, not base64)."""

    type_name: ClassVar[str] = "data.path"
    valid_item = staticmethod(_valid_path)
    item_label: ClassVar[str] = "path"
    whitelist: tuple[str, ...]

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(tuple(_unb64_path(e) for e in split_list(value)))

    def write_text(self) -> str:
        return "data.path = " + SEP.join(_b64_path(p) for p in self.whitelist)

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        paths: list[str] = []
        for entry in json_str_list(obj, "whitelist"):
            try:
                paths.append(_unb64_path(entry))
            except (ValueError, UnicodeError, binascii.Error):
                raise MalformedCaveat(
                    "whitelist entries must be base64-encoded paths", "whitelist"
                ) from None
        return cls(tuple(paths))

    def write_json(self) -> dict[str, object]:
        return {"type": "data.path", "whitelist": [_b64_path(p) for p in self.whitelist]}

    def check(self, ctx: Context) -> bool:
        # Paths in the data space can only be judged by the data service.
        return ctx.defer_data_caveats


@register
@dataclass(frozen=True, slots=True)
class DataObjectIdCaveat(ListCaveat):
    """Data may only be accessed under the listed CDMI object ids."""

    type_name: ClassVar[str] = "data.objectid"
    valid_item = staticmethod(lambda s: _OBJECTID.fullmatch(s) is not None)
    item_label: ClassVar[str] = "object id"
    whitelist: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        # Object ids can only be judged by the data service.
        return ctx.defer_data_caveats
