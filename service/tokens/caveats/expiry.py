"""The time caveat: a token is valid while the current unix time is below a bound.

Text form ``time < <unix seconds>`` (canonical decimal, no sign or leading
zeros), JSON form ``{"type": "time", "validUntil": N}``. The clock is the
verifier's ``Context.now``; nothing here reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

from service.tokens.caveats.fields import json_field, new_object
from service.tokens.caveats.registry import Caveat, register
from service.tokens.errors import MalformedCaveat

if TYPE_CHECKING:
    from service.tokens.verifier import Context

__all__ = ["MAX_INT64", "TimeCaveat"]

MAX_INT64 = 2**63 - 1
"""The largest expiry a time caveat holds: a signed 64-bit integer."""


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
        if type(v) is not int or not 0 <= v <= MAX_INT64:
            raise MalformedCaveat("validUntil must be a non-negative integer", "validUntil")

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        # ASCII digits only: int() alone would also take a sign,
        # underscores, surrounding spaces or digits of other scripts.
        # Canonical only: no leading zeros, so one expiry has one text.
        if len(value) > 19 or not (value.isascii() and value.isdigit()):
            raise ValueError("bad time")
        if value[0] == "0" and len(value) > 1:
            raise ValueError("bad time")
        valid_until = int(value)
        if valid_until > MAX_INT64:
            raise ValueError("bad time")
        c: Self = new_object(cls)
        _set_valid_until(c, valid_until)
        return c

    def write_text(self) -> str:
        return f"time < {self.valid_until}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        value = json_field(obj, "validUntil")
        if type(value) is not int:
            raise MalformedCaveat("validUntil must be an integer", "validUntil")
        return cls(value)

    def write_json(self) -> dict[str, object]:
        return {"type": "time", "validUntil": self.valid_until}

    def check(self, ctx: Context) -> bool:
        return ctx.now < self.valid_until


_set_valid_until = TimeCaveat.__dict__["valid_until"].__set__
