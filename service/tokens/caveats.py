"""Typed first-party caveats, in Onedata's text forms and Onezone's REST JSON forms.

Text forms (what goes into a token) follow Onedata's ctool ``caveats`` module;
lists are joined with ``|``. JSON forms follow the Onezone REST API (Swagger
``definitions/tokens/caveat_*.yaml``). ``namespace`` and ``app`` are this
service's own caveats for F5-style tokens.

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
from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

from service.tokens.errors import CaveatUnknown, MalformedCaveat

__all__ = [
    "API_OPERATIONS",
    "API_SERVICES",
    "CAVEAT_TYPES",
    "GRI_SCOPES",
    "GRI_TYPES",
    "INTERFACES",
    "REGIONS",
    "SERVICE_TYPES",
    "AnyCaveat",
    "ApiCaveat",
    "AppCaveat",
    "AsnCaveat",
    "ConsumerCaveat",
    "DataObjectIdCaveat",
    "DataPathCaveat",
    "DataReadonlyCaveat",
    "FilterType",
    "GeoCountryCaveat",
    "GeoRegionCaveat",
    "GriPattern",
    "InterfaceCaveat",
    "InterfaceName",
    "IpCaveat",
    "NamespaceCaveat",
    "ServiceCaveat",
    "TimeCaveat",
    "from_json",
    "from_json_list",
    "parse_gri",
    "parse_text",
    "to_json",
    "to_text",
]

FilterType: TypeAlias = Literal["whitelist", "blacklist"]
InterfaceName: TypeAlias = Literal["rest", "oneclient", "graphsync"]

SEP = "|"
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


@dataclass(frozen=True, slots=True)
class TimeCaveat:
    """Valid while the current unix time is below ``valid_until``."""

    type_name: ClassVar[str] = "time"
    valid_until: int

    def __post_init__(self) -> None:
        v = self.valid_until
        if type(v) is not int or not 0 <= v <= _MAX_INT64:
            raise _bad("validUntil must be a non-negative integer", "validUntil")


@dataclass(frozen=True, slots=True)
class IpCaveat:
    """The client's IP must fall in one of the networks."""

    type_name: ClassVar[str] = "ip"
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(self.whitelist, "whitelist", _valid_ip, "IP address or network")


@dataclass(frozen=True, slots=True)
class AsnCaveat:
    """The client's autonomous system number must be listed."""

    type_name: ClassVar[str] = "asn"
    whitelist: tuple[int, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_list(self.whitelist, "whitelist")
        for v in self.whitelist:
            if type(v) is not int or not 0 <= v <= _MAX_ASN:
                raise _bad("invalid ASN", "whitelist")


@dataclass(frozen=True, slots=True)
class GeoCountryCaveat:
    """The client's country (ISO 3166 two-letter code) must be / must not be listed."""

    type_name: ClassVar[str] = "geo.country"
    filter: FilterType
    countries: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "countries")
        if self.filter not in ("whitelist", "blacklist"):
            raise _bad("filter must be whitelist or blacklist", "filter")
        _check_strings(
            self.countries, "list", lambda c: _COUNTRY.fullmatch(c) is not None, "country code"
        )


@dataclass(frozen=True, slots=True)
class GeoRegionCaveat:
    """The client's region (continent or EU) must be / must not be listed."""

    type_name: ClassVar[str] = "geo.region"
    filter: FilterType
    regions: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "regions")
        if self.filter not in ("whitelist", "blacklist"):
            raise _bad("filter must be whitelist or blacklist", "filter")
        _check_strings(self.regions, "list", REGIONS.__contains__, "region")


@dataclass(frozen=True, slots=True)
class ServiceCaveat:
    """The service using the token (``opw-<id>``, ``ozw-onezone``, ``opp-*``...) must be listed."""

    type_name: ClassVar[str] = "service"
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(
            self.whitelist,
            "whitelist",
            lambda s: _SERVICE_ENTRY.fullmatch(s) is not None,
            "service",
        )


