"""The caveat registry: every table built from it, incomplete or duplicate kinds refused."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

import pytest
from hypothesis import Phase, settings

from service.tokens.caveats import (
    CAVEAT_TYPES,
    Caveat,
    TimeCaveat,
    caveat_types,
    from_json,
    parse_text,
    register,
    to_json,
    to_text,
)
from service.tokens.caveats import registry as caveat_registry
from service.tokens.errors import CaveatUnknown, CaveatUnverified, MalformedCaveat
from service.tokens.macaroon import mint
from service.tokens.verifier import DEFAULT_CHECKERS, Context, Verifier

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

# Text and JSON forms side by side, as Onedata writes them.
# ---------------------------------------------------------------- the registry


def test_every_table_is_built_from_the_registry() -> None:
    types = caveat_types()
    assert types == CAVEAT_TYPES
    assert len({cls.type_name for cls in types}) == len(types)
    assert set(caveat_registry._REGISTRY) == {cls.type_name for cls in types}
    assert set(caveat_registry._TEXT_PARSERS) == {
        (cls.type_name, op) for cls in types for op in cls.text_ops
    }
    assert set(caveat_registry._BARE_PARSERS) == {
        cls.type_name for cls in types if not cls.text_ops
    }
    assert set(DEFAULT_CHECKERS) == set(types)
    for cls in types:
        assert DEFAULT_CHECKERS[cls] is cls.check
        assert caveat_registry._JSON_KEYS[cls.type_name] == cls.json_keys | {"type"}


def test_register_refuses_duplicates_and_unfinished_classes() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(TimeCaveat)

    @dataclass(frozen=True, slots=True)
    class Unfinished(Caveat):
        type_name: ClassVar[str] = "unfinished"

        def write_text(self) -> str:
            return "unfinished"

    with pytest.raises(
        TypeError, match="does not implement read_text, read_json, write_json, check"
    ):
        register(Unfinished)
    assert "unfinished" not in caveat_registry._REGISTRY


@dataclass(frozen=True, slots=True)
class _ColourCaveat(Caveat):
    """A made-up kind, to show that one class is all a new kind takes."""

    type_name: ClassVar[str] = "test.colour"
    text_ops: ClassVar[tuple[str, ...]] = ("=", "!=")
    json_keys: ClassVar[frozenset[str]] = frozenset({"colour", "negate"})
    colour: str
    negate: bool = False

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        if value not in ("red", "blue"):
            raise ValueError("bad colour")
        return cls(value, op == "!=")

    def write_text(self) -> str:
        return f"test.colour {'!=' if self.negate else '='} {self.colour}"

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        colour = obj.get("colour")
        if colour not in ("red", "blue"):
            raise MalformedCaveat("bad colour", "colour")
        return cls(str(colour), obj.get("negate") is True)

    def write_json(self) -> dict[str, object]:
        return {"type": "test.colour", "colour": self.colour, "negate": self.negate}

    def check(self, ctx: Context) -> bool:
        return (ctx.interface == self.colour) != self.negate


def test_a_new_kind_is_one_class(monkeypatch: pytest.MonkeyPatch) -> None:
    # On copies of the registry's tables, so that other tests see the real one.
    for table in ("_REGISTRY", "_TEXT_PARSERS", "_BARE_PARSERS", "_JSON_KEYS"):
        monkeypatch.setattr(caveat_registry, table, dict(getattr(caveat_registry, table)))
    register(_ColourCaveat)
    c = parse_text("test.colour != red")
    assert c == _ColourCaveat("red", True)
    assert to_text(c) == "test.colour != red"
    assert from_json({"type": "test.colour", "colour": "red", "negate": True}) == c
    assert to_json(c) == {"type": "test.colour", "colour": "red", "negate": True}
    with pytest.raises(MalformedCaveat) as err:
        from_json({"type": "test.colour", "colour": "red", "shade": 1})
    assert err.value.key == "shade"
    with pytest.raises(CaveatUnknown):
        parse_text("test.colour = green")
    m = mint(b"k" * 32, "id", caveats=["test.colour = blue"])
    Verifier().verify(m, b"k" * 32, Context(now=0, interface="blue"))
    with pytest.raises(CaveatUnverified):
        Verifier().verify(m, b"k" * 32, Context(now=0, interface="red"))
