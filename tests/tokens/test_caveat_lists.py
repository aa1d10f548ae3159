"""The ListCaveat base: what the list kinds share, and how it reads their lists."""

from dataclasses import dataclass
from typing import ClassVar

import pytest

from service.tokens.caveats import CAVEAT_TYPES, HttpMethodCaveat, IpCaveat, parse_text
from service.tokens.caveats.lists import ListCaveat
from service.tokens.errors import MalformedCaveat
from service.tokens.verifier import Context

LIST_KINDS = [cls for cls in CAVEAT_TYPES if issubclass(cls, ListCaveat)]


def test_the_list_kinds() -> None:
    assert {cls.type_name for cls in LIST_KINDS} == {
        "api",
        "ip",
        "service",
        "consumer",
        "data.path",
        "data.objectid",
        "http.method",
        "http.path",
        "http.host",
        "geo.country",
        "geo.region",
    }


@pytest.mark.parametrize("cls", LIST_KINDS, ids=lambda cls: cls.type_name)
def test_items_is_the_fields_own_slot(cls: type[ListCaveat]) -> None:
    # The shared methods read the list as `items`; on a slotted class that
    # must be the field's slot itself, not a lookup by name.
    assert cls.__dict__["items"] is cls.__dict__[cls.list_attr]
    assert cls.list_key in cls.json_keys


def test_lists_handed_in_are_stored_as_tuples_and_checked() -> None:
    c = HttpMethodCaveat(["GET", "PUT"])  # type: ignore[arg-type]
    assert c.methods == ("GET", "PUT") and c.items is c.methods
    assert c.write_text() == "http.method = GET|PUT"
    assert c.write_json() == {"type": "http.method", "methods": ["GET", "PUT"]}
    with pytest.raises(MalformedCaveat, match="invalid HTTP method") as e:
        HttpMethodCaveat(("get",))
    assert e.value.key == "methods"
    with pytest.raises(MalformedCaveat, match="non-empty list"):
        IpCaveat(())


@dataclass(frozen=True)
class _PlainListCaveat(ListCaveat):
    """A subclass without slots: `items` falls back to a property."""

    type_name: ClassVar[str] = "test.plain"
    list_attr: ClassVar[str] = "names"
    list_key: ClassVar[str] = "names"
    json_keys: ClassVar[frozenset[str]] = frozenset({"names"})
    valid_item = staticmethod(str.isalpha)
    item_label: ClassVar[str] = "name"
    names: tuple[str, ...]

    def check(self, ctx: Context) -> bool:
        return False


def test_a_subclass_without_slots_reads_its_list_by_name() -> None:
    c = _PlainListCaveat.read_text("=", "a|b")
    assert c.names == ("a", "b") and c.items == ("a", "b")
    assert c.write_text() == "test.plain = a|b"
    assert _PlainListCaveat.read_json(c.write_json()) == c
    assert parse_text("ip = 10.0.0.0/8") == IpCaveat(("10.0.0.0/8",))