@dataclass(frozen=True, slots=True)
class ConsumerCaveat:
    """The token's consumer (``usr-<id>``, ``grp-<id>``, ``prv-<id>``, ``usr-*``...) must be listed."""

    type_name: ClassVar[str] = "consumer"
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(
            self.whitelist,
            "whitelist",
            lambda s: _CONSUMER_ENTRY.fullmatch(s) is not None,
            "consumer",
        )


@dataclass(frozen=True, slots=True)
class InterfaceCaveat:
    """The token is accepted only on one interface."""

    type_name: ClassVar[str] = "interface"
    interface: InterfaceName

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise _bad("interface must be rest, oneclient or graphsync", "interface")


@dataclass(frozen=True, slots=True)
class ApiCaveat:
    """Only API calls matching one ``service/operation/gri-pattern`` matchspec are allowed."""

    type_name: ClassVar[str] = "api"
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(self.whitelist, "whitelist", _valid_matchspec, "API matchspec")


@dataclass(frozen=True, slots=True)
class DataReadonlyCaveat:
    """Data may only be read."""

    type_name: ClassVar[str] = "data.readonly"


@dataclass(frozen=True, slots=True)
class DataPathCaveat:
    """Data may only be accessed under the listed absolute paths (plain, not base64)."""

    type_name: ClassVar[str] = "data.path"
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(self.whitelist, "whitelist", _valid_path, "path")


@dataclass(frozen=True, slots=True)
class DataObjectIdCaveat:
    """Data may only be accessed under the listed CDMI object ids."""

    type_name: ClassVar[str] = "data.objectid"
    whitelist: tuple[str, ...]

    def __post_init__(self) -> None:
        _as_tuple(self, "whitelist")
        _check_strings(
            self.whitelist, "whitelist", lambda s: _OBJECTID.fullmatch(s) is not None, "object id"
        )


@dataclass(frozen=True, slots=True)
class NamespaceCaveat:
    """The request must be for this namespace (F5 tokens)."""

    type_name: ClassVar[str] = "namespace"
    namespace: str

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or _NAME.fullmatch(self.namespace) is None:
            raise _bad("invalid namespace", "namespace")


@dataclass(frozen=True, slots=True)
class AppCaveat:
    """The request must be for this application (F5 tokens)."""

    type_name: ClassVar[str] = "app"
    app: str

    def __post_init__(self) -> None:
        if not isinstance(self.app, str) or _NAME.fullmatch(self.app) is None:
            raise _bad("invalid app", "app")


AnyCaveat: TypeAlias = (
    TimeCaveat
    | IpCaveat
    | AsnCaveat
    | GeoCountryCaveat
    | GeoRegionCaveat
    | ServiceCaveat
    | ConsumerCaveat
    | InterfaceCaveat
    | ApiCaveat
    | DataReadonlyCaveat
    | DataPathCaveat
    | DataObjectIdCaveat
    | NamespaceCaveat
    | AppCaveat
)

CAVEAT_TYPES: tuple[type[AnyCaveat], ...] = (
    TimeCaveat,
    IpCaveat,
    AsnCaveat,
    GeoCountryCaveat,
    GeoRegionCaveat,
    ServiceCaveat,
    ConsumerCaveat,
    InterfaceCaveat,
    ApiCaveat,
    DataReadonlyCaveat,
    DataPathCaveat,
    DataObjectIdCaveat,
    NamespaceCaveat,
    AppCaveat,
)

# ---------------------------------------------------------------- text form


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split(SEP))


def _b64_path(path: str) -> str:
    return base64.b64encode(path.encode("utf-8")).decode("ascii")


def _unb64_path(entry: str) -> str:
    # Strict standard base64, as Erlang's base64:encode/1 writes it.
    raw = base64.b64decode(entry.encode("ascii"), validate=True)
    if base64.b64encode(raw).decode("ascii") != entry:
        raise ValueError("non-canonical base64")
    return raw.decode("utf-8")


