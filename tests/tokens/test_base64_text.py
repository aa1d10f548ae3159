"""base64 in either alphabet and Onedata's escaping (service/tokens/encoding/base64_text.py)."""

import base64
import re

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.encoding import b64decode_any, onedata_escape, onedata_unescape
from service.tokens.errors import MalformedToken

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)


def test_onedata_escaping() -> None:
    assert onedata_escape("a0_-/+=b") == "a000102030405b"
    assert onedata_unescape("a000102030405b") == "a0_-/+=b"
    assert onedata_unescape("plain") == "plain"
    for bad in ("0", "abc0", "06", "0a", "a_b", "a-b", "x=", "a/b", "a+b"):
        with pytest.raises(MalformedToken):
            onedata_unescape(bad)


@SETTINGS
@given(st.text())
def test_onedata_escape_round_trip(s: str) -> None:
    escaped = onedata_escape(s)
    assert not set(escaped) & set("_-/+=")
    assert onedata_unescape(escaped) == s


def _reference_unescape(s: str) -> str | None:
    # The grammar written as regular expressions, as the first version did.
    if re.fullmatch(r"(?:[^0_\-/+=]|0[0-5])*", s, re.DOTALL) is None:
        return None
    return re.sub(r"0([0-5])", lambda m: "0_-/+="[int(m.group(1))], s)


@SETTINGS
@given(st.text(alphabet="0123456789ab_-/+=\n\x00", max_size=30))
def test_onedata_unescape_matches_the_grammar(s: str) -> None:
    try:
        got: str | None = onedata_unescape(s)
    except MalformedToken:
        got = None
    assert got == _reference_unescape(s)


# ---------------------------------------------------------------- base64


def test_b64decode_any_flavours() -> None:
    raw = bytes(range(256)) * 2
    for n in range(0, 20):
        data = raw[: 100 + n]
        std = base64.b64encode(data).decode()
        url = base64.urlsafe_b64encode(data).decode()
        for text in (std, url, std.rstrip("="), url.rstrip("=")):
            assert b64decode_any(text) == data
            assert b64decode_any(text.encode()) == data


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "A",
        "AB=",
        "AB===",
        "A===",
        "AB=C",
        "====",
        "ABC?",
        "AB C",
        "ABÄ=",
        "AB\n",
        "AAAAB",
        "AB",
    ],
)
def test_b64decode_any_rejects(bad: str) -> None:
    with pytest.raises(MalformedToken):
        b64decode_any(bad)


def test_b64decode_any_rejects_non_ascii_bytes() -> None:
    with pytest.raises(MalformedToken):
        b64decode_any(b"AB\xc4=")


def test_b64decode_any_rejects_non_canonical_trailing_bits() -> None:
    assert b64decode_any("AA") == b"\x00"
    assert b64decode_any("AAA") == b"\x00\x00"
    with pytest.raises(MalformedToken):
        b64decode_any("AB")  # low 4 bits of "B" are set
    with pytest.raises(MalformedToken):
        b64decode_any("AAB")  # low 2 bits of "B" are set
