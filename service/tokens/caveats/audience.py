"""Caveats on who uses a token and how: ``service``, ``consumer``, ``interface``.

``service`` lists the Onedata services that may use the token
(``opw-<id>``, ``ozw-onezone``, ``opp-*``), ``consumer`` the subjects that
may present it (``usr-<id>``, ``prv-*``...), ``interface`` the one interface
it is accepted on. Each is judged against the request's `Context`; an
unknown fact fails closed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Self, TypeAlias

from service.tokens.caveats.fields import json_str
from service.tokens.caveats.lists import ListCaveat
from service.tokens.caveats.registry import Caveat, register
from service.tokens.errors import MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = [
    "INTERFACES",
    "SERVICE_TYPES",
    "ConsumerCaveat",
    "InterfaceCaveat",
    "InterfaceName",
    "ServiceCaveat",
]

InterfaceName: TypeAlias = Literal["rest", "oneclient", "graphsync"]
INTERFACES: frozenset[str] = frozenset({"rest", "oneclient", "graphsync"})
# Service short names of Onedata (ctool onedata:service_shortname/1).
SERVICE_TYPES: frozenset[str] = frozenset({"ozw", "opw", "ozp", "opp"})

_ENTRY_ID = r"(?:\*|[A-Za-z0-9_.\-]{1,256})"
_SERVICE_ENTRY = re.compile("(?:" + "|".join(sorted(SERVICE_TYPES)) + ")-" + _ENTRY_ID)
_CONSUMER_ENTRY = re.compile(r"(?:usr|grp|prv)-" + _ENTRY_ID)


def _matches_subject(whitelist: tuple[str, ...], actual: str) -> bool:
    kind = actual[:4]
    for entry in whitelist:
        if entry == actual or (entry[4:] == "*" and entry[:4] == kind):
            return True
    return False


@register
@dataclass(frozen=True, slots=True)
class ServiceCaveat(ListCaveat):
    """The service using the token (``opw-<id>``, ``ozw-onezone``, ``opp-*``...) must be listed."""

    type_name: ClassVar[str] = "service"
    valid_item = staticmethod(lambda s: _SERVICE_ENTRY.fullmatch(s) is not None)
    item_label: ClassVar[str] = "service"
    whitelist: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        return ctx.service is not None and _matches_subject(self.whitelist, ctx.service)


@register
@dataclass(frozen=True, slots=True)
class ConsumerCaveat(ListCaveat):
    """The token's consumer (``usr-<id>``, ``grp-<id>``, ``prv-<id>``, ``usr-*``...) must be listed."""

    type_name: ClassVar[str] = "consumer"
    valid_item = staticmethod(lambda s: _CONSUMER_ENTRY.fullmatch(s) is not None)
    item_label: ClassVar[str] = "consumer"
    whitelist: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        # Group entries (grp-...) need a membership lookup this core cannot
        # make, so they never match here.
        if ctx.consumer is None or ctx.consumer.startswith("grp-"):
            return False
        return _matches_subject(self.whitelist, ctx.consumer)


_INTERFACE_NAMES: dict[str, InterfaceName] = {
    "rest": "rest",
    "oneclient": "oneclient",
    "graphsync": "graphsync",
}


@register
@dataclass(frozen=True, slots=True)
class InterfaceCaveat(Caveat):
    """The token is accepted only on one interface."""

    type_name: ClassVar[str] = "interface"
    json_keys: ClassVar[frozenset[str]] = frozenset({"interface"})
    interface: InterfaceName

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise MalformedCaveat("interface must be rest, oneclient or graphsync", "interface")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_INTERFACE_NAMES[value])

    def write_text(self) -> str:
        return f"interface = {self.interface}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        value = json_str(obj, "interface")
        if value not in _INTERFACE_NAMES:
            raise MalformedCaveat("interface must be rest, oneclient or graphsync", "interface")
        return cls(_INTERFACE_NAMES[value])

    def write_json(self) -> dict[str, object]:
        return {"type": "interface", "interface": self.interface}

    def check(self, ctx: Context) -> bool:
        return ctx.interface == self.interface