# Every request parses its token's caveats, and the generated __init__ of a
# frozen dataclass (object.__setattr__ per field, then __post_init__) costs
# more than the parsing. The parsers of the common caveats check the value the
# way __post_init__ would, then fill the one slot directly.
_new_object = object.__new__
_set_valid_until = TimeCaveat.__dict__["valid_until"].__set__
_set_namespace = NamespaceCaveat.__dict__["namespace"].__set__
_set_app = AppCaveat.__dict__["app"].__set__


def _parse_time(value: str) -> AnyCaveat:
    # ASCII digits only, as _DECIMAL: int() alone would also take a sign,
    # underscores, surrounding spaces or digits of other scripts.
    if len(value) > 19 or not (value.isascii() and value.isdigit()):
        raise ValueError("bad time")
    valid_until = int(value)
    if valid_until > _MAX_INT64:
        raise ValueError("bad time")
    c: TimeCaveat = _new_object(TimeCaveat)
    _set_valid_until(c, valid_until)
    return c


def _is_name(value: str) -> bool:
    # Plain ASCII alphanumerics, the usual case, need no regular expression.
    if len(value) <= 128 and value.isascii() and value.isalnum():
        return True
    return _NAME.fullmatch(value) is not None


def _parse_namespace(value: str) -> AnyCaveat:
    if not _is_name(value):
        raise ValueError("bad namespace")
    c: NamespaceCaveat = _new_object(NamespaceCaveat)
    _set_namespace(c, value)
    return c


def _parse_app(value: str) -> AnyCaveat:
    if not _is_name(value):
        raise ValueError("bad app")
    c: AppCaveat = _new_object(AppCaveat)
    _set_app(c, value)
    return c


def _parse_asn(value: str) -> AnyCaveat:
    entries = _split(value)
    if not all(_DECIMAL.fullmatch(e) for e in entries):
        raise ValueError("bad asn")
    return AsnCaveat(tuple(int(e) for e in entries))


_INTERFACE_NAMES: dict[str, InterfaceName] = {
    "rest": "rest",
    "oneclient": "oneclient",
    "graphsync": "graphsync",
}


def _parse_interface(value: str) -> AnyCaveat:
    return InterfaceCaveat(_INTERFACE_NAMES[value])


def _parse_path(value: str) -> AnyCaveat:
    return DataPathCaveat(tuple(_unb64_path(e) for e in _split(value)))


_TEXT_PARSERS: dict[tuple[str, str], Callable[[str], AnyCaveat]] = {
    ("time", "<"): _parse_time,
    ("ip", "="): lambda v: IpCaveat(_split(v)),
    ("asn", "="): _parse_asn,
    ("geo.country", "="): lambda v: GeoCountryCaveat("whitelist", _split(v)),
    ("geo.country", "!="): lambda v: GeoCountryCaveat("blacklist", _split(v)),
    ("geo.region", "="): lambda v: GeoRegionCaveat("whitelist", _split(v)),
    ("geo.region", "!="): lambda v: GeoRegionCaveat("blacklist", _split(v)),
    ("service", "="): lambda v: ServiceCaveat(_split(v)),
    ("consumer", "="): lambda v: ConsumerCaveat(_split(v)),
    ("interface", "="): _parse_interface,
    ("api", "="): lambda v: ApiCaveat(_split(v)),
    ("data.path", "="): _parse_path,
    ("data.objectid", "="): lambda v: DataObjectIdCaveat(_split(v)),
    ("namespace", "="): _parse_namespace,
    ("app", "="): _parse_app,
}

_READONLY = DataReadonlyCaveat()


def parse_text(text: str) -> AnyCaveat:
    """Parse a caveat's text form; CaveatUnknown if it is unknown or invalid."""
    parts = text.split(" ", 2)
    if len(parts) == 3:
        key, op, value = parts
        parser = _TEXT_PARSERS.get((key, op))
        if parser is not None and value:
            try:
                return parser(value)
            except (MalformedCaveat, KeyError, ValueError, UnicodeError, binascii.Error):
                raise CaveatUnknown(text, "invalid caveat") from None
    if text == "data.readonly":
        return _READONLY
    raise CaveatUnknown(text)


