"""Typed first-party caveats: one class per kind, found through a registry.

Each caveat kind is one class that carries its text form (what goes into a
token: writer `Caveat.write_text`, parser `Caveat.read_text`), its REST JSON
form (`write_json`, `read_json`, the keys it allows) and its check against a
request's `Context`. ``@register`` adds a class to the registry, and the text
parsers, the JSON parsers and the verifier's check table are built from it:
adding a kind is writing one class in one module of this package.

Text forms follow Onedata's ctool ``caveats`` module; lists are joined with
``|``. JSON forms follow the Onezone REST API (Swagger
``definitions/tokens/caveat_*.yaml``). ``namespace`` and ``app`` are this
service's own caveats for F5-style tokens; ``http.method``, ``http.path`` and
``http.host`` its own request caveats for both token kinds (see the README).

Constructors validate their fields, so every caveat object can be written as
text and read back. Client input that fails validation raises MalformedCaveat
naming the JSON key at fault; text from a token that fails raises CaveatUnknown,
so a token whose caveat cannot be understood is refused.

The modules: ``registry`` (the base class, the registry, parse and write),
``fields`` (helpers the kinds share), ``lists`` (the base of the kinds
that hold one list of strings), and one module per family of kinds:
``expiry`` (time), ``network`` (ip, asn, geo.*), ``audience`` (service,
consumer, interface), ``api`` (api and GRIs), ``data`` (data.*), ``f5``
(namespace, app), ``http_request`` (http.*). Importing this package
registers every kind.
"""

from __future__ import annotations

from service.tokens.caveats.api import (
    API_OPERATIONS,
    API_SERVICES,
    GRI_SCOPES,
    GRI_TYPES,
    ApiCaveat,
    GriPattern,
    parse_gri,
)
from service.tokens.caveats.audience import (
    INTERFACES,
    SERVICE_TYPES,
    ConsumerCaveat,
    InterfaceCaveat,
    InterfaceName,
    ServiceCaveat,
)
from service.tokens.caveats.data import (
    SAFE_METHODS,
    DataObjectIdCaveat,
    DataPathCaveat,
    DataReadonlyCaveat,
)
from service.tokens.caveats.expiry import TimeCaveat
from service.tokens.caveats.f5 import AppCaveat, NamespaceCaveat
from service.tokens.caveats.http_request import HttpHostCaveat, HttpMethodCaveat, HttpPathCaveat
from service.tokens.caveats.network import (
    REGIONS,
    AsnCaveat,
    FilterType,
    GeoCountryCaveat,
    GeoRegionCaveat,
    IpCaveat,
)
from service.tokens.caveats.registry import (
    AnyCaveat,
    Caveat,
    caveat_types,
    from_json,
    from_json_list,
    parse_text,
    register,
    to_json,
    to_text,
)

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

CAVEAT_TYPES: tuple[type[Caveat], ...] = caveat_types()
"""Every caveat kind this package defines, registered by the imports above."""
