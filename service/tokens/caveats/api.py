"""The ``api`` caveat and the GRIs it matches.

An ``api`` caveat lists matchspecs ``<service>/<operation>/<GRI pattern>``
(ctool ``api_caveats``); a request passes when one matchspec names its
service (or ``all``), its operation (or ``all``) and a GRI pattern its GRI
matches. A GRI is ``type.id.aspect[,arg][:scope]`` (ctool ``gri``); patterns
may put ``*`` in any part. With ``Context.defer_api_caveats`` the caveat is
left to the service that performs the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from service.tokens.caveats.audience import SERVICE_TYPES
from service.tokens.caveats.lists import ListCaveat
from service.tokens.caveats.registry import register

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = [
    "API_OPERATIONS",
    "API_SERVICES",
    "GRI_SCOPES",
    "GRI_TYPES",
    "ApiCaveat",
    "GriPattern",
    "parse_gri",
]

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

_GRI_SEGMENT = re.compile(r"[^./:|\s]{1,256}")
_ASPECT_ATOM = re.compile(r"\*|[A-Za-z_][A-Za-z0-9_]{0,127}")


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


_OPERATION_BY_METHOD = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}


@lru_cache(maxsize=1024)
def _cached_gri(text: str, pattern: bool) -> GriPattern | None:
    return parse_gri(text, pattern)


def _api_service(ctx: Context) -> str | None:
    if ctx.api_service is not None:
        return ctx.api_service
    if ctx.service is not None and ctx.service[3:4] == "-":
        return ctx.service[:3]
    return None


@register
@dataclass(frozen=True, slots=True)
class ApiCaveat(ListCaveat):
    """Only API calls matching one ``service/operation/gri-pattern`` matchspec are allowed."""

    type_name: ClassVar[str] = "api"
    valid_item = staticmethod(_valid_matchspec)
    item_label: ClassVar[str] = "API matchspec"
    whitelist: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        if ctx.defer_api_caveats:
            return True
        if ctx.api_gri is None:
            return False
        gri = _cached_gri(ctx.api_gri, False)
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
            pattern = _cached_gri(spec_gri, True)
            if pattern is not None and pattern.matches(gri):
                return True
        return False
