"""Caveats on where the client is: ``ip``, ``asn``, ``geo.country``, ``geo.region``.

Each is judged against what the request's `Context` says about its peer
(address, autonomous system, country, region); a caveat whose fact is
unknown fails closed. The geo caveats are a whitelist (``=``) or a
blacklist (``!=``) in their text form, ``filter`` in their JSON form.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, Literal, Self, TypeAlias

from service.tokens.caveats.fields import (
    SEP,
    as_tuple,
    check_list,
    json_field,
    json_str_list,
    split_list,
)
from service.tokens.caveats.lists import ListCaveat
from service.tokens.caveats.registry import Caveat, register
from service.tokens.errors import MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = [
    "REGIONS",
    "AsnCaveat",
    "FilterType",
    "GeoCountryCaveat",
    "GeoRegionCaveat",
    "IpCaveat",
]

FilterType: TypeAlias = Literal["whitelist", "blacklist"]
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

REGIONS: frozenset[str] = frozenset(
    {"Africa", "Antarctica", "Asia", "Europe", "EU", "NorthAmerica", "Oceania", "SouthAmerica"}
)

_MAX_ASN = 2**32 - 1
_DECIMAL = re.compile(r"[0-9]{1,19}")
_IP_ENTRY = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:/[0-9]{1,3})?")
_COUNTRY = re.compile(r"[A-Z]{2}")


def _valid_ip(entry: str) -> bool:
    if _IP_ENTRY.fullmatch(entry) is None:
        return False
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _json_filter(obj: Mapping[str, object]) -> FilterType:
    value = json_field(obj, "filter")
    if value == "whitelist":
        return "whitelist"
    if value == "blacklist":
        return "blacklist"
    raise MalformedCaveat("filter must be whitelist or blacklist", "filter")


def _op_for_filter(filter_type: FilterType) -> str:
    return "=" if filter_type == "whitelist" else "!="


def _filter_for_op(op: str) -> FilterType:
    return "whitelist" if op == "=" else "blacklist"


def _passes_filter(filter_type: str, values: tuple[str, ...], actual: set[str]) -> bool:
    hit = any(v in actual for v in values)
    return hit if filter_type == "whitelist" else not hit


@lru_cache(maxsize=1024)
def _networks(whitelist: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in whitelist)


@lru_cache(maxsize=1024)
def _peer_address(text: str) -> IPAddress | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@register
@dataclass(frozen=True, slots=True)
class IpCaveat(ListCaveat):
    """The client's IP must fall in one of the networks."""

    type_name: ClassVar[str] = "ip"
    valid_item = staticmethod(_valid_ip)
    item_label: ClassVar[str] = "IP address or network"
    whitelist: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        if ctx.peer_ip is None:
            return False
        addr = _peer_address(ctx.peer_ip)
        if addr is None:
            return False
        return any(net.version == addr.version and addr in net for net in _networks(self.whitelist))


@register
@dataclass(frozen=True, slots=True)
class AsnCaveat(Caveat):
    """The client's autonomous system number must be listed."""

    type_name: ClassVar[str] = "asn"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[int, ...]

    def __post_init__(self) -> None:
        as_tuple(self, "whitelist")
        check_list(self.whitelist, "whitelist")
        for v in self.whitelist:
            if type(v) is not int or not 0 <= v <= _MAX_ASN:
                raise MalformedCaveat("invalid ASN", "whitelist")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        entries = split_list(value)
        if not all(_DECIMAL.fullmatch(e) for e in entries):
            raise ValueError("bad asn")
        return cls(tuple(int(e) for e in entries))

    def write_text(self) -> str:
        return "asn = " + SEP.join(str(a) for a in self.whitelist)

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        value = json_field(obj, "whitelist")
        if not isinstance(value, list) or not value:
            raise MalformedCaveat("whitelist must be a non-empty list", "whitelist")
        if not all(type(v) is int for v in value):
            raise MalformedCaveat("whitelist must be a list of integers", "whitelist")
        return cls(tuple(value))

    def write_json(self) -> dict[str, object]:
        return {"type": "asn", "whitelist": list(self.whitelist)}

    def check(self, ctx: Context) -> bool:
        return ctx.asn is not None and ctx.asn in self.whitelist


class _GeoCaveat(ListCaveat):
    """A geo kind: a whitelist (``=``) or blacklist (``!=``) of places, ``filter`` in JSON."""

    __slots__ = ()

    text_ops: ClassVar[tuple[str, ...]] = ("=", "!=")
    list_key: ClassVar[str] = "list"
    json_keys: ClassVar[frozenset[str]] = frozenset({"filter", "list"})
    filter: FilterType

    if TYPE_CHECKING:

        def __init__(self, filter: FilterType, items: tuple[str, ...], /) -> None: ...

    def __post_init__(self) -> None:
        if self.filter not in ("whitelist", "blacklist"):
            raise MalformedCaveat("filter must be whitelist or blacklist", "filter")
        ListCaveat.__post_init__(self)

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_filter_for_op(op), split_list(value))

    def write_text(self) -> str:
        op = _op_for_filter(self.filter)
        return f"{self.type_name} {op} {SEP.join(self.items)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_json_filter(obj), json_str_list(obj, "list"))

    def write_json(self) -> dict[str, object]:
        items = list(self.items)
        return {"type": self.type_name, "filter": self.filter, "list": items}


@register
@dataclass(frozen=True, slots=True)
class GeoCountryCaveat(_GeoCaveat):
    """The client's country (ISO 3166 two-letter code) must be / must not be listed."""

    type_name: ClassVar[str] = "geo.country"
    list_attr: ClassVar[str] = "countries"
    valid_item = staticmethod(lambda c: _COUNTRY.fullmatch(c) is not None)
    item_label: ClassVar[str] = "country code"
    filter: FilterType
    countries: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        if ctx.country is None:
            return False
        return _passes_filter(self.filter, self.countries, {ctx.country})


@register
@dataclass(frozen=True, slots=True)
class GeoRegionCaveat(_GeoCaveat):
    """The client's region (continent or EU) must be / must not be listed."""

    type_name: ClassVar[str] = "geo.region"
    list_attr: ClassVar[str] = "regions"
    valid_item = staticmethod(REGIONS.__contains__)
    item_label: ClassVar[str] = "region"
    filter: FilterType
    regions: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        if ctx.region is None:
            return False
        regions = {ctx.region, "EU"} if ctx.in_eu else {ctx.region}
        return _passes_filter(self.filter, self.regions, regions)
