"""Typed first-party caveats: one class per kind, found through a registry.

Each caveat kind is one class that carries its text form (what goes into a
token: writer `Caveat.write_text`, parser `Caveat.read_text`), its REST JSON
form (`write_json`, `read_json`, the keys it allows) and its check against a
request's `Context`. ``@register`` adds a class to the registry, and the text
parsers, the JSON parsers and the verifier's check table are built from it:
adding a kind is writing one class.

Text forms follow Onedata's ctool ``caveats`` module; lists are joined with
``|``. JSON forms follow the Onezone REST API (Swagger
``definitions/tokens/caveat_*.yaml``). ``namespace`` and ``app`` are this
service's own caveats for F5-style tokens; ``http.method``, ``http.path`` and
``http.host`` its own request caveats for both token kinds (see the README).

Constructors validate their fields, so every caveat object can be written as
text and read back. Client input that fails validation raises MalformedCaveat
naming the JSON key at fault; text from a token that fails raises CaveatUnknown,
so a token whose caveat cannot be understood is refused.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, Literal, Self, TypeAlias, TypeVar

from service.tokens import httppath
from service.tokens.errors import CaveatUnknown, MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = [
    "API_OPERATIONS",
    "API_SERVICES",
    "CAVEAT_TYPES",
    "GRI_SCOPES",
    "GRI_TYPES",
    "INTERFACES",
    "REGIONS",
    "SAFE_METHODS",
    "SERVICE_TYPES",
    "AnyCaveat",
    "ApiCaveat",
    "AppCaveat",
    "AsnCaveat",
    "Caveat",
    "ConsumerCaveat",
    "DataObjectIdCaveat",
    "DataPathCaveat",
    "DataReadonlyCaveat",
    "FilterType",
    "GeoCountryCaveat",
    "GeoRegionCaveat",
    "GriPattern",
    "HttpHostCaveat",
    "HttpMethodCaveat",
    "HttpPathCaveat",
    "InterfaceCaveat",
    "InterfaceName",
    "IpCaveat",
    "NamespaceCaveat",
    "ServiceCaveat",
    "TimeCaveat",
    "caveat_types",
    "from_json",
    "from_json_list",
    "parse_gri",
    "parse_text",
    "register",
    "to_json",
    "to_text",
]
FilterType: TypeAlias = Literal["whitelist", "blacklist"]
InterfaceName: TypeAlias = Literal["rest", "oneclient", "graphsync"]

SEP = "|"
# Methods that only read (RFC 9110 §9.2.1), for data.readonly.
SAFE_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
INTERFACES: frozenset[str] = frozenset({"rest", "oneclient", "graphsync"})
REGIONS: frozenset[str] = frozenset(
    {"Africa", "Antarctica", "Asia", "Europe", "EU", "NorthAmerica", "Oceania", "SouthAmerica"}
)
# Service short names of Onedata (ctool onedata:service_shortname/1).
SERVICE_TYPES: frozenset[str] = frozenset({"ozw", "opw", "ozp", "opp"})
API_SERVICES: frozenset[str] = SERVICE_TYPES | {"all"}
API_OPERATIONS: frozenset[str] = frozenset({"all", "create", "get", "update", "delete"})
# Entity types of a GRI as Onedata serializes them (ctool gri:serialize_type/2).
GRI_TYPES: frozenset[str] = frozenset(
    {
        "oz_worker",
        "user",
        "group",
        "space",
        "share",
        "provider",
        "handleService",
        "handle",
        "cluster",
        "harvester",
        "token",
        "temporary_token_secret",
        "file",
        "op_replica",
        "op_transfer",
        "op_user",
        "op_group",
        "op_space",
        "op_share",
        "op_provider",
        "op_metrics",
    }
)
GRI_SCOPES: frozenset[str] = frozenset({"private", "protected", "shared", "public", "auto"})

_MAX_INT64 = 2**63 - 1
_MAX_ASN = 2**32 - 1
_DECIMAL = re.compile(r"[0-9]{1,19}")
_IP_ENTRY = re.compile(r"[0-9A-Fa-f:.]{2,45}(?:/[0-9]{1,3})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_ID = r"(?:\*|[A-Za-z0-9_.\-]{1,256})"
_SERVICE_ENTRY = re.compile(r"(?:ozw|opw|ozp|opp)-" + _ID)
_CONSUMER_ENTRY = re.compile(r"(?:usr|grp|prv)-" + _ID)
_OBJECTID = re.compile(r"[A-Za-z0-9]{1,1024}")
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_GRI_SEGMENT = re.compile(r"[^./:|\s]{1,256}")
_ASPECT_ATOM = re.compile(r"\*|[A-Za-z_][A-Za-z0-9_]{0,127}")


def _bad(reason: str, key: str) -> MalformedCaveat:
    return MalformedCaveat(reason, key)


def _as_tuple(obj: object, attr: str) -> None:
    # Callers may hand in lists; store a tuple so the caveat stays hashable.
    value = getattr(obj, attr)
    if isinstance(value, list):
        object.__setattr__(obj, attr, tuple(value))


def _check_list(values: tuple[object, ...], key: str) -> None:
    if not isinstance(values, tuple) or not values:
        raise _bad(f"{key} must be a non-empty list", key)


def _check_strings(
    values: tuple[str, ...], key: str, valid: Callable[[str], bool], what: str
) -> None:
    _check_list(values, key)
    for v in values:
        if not isinstance(v, str) or not valid(v):
            raise _bad(f"invalid {what}", key)


def _valid_ip(entry: str) -> bool:
    if _IP_ENTRY.fullmatch(entry) is None:
        return False
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class GriPattern:
    """A GRI or GRI pattern: ``type.id.aspect[:scope]``, where patterns may use ``*``."""

    type: str
    id: str
    aspect: str
    aspect_arg: str | None
    scope: str

    def matches(self, gri: GriPattern) -> bool:
        """Whether a concrete GRI matches this pattern (ctool gri:matches/2)."""
        return (
            self.type in ("*", gri.type)
            and self.id in ("*", gri.id)
            and self._aspect_matches(gri)
            and self.scope in ("*", gri.scope)
        )

    def _aspect_matches(self, gri: GriPattern) -> bool:
        if self.aspect_arg is None:
            return self.aspect == "*" or (gri.aspect_arg is None and self.aspect == gri.aspect)
        if gri.aspect_arg is None:
            return False
        return self.aspect in ("*", gri.aspect) and self.aspect_arg in ("*", gri.aspect_arg)


def parse_gri(text: str, pattern: bool = True) -> GriPattern | None:
    """Parse a GRI (pattern); None if invalid. Without a scope the scope is ``private``."""
    parts = text.split(".")
    if len(parts) != 3:
        return None
    gtype, gid, rest = parts
    aspect_scope = rest.split(":")
    if len(aspect_scope) == 1:
        aspect_part, scope = aspect_scope[0], "private"
    elif len(aspect_scope) == 2:
        aspect_part, scope = aspect_scope
    else:
        return None
    aspect_args = aspect_part.split(",")
    if len(aspect_args) == 1:
        aspect, aspect_arg = aspect_args[0], None
    elif len(aspect_args) == 2:
        aspect, aspect_arg = aspect_args
        if _GRI_SEGMENT.fullmatch(aspect_arg) is None:
            return None
    else:
        return None
    if not (gtype in GRI_TYPES or (pattern and gtype == "*")):
        return None
    if _GRI_SEGMENT.fullmatch(gid) is None or "," in gid or (gid == "*" and not pattern):
        return None
    if _ASPECT_ATOM.fullmatch(aspect) is None or (aspect == "*" and not pattern):
        return None
    if aspect_arg == "*" and not pattern:
        return None
    if not (scope in GRI_SCOPES or (pattern and scope == "*")):
        return None
    return GriPattern(gtype, gid, aspect, aspect_arg, scope)


def _valid_matchspec(entry: str) -> bool:
    parts = entry.split("/")
    return (
        len(parts) == 3
        and parts[0] in API_SERVICES
        and parts[1] in API_OPERATIONS
        and parse_gri(parts[2]) is not None
    )


def _valid_path(path: str) -> bool:
    return path.startswith("/") and "\x00" not in path


# ---------------------------------------------------------------- the registry


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


_METHODS = ("read_text", "write_text", "read_json", "write_json", "check")


# Every parsed caveat is a Caveat; the name stays for the callers that use it.
AnyCaveat: TypeAlias = Caveat

_C = TypeVar("_C", bound=type[Caveat])
_REGISTRY: dict[str, type[Caveat]] = {}
_TEXT_PARSERS: dict[tuple[str, str], Callable[[str, str], Caveat]] = {}
_BARE_PARSERS: dict[str, Callable[[str, str], Caveat]] = {}
_JSON_KEYS: dict[str, frozenset[str]] = {}


def register(cls: _C) -> _C:
    """Add a caveat class to the registry its text and JSON parsers and checks are found in."""
    name = getattr(cls, "type_name", "")
    own = [vars(k) for k in cls.__mro__ if k is not Caveat and k is not object]
    missing = [m for m in _METHODS if not any(m in d for d in own)]
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


# ---------------------------------------------------------------- helpers


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split(SEP))


def _join(values: tuple[str, ...]) -> str:
    return SEP.join(values)


def _b64_path(path: str) -> str:
    return base64.b64encode(path.encode("utf-8")).decode("ascii")


def _unb64_path(entry: str) -> str:
    # Strict standard base64, as Erlang's base64:encode/1 writes it.
    raw = base64.b64decode(entry.encode("ascii"), validate=True)
    if base64.b64encode(raw).decode("ascii") != entry:
        raise ValueError("non-canonical base64")
    return raw.decode("utf-8")


def _field(obj: Mapping[str, object], key: str) -> object:
    if key not in obj:
        raise _bad(f"missing {key}", key)
    return obj[key]


def _str_field(obj: Mapping[str, object], key: str) -> str:
    value = _field(obj, key)
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string", key)
    return value


def _str_list(obj: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = _field(obj, key)
    if not isinstance(value, list) or not value:
        raise _bad(f"{key} must be a non-empty list", key)
    if not all(isinstance(v, str) for v in value):
        raise _bad(f"{key} must be a list of strings", key)
    return tuple(value)


def _json_filter(obj: Mapping[str, object]) -> FilterType:
    value = _field(obj, "filter")
    if value == "whitelist":
        return "whitelist"
    if value == "blacklist":
        return "blacklist"
    raise _bad("filter must be whitelist or blacklist", "filter")


def _filter_op(filter_type: FilterType) -> str:
    return "=" if filter_type == "whitelist" else "!="


def _filter_of(op: str) -> FilterType:
    return "whitelist" if op == "=" else "blacklist"


def _listed(filter_type: str, values: tuple[str, ...], actual: set[str]) -> bool:
    hit = any(v in actual for v in values)
    return hit if filter_type == "whitelist" else not hit


# Every request parses its token's caveats, and the generated __init__ of a
# frozen dataclass (object.__setattr__ per field, then __post_init__) costs
# more than the parsing. The parsers of the common caveats (time, namespace,
# app) check the value the way __post_init__ would, then fill the one slot
# directly; a test compares them with the constructors.
_new_object = object.__new__


# ---------------------------------------------------------------- time


@register
@dataclass(frozen=True, slots=True)
class TimeCaveat(Caveat):
    """Valid while the current unix time is below ``valid_until``."""

    type_name: ClassVar[str] = "time"
    text_ops: ClassVar[tuple[str, ...]] = ("<",)
    json_keys: ClassVar[frozenset[str]] = frozenset({"validUntil"})
    valid_until: int

    def __post_init__(self) -> None:
        v = self.valid_until
        if type(v) is not int or not 0 <= v <= _MAX_INT64:
            raise _bad("validUntil must be a non-negative integer", "validUntil")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        # ASCII digits only, as _DECIMAL: int() alone would also take a sign,
        # underscores, surrounding spaces or digits of other scripts.
        # Canonical only: no leading zeros, so one expiry has one text.
        if len(value) > 19 or not (value.isascii() and value.isdigit()):
            raise ValueError("bad time")
        if value[0] == "0" and len(value) > 1:
            raise ValueError("bad time")
        valid_until = int(value)
        if valid_until > _MAX_INT64:
            raise ValueError("bad time")
        c: Self = _new_object(cls)
        _set_valid_until(c, valid_until)
        return c

    def write_text(self) -> str:
        return f"time < {self.valid_until}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        value = _field(obj, "validUntil")
        if type(value) is not int:
            raise _bad("validUntil must be an integer", "validUntil")
        return cls(value)

    def write_json(self) -> dict[str, object]:
        return {"type": "time", "validUntil": self.valid_until}

    def check(self, ctx: Context) -> bool:
        return ctx.now < self.valid_until


_set_valid_until = TimeCaveat.__dict__["valid_until"].__set__


# ---------------------------------------------------------------- ip, asn, geo


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
        _as_tuple(self, "whitelist")
        _check_strings(self.whitelist, "whitelist", _valid_ip, "IP address or network")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"ip = {_join(self.whitelist)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_list(obj, "whitelist"))

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
        _as_tuple(self, "whitelist")
        _check_list(self.whitelist, "whitelist")
        for v in self.whitelist:
            if type(v) is not int or not 0 <= v <= _MAX_ASN:
                raise _bad("invalid ASN", "whitelist")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        entries = _split(value)
        if not all(_DECIMAL.fullmatch(e) for e in entries):
            raise ValueError("bad asn")
        return cls(tuple(int(e) for e in entries))

    def write_text(self) -> str:
        return "asn = " + SEP.join(str(a) for a in self.whitelist)

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        value = _field(obj, "whitelist")
        if not isinstance(value, list) or not value:
            raise _bad("whitelist must be a non-empty list", "whitelist")
        if not all(type(v) is int for v in value):
            raise _bad("whitelist must be a list of integers", "whitelist")
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
        _as_tuple(self, "countries")
        if self.filter not in ("whitelist", "blacklist"):
            raise _bad("filter must be whitelist or blacklist", "filter")
        _check_strings(
            self.countries, "list", lambda c: _COUNTRY.fullmatch(c) is not None, "country code"
        )

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_filter_of(op), _split(value))

    def write_text(self) -> str:
        return f"geo.country {_filter_op(self.filter)} {_join(self.countries)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_json_filter(obj), _str_list(obj, "list"))

    def write_json(self) -> dict[str, object]:
        return {"type": "geo.country", "filter": self.filter, "list": list(self.countries)}

    def check(self, ctx: Context) -> bool:
        if ctx.country is None:
            return False
        return _listed(self.filter, self.countries, {ctx.country})


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
        _as_tuple(self, "regions")
        if self.filter not in ("whitelist", "blacklist"):
            raise _bad("filter must be whitelist or blacklist", "filter")
        _check_strings(self.regions, "list", REGIONS.__contains__, "region")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_filter_of(op), _split(value))

    def write_text(self) -> str:
        return f"geo.region {_filter_op(self.filter)} {_join(self.regions)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_json_filter(obj), _str_list(obj, "list"))

    def write_json(self) -> dict[str, object]:
        return {"type": "geo.region", "filter": self.filter, "list": list(self.regions)}

    def check(self, ctx: Context) -> bool:
        if ctx.region is None:
            return False
        regions = {ctx.region, "EU"} if ctx.in_eu else {ctx.region}
        return _listed(self.filter, self.regions, regions)


# ---------------------------------------------------------------- service, consumer, interface


def _matches_subject(whitelist: tuple[str, ...], actual: str) -> bool:
    kind = actual[:4]
    for entry in whitelist:
        if entry == actual or (entry[4:] == "*" and entry[:4] == kind):
            return True
    return False


@register
@dataclass(frozen=True, slots=True)
class ServiceCaveat(Caveat):
    """The service using the token (``opw-<id>``, ``ozw-onezone``, ``opp-*``...) must be listed."""

    type_name: ClassVar[str] = "service"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(
            self.whitelist,
            "whitelist",
            lambda s: _SERVICE_ENTRY.fullmatch(s) is not None,
            "service",
        )

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"service = {_join(self.whitelist)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_list(obj, "whitelist"))

    def write_json(self) -> dict[str, object]:
        return {"type": "service", "whitelist": list(self.whitelist)}

    def check(self, ctx: Context) -> bool:
        return ctx.service is not None and _matches_subject(self.whitelist, ctx.service)


@register
@dataclass(frozen=True, slots=True)
class ConsumerCaveat(Caveat):
    """The token's consumer (``usr-<id>``, ``grp-<id>``, ``prv-<id>``, ``usr-*``...) must be listed."""

    type_name: ClassVar[str] = "consumer"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(
            self.whitelist,
            "whitelist",
            lambda s: _CONSUMER_ENTRY.fullmatch(s) is not None,
            "consumer",
        )

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"consumer = {_join(self.whitelist)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_list(obj, "whitelist"))

    def write_json(self) -> dict[str, object]:
        return {"type": "consumer", "whitelist": list(self.whitelist)}

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
            raise _bad("interface must be rest, oneclient or graphsync", "interface")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_INTERFACE_NAMES[value])

    def write_text(self) -> str:
        return f"interface = {self.interface}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        value = _str_field(obj, "interface")
        if value not in _INTERFACE_NAMES:
            raise _bad("interface must be rest, oneclient or graphsync", "interface")
        return cls(_INTERFACE_NAMES[value])

    def write_json(self) -> dict[str, object]:
        return {"type": "interface", "interface": self.interface}

    def check(self, ctx: Context) -> bool:
        return ctx.interface == self.interface