def _join(values: tuple[str, ...]) -> str:
    return SEP.join(values)


def to_text(c: AnyCaveat) -> str:
    """Return the caveat's text form, as it goes into a token."""
    if isinstance(c, TimeCaveat):
        return f"time < {c.valid_until}"
    if isinstance(c, IpCaveat):
        return f"ip = {_join(c.whitelist)}"
    if isinstance(c, AsnCaveat):
        return "asn = " + SEP.join(str(a) for a in c.whitelist)
    if isinstance(c, GeoCountryCaveat):
        op = "=" if c.filter == "whitelist" else "!="
        return f"geo.country {op} {_join(c.countries)}"
    if isinstance(c, GeoRegionCaveat):
        op = "=" if c.filter == "whitelist" else "!="
        return f"geo.region {op} {_join(c.regions)}"
    if isinstance(c, ServiceCaveat):
        return f"service = {_join(c.whitelist)}"
    if isinstance(c, ConsumerCaveat):
        return f"consumer = {_join(c.whitelist)}"
    if isinstance(c, InterfaceCaveat):
        return f"interface = {c.interface}"
    if isinstance(c, ApiCaveat):
        return f"api = {_join(c.whitelist)}"
    if isinstance(c, DataReadonlyCaveat):
        return "data.readonly"
    if isinstance(c, DataPathCaveat):
        return "data.path = " + SEP.join(_b64_path(p) for p in c.whitelist)
    if isinstance(c, DataObjectIdCaveat):
        return f"data.objectid = {_join(c.whitelist)}"
    if isinstance(c, NamespaceCaveat):
        return f"namespace = {c.namespace}"
    if isinstance(c, AppCaveat):
        return f"app = {c.app}"
    raise TypeError(f"not a caveat: {type(c).__name__}")


# ---------------------------------------------------------------- JSON form

_JSON_KEYS: dict[str, frozenset[str]] = {
    "time": frozenset({"type", "validUntil"}),
    "ip": frozenset({"type", "whitelist"}),
    "asn": frozenset({"type", "whitelist"}),
    "geo.country": frozenset({"type", "filter", "list"}),
    "geo.region": frozenset({"type", "filter", "list"}),
    "service": frozenset({"type", "whitelist"}),
    "consumer": frozenset({"type", "whitelist"}),
    "interface": frozenset({"type", "interface"}),
    "api": frozenset({"type", "whitelist"}),
    "data.readonly": frozenset({"type"}),
    "data.path": frozenset({"type", "whitelist"}),
    "data.objectid": frozenset({"type", "whitelist"}),
    "namespace": frozenset({"type", "namespace"}),
    "app": frozenset({"type", "app"}),
}


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


def _json_asn(obj: Mapping[str, object]) -> AnyCaveat:
    value = _field(obj, "whitelist")
    if not isinstance(value, list) or not value:
        raise _bad("whitelist must be a non-empty list", "whitelist")
    if not all(type(v) is int for v in value):
        raise _bad("whitelist must be a list of integers", "whitelist")
    return AsnCaveat(tuple(value))


def _json_filter(obj: Mapping[str, object]) -> FilterType:
    value = _field(obj, "filter")
    if value == "whitelist":
        return "whitelist"
    if value == "blacklist":
        return "blacklist"
    raise _bad("filter must be whitelist or blacklist", "filter")


def _json_interface(obj: Mapping[str, object]) -> AnyCaveat:
    value = _str_field(obj, "interface")
    if value not in _INTERFACE_NAMES:
        raise _bad("interface must be rest, oneclient or graphsync", "interface")
    return InterfaceCaveat(_INTERFACE_NAMES[value])


