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
    check_strings,
    join_list,
    json_field,
    json_str_list,
    split_list,
)
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
class IpCaveat(Caveat):
    """The client's IP must fall in one of the networks."""

    type_name: ClassVar[str] = "ip"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        as_tuple(self, "whitelist")
        check_strings(self.whitelist, "whitelist", _valid_ip, "IP address or network")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(split_list(value))

    def write_text(self) -> str:
        return f"ip = {join_list(self.whitelist)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(json_str_list(obj, "whitelist"))

    def write_json(self) -> dict[str, object]:
        return {"type": "ip", "whitelist": list(self.whitelist)}

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


@register
@dataclass(frozen=True, slots=True)
class GeoCountryCaveat(Caveat):
    """The client's country (ISO 3166 two-letter code) must be / must not be listed."""

    type_name: ClassVar[str] = "geo.country"
    text_ops: ClassVar[tuple[str, ...]] = ("=", "!=")
    json_keys: ClassVar[frozenset[str]] = frozenset({"filter", "list"})
    filter: FilterType
    countries: tuple[str, ...]

    def __post_init__(self) -> None:
        as_tuple(self, "countries")
        if self.filter not in ("whitelist", "blacklist"):
            raise MalformedCaveat("filter must be whitelist or blacklist", "filter")
        check_strings(
            self.countries, "list", lambda c: _COUNTRY.fullmatch(c) is not None, "country code"
        )

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_filter_for_op(op), split_list(value))

    def write_text(self) -> str:
        return f"geo.country {_op_for_filter(self.filter)} {join_list(self.countries)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_json_filter(obj), json_str_list(obj, "list"))

    def write_json(self) -> dict[str, object]:
        return {"type": "geo.country", "filter": self.filter, "list": list(self.countries)}

    def check(self, ctx: Context) -> bool:
        if ctx.country is None:
            return False
        return _passes_filter(self.filter, self.countries, {ctx.country})


@register
@dataclass(frozen=True, slots=True)
class GeoRegionCaveat(Caveat):
    """The client's region (continent or EU) must be / must not be listed."""

    type_name: ClassVar[str] = "geo.region"
    text_ops: ClassVar[tuple[str, ...]] = ("=", "!=")
    json_keys: ClassVar[frozenset[str]] = frozenset({"filter", "list"})
    filter: FilterType
    regions: tuple[str, ...]

    def __post_init__(self) -> None:
        as_tuple(self, "regions")
        if self.filter not in ("whitelist", "blacklist"):
            raise MalformedCaveat("filter must be whitelist or blacklist", "filter")
        check_strings(self.regions, "list", REGIONS.__contains__, "region")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_filter_for_op(op), split_list(value))

    def write_text(self) -> str:
        return f"geo.region {_op_for_filter(self.filter)} {join_list(self.regions)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_json_filter(obj), json_str_list(obj, "list"))

    def write_json(self) -> dict[str, object]:
        return {"type": "geo.region", "filter": self.filter, "list": list(self.regions)}

    def check(self, ctx: Context) -> bool:
        if ctx.region is None:
            return False
        regions = {ctx.region, "EU"} if ctx.in_eu else {ctx.region}
        return _passes_filter(self.filter, self.regions, regions)