# ---------------------------------------------------------------- api

_OPERATION_BY_METHOD = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}


@lru_cache(maxsize=1024)
def _gri(text: str, pattern: bool) -> GriPattern | None:
    return parse_gri(text, pattern)


def _api_service(ctx: Context) -> str | None:
    if ctx.api_service is not None:
        return ctx.api_service
    if ctx.service is not None and ctx.service[3:4] == "-":
        return ctx.service[:3]
    return None


@register
@dataclass(frozen=True, slots=True)
class ApiCaveat(Caveat):
    """Only API calls matching one ``service/operation/gri-pattern`` matchspec are allowed."""

    type_name: ClassVar[str] = "api"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(self.whitelist, "whitelist", _valid_matchspec, "API matchspec")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"api = {_join(self.whitelist)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_list(obj, "whitelist"))

    def write_json(self) -> dict[str, object]:
        return {"type": "api", "whitelist": list(self.whitelist)}

    def check(self, ctx: Context) -> bool:
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
        for spec in self.whitelist:
            spec_service, spec_operation, spec_gri = spec.split("/")
            if spec_service != "all" and spec_service != service:
                continue
            if spec_operation != "all" and spec_operation != operation:
                continue
            pattern = _gri(spec_gri, True)
            if pattern is not None and pattern.matches(gri):
                return True
        return False