def _json_time(obj: Mapping[str, object]) -> AnyCaveat:
    value = _field(obj, "validUntil")
    if type(value) is not int:
        raise _bad("validUntil must be an integer", "validUntil")
    return TimeCaveat(value)


def _json_paths(obj: Mapping[str, object]) -> AnyCaveat:
    paths: list[str] = []
    for entry in _str_list(obj, "whitelist"):
        try:
            paths.append(_unb64_path(entry))
        except (ValueError, UnicodeError, binascii.Error):
            raise _bad("whitelist entries must be base64-encoded paths", "whitelist") from None
    return DataPathCaveat(tuple(paths))


_JSON_PARSERS: dict[str, Callable[[Mapping[str, object]], AnyCaveat]] = {
    "time": _json_time,
    "ip": lambda o: IpCaveat(_str_list(o, "whitelist")),
    "asn": _json_asn,
    "geo.country": lambda o: GeoCountryCaveat(_json_filter(o), _str_list(o, "list")),
    "geo.region": lambda o: GeoRegionCaveat(_json_filter(o), _str_list(o, "list")),
    "service": lambda o: ServiceCaveat(_str_list(o, "whitelist")),
    "consumer": lambda o: ConsumerCaveat(_str_list(o, "whitelist")),
    "interface": _json_interface,
    "api": lambda o: ApiCaveat(_str_list(o, "whitelist")),
    "data.readonly": lambda o: _READONLY,
    "data.path": _json_paths,
    "data.objectid": lambda o: DataObjectIdCaveat(_str_list(o, "whitelist")),
    "namespace": lambda o: NamespaceCaveat(_str_field(o, "namespace")),
    "app": lambda o: AppCaveat(_str_field(o, "app")),
}


def from_json(obj: object) -> AnyCaveat:
    """Build a caveat from its REST JSON form; MalformedCaveat names the bad key."""
    if not isinstance(obj, dict):
        raise _bad("a caveat must be a JSON object", "caveats")
    ctype = obj.get("type")
    if not isinstance(ctype, str) or ctype not in _JSON_PARSERS:
        raise _bad("unknown caveat type", "type")
    allowed = _JSON_KEYS[ctype]
    for key in obj:
        if key not in allowed:
            raise _bad(f"unexpected key {str(key)[:64]!r}", str(key))
    return _JSON_PARSERS[ctype](obj)


def from_json_list(obj: object) -> tuple[AnyCaveat, ...]:
    """Build caveats from a JSON list; MalformedCaveat names the bad key."""
    if not isinstance(obj, list):
        raise _bad("caveats must be a list", "caveats")
    return tuple(from_json(item) for item in obj)


def to_json(c: AnyCaveat) -> dict[str, object]:
    """Return the caveat's REST JSON form."""
    if isinstance(c, TimeCaveat):
        return {"type": "time", "validUntil": c.valid_until}
    if isinstance(c, IpCaveat | ServiceCaveat | ConsumerCaveat | ApiCaveat | DataObjectIdCaveat):
        return {"type": c.type_name, "whitelist": list(c.whitelist)}
    if isinstance(c, AsnCaveat):
        return {"type": "asn", "whitelist": list(c.whitelist)}
    if isinstance(c, GeoCountryCaveat):
        return {"type": "geo.country", "filter": c.filter, "list": list(c.countries)}
    if isinstance(c, GeoRegionCaveat):
        return {"type": "geo.region", "filter": c.filter, "list": list(c.regions)}
    if isinstance(c, InterfaceCaveat):
        return {"type": "interface", "interface": c.interface}
    if isinstance(c, DataReadonlyCaveat):
        return {"type": "data.readonly"}
    if isinstance(c, DataPathCaveat):
        return {"type": "data.path", "whitelist": [_b64_path(p) for p in c.whitelist]}
    if isinstance(c, NamespaceCaveat):
        return {"type": "namespace", "namespace": c.namespace}
    if isinstance(c, AppCaveat):
        return {"type": "app", "app": c.app}
    raise TypeError(f"not a caveat: {type(c).__name__}")
