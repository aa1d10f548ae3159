"""The base of the caveat kinds whose value is one non-empty list of strings.

Text form ``<type_name> = a|b|c``, JSON form ``{"type": <type_name>, <list_key>:
["a", "b", "c"]}``. A kind declares, as class variables, the dataclass field
holding its list, the JSON key, and what an entry must be; it keeps its own
``check`` and overrides only the forms that really differ (data.path writes
base64, http.host lower-cases client input, the geo kinds carry a filter).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from types import MemberDescriptorType
from typing import TYPE_CHECKING, ClassVar, Self

from service.tokens.caveats.fields import SEP, check_strings, json_str_list
from service.tokens.caveats.registry import Caveat

__all__ = ["ListCaveat"]


class ListCaveat(Caveat):
    """A caveat holding one non-empty tuple of valid strings; subclasses are frozen, slotted dataclasses."""

    __slots__ = ()

    # The dataclass field that holds the list: the only field of the
    # constructor, unless the subclass overrides the readers.
    list_attr: ClassVar[str] = "whitelist"
    # The key of the list in the JSON form, and the key MalformedCaveat names.
    list_key: ClassVar[str] = "whitelist"
    json_keys: ClassVar[frozenset[str]] = frozenset({"whitelist"})
    # What every entry must satisfy (a staticmethod), and what an entry is
    # called in the error.
    valid_item: ClassVar[staticmethod[[str], bool]]
    item_label: ClassVar[str]

    # Set for each subclass from the above: the text form's start, and the
    # list under one name whatever its field is called. On a slotted class
    # ``items`` is the field's own slot descriptor, so that reading it costs
    # what reading the field does, where getattr by name would cost more.
    text_prefix: ClassVar[str]
    items: tuple[str, ...]

    if TYPE_CHECKING:

        def __init__(self, items: tuple[str, ...], /) -> None: ...

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.text_prefix = f"{getattr(cls, 'type_name', '')} {cls.text_ops[0]} "
        slot = cls.__dict__.get(cls.list_attr)
        if not isinstance(slot, MemberDescriptorType):
            slot = property(attrgetter(cls.list_attr))
        # setattr: to mypy ``items`` is the tuple the descriptor yields.
        setattr(cls, "items", slot)  # noqa: B010

    def __post_init__(self) -> None:
        items = self.items
        # A list handed in is stored as a tuple, so that the caveat stays hashable.
        if isinstance(items, list):
            items = tuple(items)
            object.__setattr__(self, self.list_attr, items)
        check_strings(items, self.list_key, self.valid_item, self.item_label)

    @classmethod
    def read_text(cls, op: str, value: str) -> Self:
        return cls(tuple(value.split(SEP)))

    def write_text(self) -> str:
        return self.text_prefix + SEP.join(self.items)

    @classmethod
    def read_json(cls, obj: Mapping[str, object]) -> Self:
        return cls(json_str_list(obj, cls.list_key))

    def write_json(self) -> dict[str, object]:
        return {"type": self.type_name, self.list_key: list(self.items)}