# ---------------------------------------------------------------- data


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
class DataPathCaveat(Caveat):
    """Data may only be accessed under the listed absolute paths (plain, not base64)."""

    type_name: ClassVar[str] = "data.path"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(self.whitelist, "whitelist", _valid_path, "path")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(tuple(_unb64_path(e) for e in _split(value)))

    def write_text(self) -> str:
        return "data.path = " + SEP.join(_b64_path(p) for p in self.whitelist)

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        paths: list[str] = []
        for entry in _str_list(obj, "whitelist"):
            try:
                paths.append(_unb64_path(entry))
            except (ValueError, UnicodeError, binascii.Error):
                raise _bad("whitelist entries must be base64-encoded paths", "whitelist") from None
        return cls(tuple(paths))

    def write_json(self) -> dict[str, object]:
        return {"type": "data.path", "whitelist": [_b64_path(p) for p in self.whitelist]}

    def check(self, ctx: Context) -> bool:
        # Paths in the data space can only be judged by the data service.
        return ctx.defer_data_caveats


@register
@dataclass(frozen=True, slots=True)
class DataObjectIdCaveat(Caveat):
    """Data may only be accessed under the listed CDMI object ids."""

    type_name: ClassVar[str] = "data.objectid"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(
            self.whitelist, "whitelist", lambda s: _OBJECTID.fullmatch(s) is not None, "object id"
        )

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"data.objectid = {_join(self.whitelist)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_list(obj, "whitelist"))

    def write_json(self) -> dict[str, object]:
        return {"type": "data.objectid", "whitelist": list(self.whitelist)}

    def check(self, ctx: Context) -> bool:
        # Object ids can only be judged by the data service.
        return ctx.defer_data_caveats


