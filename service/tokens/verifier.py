"""Checking a macaroon's signature and caveats against a request's context.

Every caveat must be understood and satisfied: an unknown caveat, a
third-party caveat, or a caveat whose context is missing fails closed. The
clock is injected through ``Context.now``; nothing here reads it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from service.tokens.caveats import (
    AnyCaveat,
    ApiCaveat,
    AppCaveat,
    AsnCaveat,
    ConsumerCaveat,
    DataObjectIdCaveat,
    DataPathCaveat,
    DataReadonlyCaveat,
    GeoCountryCaveat,
    GeoRegionCaveat,
    GriPattern,
    InterfaceCaveat,
    IpCaveat,
    NamespaceCaveat,
    ServiceCaveat,
    TimeCaveat,
    parse_gri,
    parse_text,
)
from service.tokens.errors import CaveatUnknown, CaveatUnverified, InvalidSignature, TokenExpired
from service.tokens.macaroon import Macaroon

__all__ = ["DEFAULT_CHECKERS", "Checker", "Context", "Verified", "Verifier"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPERATION_BY_METHOD = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}


@dataclass(slots=True)
class Context:
    """What is known about the request a token is presented with.

    Treated as a value and never changed after it is built; not frozen only
    because it is built for every request and a frozen dataclass's __init__
    costs three times as much.
    """

    now: int  # unix seconds
    peer_ip: str | None = None
    service: str | None = None  # e.g. "opw-<id>" / "ozw-onezone"
    consumer: str | None = None  # e.g. "usr-<id>"
    interface: str | None = None  # rest | oneclient | graphsync
    method: str | None = None  # HTTP method of the request being authorised
    path: str | None = None
    api_operation: str | None = None  # create|get|update|delete; from method when None
    api_gri: str | None = None  # GRI of the resource, for api caveats
    asn: int | None = None
    country: str | None = None
    region: str | None = None
    namespace: str | None = None  # F5
    app: str | None = None  # F5
    # True: data.* caveats are left to the data service (accepted); False:
    # data.readonly needs a safe method and data.path/objectid fail closed.
    defer_data_caveats: bool = False
    # True: api caveats are left to each operation (Onezone's verify_* routes
    # accept them and the consuming service checks them per call).
    defer_api_caveats: bool = False
    # The peer's country is in the EU, which Onedata treats as a region too.
    in_eu: bool = False
    # Short name of the service the API call is made to (ozw, opw, ozp, opp);
    # when None it is taken from the prefix of ``service``.
    api_service: str | None = None
    # When set, the token's location must equal it: the signature does not
    # cover the location, so this is the only thing that pins it.
    location: str | None = None


Checker = Callable[[AnyCaveat, Context], bool]


@dataclass(frozen=True, slots=True)
class Verified:
    """The outcome of a successful verification."""

    caveats: tuple[AnyCaveat, ...]
    valid_until: int | None  # earliest time caveat, if any

    def ttl(self, now: int) -> int | None:
        """Seconds left before the earliest time caveat, or None if unlimited."""
        if self.valid_until is None:
            return None
        return max(0, self.valid_until - now)


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


@lru_cache(maxsize=1024)
def _gri(text: str, pattern: bool) -> GriPattern | None:
    return parse_gri(text, pattern)


def _check_time(c: AnyCaveat, ctx: Context) -> bool:
    return isinstance(c, TimeCaveat) and ctx.now < c.valid_until


def _check_ip(c: AnyCaveat, ctx: Context) -> bool:
    if not isinstance(c, IpCaveat) or ctx.peer_ip is None:
        return False
    addr = _peer_address(ctx.peer_ip)
    if addr is None:
        return False
    return any(net.version == addr.version and addr in net for net in _networks(c.whitelist))


def _check_asn(c: AnyCaveat, ctx: Context) -> bool:
    return isinstance(c, AsnCaveat) and ctx.asn is not None and ctx.asn in c.whitelist


def _listed(filter_type: str, values: tuple[str, ...], actual: set[str]) -> bool:
    hit = any(v in actual for v in values)
    return hit if filter_type == "whitelist" else not hit


def _check_country(c: AnyCaveat, ctx: Context) -> bool:
    if not isinstance(c, GeoCountryCaveat) or ctx.country is None:
        return False
    return _listed(c.filter, c.countries, {ctx.country})


def _check_region(c: AnyCaveat, ctx: Context) -> bool:
    if not isinstance(c, GeoRegionCaveat) or ctx.region is None:
        return False
    regions = {ctx.region, "EU"} if ctx.in_eu else {ctx.region}
    return _listed(c.filter, c.regions, regions)


def _matches_subject(whitelist: tuple[str, ...], actual: str) -> bool:
    kind = actual[:4]
    for entry in whitelist:
        if entry == actual or (entry[4:] == "*" and entry[:4] == kind):
            return True
    return False


def _check_service(c: AnyCaveat, ctx: Context) -> bool:
    if not isinstance(c, ServiceCaveat) or ctx.service is None:
        return False
    return _matches_subject(c.whitelist, ctx.service)


def _check_consumer(c: AnyCaveat, ctx: Context) -> bool:
    # Group entries (grp-...) need a membership lookup this core cannot make,
    # so they never match here.
    if not isinstance(c, ConsumerCaveat) or ctx.consumer is None:
        return False
    if ctx.consumer.startswith("grp-"):
        return False
    return _matches_subject(c.whitelist, ctx.consumer)


def _check_interface(c: AnyCaveat, ctx: Context) -> bool:
    return isinstance(c, InterfaceCaveat) and ctx.interface == c.interface


def _api_service(ctx: Context) -> str | None:
    if ctx.api_service is not None:
        return ctx.api_service
    if ctx.service is not None and ctx.service[3:4] == "-":
        return ctx.service[:3]
    return None


def _check_api(c: AnyCaveat, ctx: Context) -> bool:
    if not isinstance(c, ApiCaveat):
        return False
    if ctx.defer_api_caveats:
        return True
    if ctx.api_gri is None:
        return False
    gri = _gri(ctx.api_gri, False)
    if gri is None:
        return False
    operation = ctx.api_operation
    if operation is None and ctx.method is not None:
        operation = _OPERATION_BY_METHOD.get(ctx.method.upper())
    if operation is None:
        return False
    service = _api_service(ctx)
    for spec in c.whitelist:
        spec_service, spec_operation, spec_gri = spec.split("/")
        if spec_service != "all" and spec_service != service:
            continue
        if spec_operation != "all" and spec_operation != operation:
            continue
        pattern = _gri(spec_gri, True)
        if pattern is not None and pattern.matches(gri):
            return True
    return False


def _check_readonly(c: AnyCaveat, ctx: Context) -> bool:
    if not isinstance(c, DataReadonlyCaveat):
        return False
    if ctx.defer_data_caveats:
        return True
    return ctx.method is not None and ctx.method.upper() in SAFE_METHODS


def _check_data_scope(c: AnyCaveat, ctx: Context) -> bool:
    # Paths and object ids can only be judged by the data service.
    return isinstance(c, DataPathCaveat | DataObjectIdCaveat) and ctx.defer_data_caveats


def _check_namespace(c: AnyCaveat, ctx: Context) -> bool:
    return isinstance(c, NamespaceCaveat) and ctx.namespace == c.namespace


def _check_app(c: AnyCaveat, ctx: Context) -> bool:
    return isinstance(c, AppCaveat) and ctx.app == c.app


DEFAULT_CHECKERS: Mapping[type, Checker] = {
    TimeCaveat: _check_time,
    IpCaveat: _check_ip,
    AsnCaveat: _check_asn,
    GeoCountryCaveat: _check_country,
    GeoRegionCaveat: _check_region,
    ServiceCaveat: _check_service,
    ConsumerCaveat: _check_consumer,
    InterfaceCaveat: _check_interface,
    ApiCaveat: _check_api,
    DataReadonlyCaveat: _check_readonly,
    DataPathCaveat: _check_data_scope,
    DataObjectIdCaveat: _check_data_scope,
    NamespaceCaveat: _check_namespace,
    AppCaveat: _check_app,
}

# Verified is built for every request: fill its slots directly rather than
# through the generated __init__ of a frozen dataclass (see macaroon.py).
_new_object = object.__new__
_set_caveats = Verified.__dict__["caveats"].__set__
_set_valid_until = Verified.__dict__["valid_until"].__set__


class Verifier:
    """Verifies macaroons; ``checkers`` override or extend the default per-type checks.

    ``parse`` turns a caveat's text into its object; a long-running service
    passes a cached `parse_text` (caveat objects are immutable), since the
    same tokens come back again and again.
    """

    __slots__ = ("_checkers", "_parse")

    def __init__(
        self,
        checkers: Mapping[type, Checker] | None = None,
        parse: Callable[[str], AnyCaveat] = parse_text,
    ) -> None:
        table = dict(DEFAULT_CHECKERS)
        if checkers:
            table.update(checkers)
        self._checkers = table
        self._parse = parse

    def verify(self, m: Macaroon, root_key: bytes, ctx: Context) -> Verified:
        """Check the location and signature, then every caveat; raise a TokenError on failure."""
        if ctx.location is not None and m.location != ctx.location:
            raise InvalidSignature("token issued for another location")
        m.verify_signature(root_key)
        return self.check_caveats(m, ctx)

    def check_caveats(self, m: Macaroon, ctx: Context) -> Verified:
        """Check every caveat (not the signature); raise a CaveatError on failure."""
        checkers = self._checkers
        parse = self._parse
        parsed: list[AnyCaveat] = []
        valid_until: int | None = None
        for c in m.caveats:
            try:
                text = c.cid.decode("utf-8")
            except UnicodeDecodeError:
                raise CaveatUnknown(
                    c.cid.decode("utf-8", "backslashreplace"), "caveat is not UTF-8 text"
                ) from None
            if c.vid is not None:
                raise CaveatUnknown(text, "third-party caveats are not supported")
            # The core keeps no cache of parses; a service may pass a cached `parse`.
            caveat = parse(text)
            checker = checkers.get(type(caveat))
            if checker is None:
                raise CaveatUnknown(text)
            try:
                ok = checker(caveat, ctx)
            except Exception:
                # A checker that cannot decide refuses the token.
                ok = False
            if isinstance(caveat, TimeCaveat):
                if not ok:
                    raise TokenExpired(text)
                if valid_until is None or caveat.valid_until < valid_until:
                    valid_until = caveat.valid_until
            elif not ok:
                raise CaveatUnverified(text)
            parsed.append(caveat)
        verified: Verified = _new_object(Verified)
        _set_caveats(verified, tuple(parsed))
        _set_valid_until(verified, valid_until)
        return verified
