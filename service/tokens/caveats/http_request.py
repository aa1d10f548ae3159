"""The HTTP request caveats: ``http.method``, ``http.path``, ``http.host``.

This service's own caveats, for both token kinds, judged against the
request the token is used for. Methods match exactly (case-sensitive),
hosts exactly but ASCII case-insensitively with the port, paths by the
patterns of `tokens.httppath` on the request path in normal form. Every
value is stored in its one canonical spelling, so that a caveat has one
text form.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Self

from service.tokens import httppath
from service.tokens.caveats.fields import json_str_list
from service.tokens.caveats.lists import ListCaveat
from service.tokens.caveats.registry import register
from service.tokens.errors import MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = ["HttpHostCaveat", "HttpMethodCaveat", "HttpPathCaveat"]

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
class HttpMethodCaveat(ListCaveat):
    """The request's method is one of ``methods`` (exact, case-sensitive)."""

    type_name: ClassVar[str] = "http.method"
    list_attr: ClassVar[str] = "methods"
    list_key: ClassVar[str] = "methods"
    json_keys: ClassVar[frozenset[str]] = frozenset({"methods"})
    valid_item = staticmethod(_valid_method)
    item_label: ClassVar[str] = "HTTP method (upper case)"
    methods: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        return ctx.method is not None and ctx.method in self.methods


@register
@dataclass(frozen=True, slots=True)
class HttpPathCaveat(ListCaveat):
    """The request's path, in normal form, matches one of ``patterns`` (see httppath)."""

    type_name: ClassVar[str] = "http.path"
    list_attr: ClassVar[str] = "patterns"
    list_key: ClassVar[str] = "patterns"
    json_keys: ClassVar[frozenset[str]] = frozenset({"patterns"})
    valid_item = staticmethod(_valid_pattern)
    item_label: ClassVar[str] = "path pattern in normal form"
    # In normal form, which holds no "|", space or control character: the
    # text form needs no further encoding.
    patterns: tuple[str, ...]
    # The patterns split into segments once, for `check` on every request.
    _compiled: tuple[httppath.Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Not super(): a slotted dataclass is a new class, which the
        # zero-argument form does not know.
        ListCaveat.__post_init__(self)
        compiled = tuple(httppath.compile_pattern(p) for p in self.patterns)
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        patterns: list[str] = []
        for entry in json_str_list(obj, "patterns"):
            try:
                patterns.append(httppath.normalise_pattern(entry))
            except httppath.PathRefused as e:
                raise MalformedCaveat(f"invalid path pattern: {e}", "patterns") from None
        return cls(tuple(patterns))

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
class HttpHostCaveat(ListCaveat):
    """The request's Host is one of ``hosts`` (exact, ASCII case-insensitive, port included)."""

    type_name: ClassVar[str] = "http.host"
    list_attr: ClassVar[str] = "hosts"
    list_key: ClassVar[str] = "hosts"
    json_keys: ClassVar[frozenset[str]] = frozenset({"hosts"})
    valid_item = staticmethod(_valid_host)
    item_label: ClassVar[str] = "host (lower case, optional :port)"
    # Lower case: the constructor takes only the canonical spelling; the JSON
    # reader lower-cases what a client sends.
    hosts: tuple[str, ...]

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        # str.lower() of non-ASCII text can yield ASCII (KELVIN SIGN -> k):
        # only ASCII is lowered, anything else stays and fails validation.
        hosts = tuple(h.lower() if h.isascii() else h for h in json_str_list(obj, "hosts"))
        return cls(hosts)

    def check(self, ctx: Context) -> bool:
        host = ctx.host
        # The same care as read_json: a non-ASCII Host never matches.
        return host is not None and host.isascii() and host.lower() in self.hosts
