"""The parsers of time, namespace and app, which skip their constructors' checks.

They check a value themselves and fill the slot directly, so they must accept
exactly what the constructors accept.
"""

import re

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.caveats import (
    AnyCaveat,
    AppCaveat,
    NamespaceCaveat,
    TimeCaveat,
    parse_text,
)
from service.tokens.errors import CaveatUnknown, MalformedCaveat

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

# Text and JSON forms side by side, as Onedata writes them.
_NAME_LIKE = st.text(alphabet="aZ09_.-ą²\u0661 /|=", max_size=130) | st.text(max_size=12)


@SETTINGS
@given(_NAME_LIKE)
def test_name_parsers_accept_what_the_constructors_accept(value: str) -> None:
    for text, cls in ((f"namespace = {value}", NamespaceCaveat), (f"app = {value}", AppCaveat)):
        try:
            expected: AnyCaveat | None = cls(value)
        except MalformedCaveat:
            expected = None
        try:
            got: AnyCaveat | None = parse_text(text)
        except CaveatUnknown:
            got = None
        assert got == expected


@pytest.mark.parametrize("value", ["a" * 128, "a-b.c_D9", "Z"])
def test_names_at_the_limits(value: str) -> None:
    assert parse_text(f"namespace = {value}") == NamespaceCaveat(value)
    with pytest.raises(CaveatUnknown):
        parse_text(f"namespace = {value}{'a' * 128}")


@SETTINGS
@given(
    st.text(alphabet="0123456789+-_ \u0661²a", max_size=21)
    | st.integers(min_value=0, max_value=2**64).map(str)
)
def test_time_parser_accepts_plain_decimals_only(value: str) -> None:
    # Canonical decimals: no sign, no leading zeros.
    valid = re.fullmatch(r"0|[1-9][0-9]{0,18}", value) is not None and int(value) <= 2**63 - 1
    try:
        got: AnyCaveat | None = parse_text(f"time < {value}")
    except CaveatUnknown:
        got = None
    assert got == (TimeCaveat(int(value)) if valid else None)