# ---------------------------------------------------------------- F5: namespace, app


def _is_name(value: str) -> bool:
    # Plain ASCII alphanumerics, the usual case, need no regular expression.
    if len(value) <= 128 and value.isascii() and value.isalnum():
        return True
    return _NAME.fullmatch(value) is not None


@register
@dataclass(frozen=True, slots=True)
class NamespaceCaveat(Caveat):
    """The request must be for this namespace (F5 tokens)."""

    type_name: ClassVar[str] = "namespace"
    json_keys: ClassVar[frozenset[str]] = frozenset({"namespace"})
    namespace: str

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or _NAME.fullmatch(self.namespace) is None:
            raise _bad("invalid namespace", "namespace")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        if not _is_name(value):
            raise ValueError("bad namespace")
        c: Self = _new_object(cls)
        _set_namespace(c, value)
        return c

    def write_text(self) -> str:
        return f"namespace = {self.namespace}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_field(obj, "namespace"))

    def write_json(self) -> dict[str, object]:
        return {"type": "namespace", "namespace": self.namespace}

    def check(self, ctx: Context) -> bool:
        return ctx.namespace == self.namespace


_set_namespace = NamespaceCaveat.__dict__["namespace"].__set__


@register
@dataclass(frozen=True, slots=True)
class AppCaveat(Caveat):
    """The request must be for this application (F5 tokens)."""

    type_name: ClassVar[str] = "app"
    json_keys: ClassVar[frozenset[str]] = frozenset({"app"})
    app: str

    def __post_init__(self) -> None:
        if not isinstance(self.app, str) or _NAME.fullmatch(self.app) is None:
            raise _bad("invalid app", "app")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        if not _is_name(value):
            raise ValueError("bad app")
        c: Self = _new_object(cls)
        _set_app(c, value)
        return c

    def write_text(self) -> str:
        return f"app = {self.app}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_field(obj, "app"))

    def write_json(self) -> dict[str, object]:
        return {"type": "app", "app": self.app}

    def check(self, ctx: Context) -> bool:
        return ctx.app == self.app


