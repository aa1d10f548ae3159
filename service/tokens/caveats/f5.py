"""F5 tokens' own caveats: ``namespace = <ns>`` and ``app = <name>``.

An F5 token is bound to one namespace and one application; the request must
be for both. Names follow `identifiers.NAME_PATTERN`, the same rule the F5
identifier applies to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

from service.tokens.caveats.fields import json_str, new_object
from service.tokens.caveats.registry import Caveat, register
from service.tokens.errors import MalformedCaveat
from service.tokens.identifiers import NAME_PATTERN, is_name

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = ["AppCaveat", "NamespaceCaveat"]


@register
@dataclass(frozen=True, slots=True)
class NamespaceCaveat(Caveat):
    """The request must be for this namespace (F5 tokens)."""

    type_name: ClassVar[str] = "namespace"
    json_keys: ClassVar[frozenset[str]] = frozenset({"namespace"})
    namespace: str

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or NAME_PATTERN.fullmatch(self.namespace) is None:
            raise MalformedCaveat("invalid namespace", "namespace")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        if not is_name(value):
            raise ValueError("bad namespace")
        c: Self = new_object(cls)
        _set_namespace(c, value)
        return c

    def write_text(self) -> str:
        return f"namespace = {self.namespace}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(json_str(obj, "namespace"))

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
        if not isinstance(self.app, str) or NAME_PATTERN.fullmatch(self.app) is None:
            raise MalformedCaveat("invalid app", "app")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        if not is_name(value):
            raise ValueError("bad app")
        c: Self = new_object(cls)
        _set_app(c, value)
        return c

    def write_text(self) -> str:
        return f"app = {self.app}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(json_str(obj, "app"))

    def write_json(self) -> dict[str, object]:
        return {"type": "app", "app": self.app}

    def check(self, ctx: Context) -> bool:
        return ctx.app == self.app


_set_app = AppCaveat.__dict__["app"].__set__