_set_app = AppCaveat.__dict__["app"].__set__


# ---------------------------------------------------------------- HTTP request caveats

# RFC 9110 token characters (tchar) without "|", the list separator, and
# without lower-case letters: methods are case-sensitive, and the standard
# ones are upper-case, so "get" is refused rather than read as GET.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`~0-9A-Z]{1,64}")
# A DNS name (LDH labels, lower case, no trailing dot), an IPv4 address or a
# bracketed IPv6 address, then an optional port (1-65535, no leading zero).
_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_HOST = re.compile(
    rf"(?P<name>{_LABEL}(?:\.{_LABEL})*|\[(?P<ip6>[0-9a-f:.]{{2,45}})\])(?::(?P<port>[1-9][0-9]{{0,4}}))?"
)


def _valid_method(method: str) -> bool:
    return _METHOD.fullmatch(method) is not None


def _valid_host(host: str) -> bool:
    m = _HOST.fullmatch(host)
    if m is None:
        return False
    port = m.group("port")
    if port is not None and int(port) > 65535:
        return False
    ip6 = m.group("ip6")
    if ip6 is not None:
        # Only the canonical (compressed, lower-case) spelling, so that one
        # address has one text form.
        try:
            return ipaddress.IPv6Address(ip6).compressed == ip6
        except ValueError:
            return False
    return len(m.group("name")) <= 253


def _valid_pattern(pattern: str) -> bool:
    if not httppath.is_normal(pattern):
        return False
    try:
        httppath.compile_pattern(pattern)
    except httppath.PathRefused:
        return False
    return True


@register
@dataclass(frozen=True, slots=True)
class HttpMethodCaveat(Caveat):
    """The request's method is one of ``methods`` (exact, case-sensitive)."""

    type_name: ClassVar[str] = "http.method"
    json_keys: ClassVar[frozenset[str]] = frozenset({"methods"})
    methods: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "methods")
        _check_strings(self.methods, "methods", _valid_method, "HTTP method (upper case)")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"http.method = {_join(self.methods)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(_str_list(obj, "methods"))

    def write_json(self) -> dict[str, object]:
        return {"type": "http.method", "methods": list(self.methods)}

    def check(self, ctx: Context) -> bool:
        return ctx.method is not None and ctx.method in self.methods


@register
@dataclass(frozen=True, slots=True)
class HttpPathCaveat(Caveat):
    """The request's path, in normal form, matches one of ``patterns`` (see httppath)."""

    type_name: ClassVar[str] = "http.path"
    json_keys: ClassVar[frozenset[str]] = frozenset({"patterns"})
    # In normal form, which holds no "|", space or control character: the
    # text form needs no further encoding.
    patterns: tuple[str, ...]
    # The patterns split into segments once, for `check` on every request.
    _compiled: tuple[httppath.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _as_tuple(self, "patterns")
        _check_strings(self.patterns, "patterns", _valid_pattern, "path pattern in normal form")
        compiled = tuple(httppath.compile_pattern(p) for p in self.patterns)
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"http.path = {_join(self.patterns)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        patterns: list[str] = []
        for entry in _str_list(obj, "patterns"):
            try:
                patterns.append(httppath.normalise_pattern(entry))
            except httppath.PathRefused as e:
                raise _bad(f"invalid path pattern: {e}", "patterns") from None
        return cls(tuple(patterns))

    def write_json(self) -> dict[str, object]:
        return {"type": "http.path", "patterns": list(self.patterns)}

    def check(self, ctx: Context) -> bool:
        path = ctx.path
        if path is None:
            return False
        segments = httppath.request_segments(path)
        if segments is None:
            return False
        for pattern in self._compiled:
            if httppath.matches(pattern, segments):
                return True
        return False


@register
@dataclass(frozen=True, slots=True)
class HttpHostCaveat(Caveat):
    """The request's Host is one of ``hosts`` (exact, ASCII case-insensitive, port included)."""

    type_name: ClassVar[str] = "http.host"
    json_keys: ClassVar[frozenset[str]] = frozenset({"hosts"})
    # Lower case: the constructor takes only the canonical spelling; the JSON
    # reader lower-cases what a client sends.
    hosts: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "hosts")
        _check_strings(self.hosts, "hosts", _valid_host, "host (lower case, optional :port)")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(_split(value))

    def write_text(self) -> str:
        return f"http.host = {_join(self.hosts)}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        # str.lower() of non-ASCII text can yield ASCII (KELVIN SIGN -> k):
        # only ASCII is lowered, anything else stays and fails validation.
        hosts = tuple(h.lower() if h.isascii() else h for h in _str_list(obj, "hosts"))
        return cls(hosts)

    def write_json(self) -> dict[str, object]:
        return {"type": "http.host", "hosts": list(self.hosts)}

    def check(self, ctx: Context) -> bool:
        host = ctx.host
        # The same care as read_json: a non-ASCII Host never matches.
        return host is not None and host.isascii() and host.lower() in self.hosts


CAVEAT_TYPES: tuple[type[Caveat], ...] = caveat_types()


# ---------------------------------------------------------------- public functions


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
        raise _bad("a caveat must be a JSON object", "caveats")
    ctype = obj.get("type")
    if not isinstance(ctype, str) or ctype not in _REGISTRY:
        raise _bad("unknown caveat type", "type")
    allowed = _JSON_KEYS[ctype]
    for key in obj:
        if key not in allowed:
            raise _bad(f"unexpected key {str(key)[:64]!r}", str(key))
    return _REGISTRY[ctype].read_json(obj)


def from_json_list(obj: object) -> tuple[AnyCaveat, ...]:
    """Build caveats from a JSON list; MalformedCaveat names the bad key."""
    if not isinstance(obj, list):
        raise _bad("caveats must be a list", "caveats")
    return tuple(from_json(item) for item in obj)


def to_json(c: AnyCaveat) -> dict[str, object]:
    """Return the caveat's REST JSON form."""
    if not isinstance(c, Caveat):
        raise TypeError(f"not a caveat: {type(c).__name__}")
    return c.write_json()
