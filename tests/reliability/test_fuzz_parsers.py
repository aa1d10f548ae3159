"""Fuzzing the token parsers: only their own errors come out, and what parses round-trips.

Inputs are random text and bytes, and valid tokens, identifiers and caveats
with a few random edits (the edits reach far deeper than noise does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_strategies import (
    B64_ALPHABET,
    BINARY_TOKENS,
    BUILT_TOKEN,
    CAVEAT_KEYS,
    CAVEAT_TEXTS,
    IDENTIFIERS,
    JSON,
    NOW,
    ROOT,
    STRUCTURED_CAVEAT,
    STRUCTURED_IDENTIFIER,
    TEXT_TOKENS,
    TID,
    USER,
    built_macaroons,
    caveat_objects,
    edited,
    edited_caveat_json,
    fuzz_settings,
    only,
)
from hypothesis import given
from hypothesis import strategies as st
from reliability_support import figure

from service.tokens import caveats, encoding
from service.tokens.errors import CaveatUnknown, MalformedCaveat, MalformedToken, TokenError
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier, parse_identifier
from service.tokens.verifier import Context, Verifier

# Hypothesis's failure report imports a module that warns; keep failures readable.
pytestmark = [
    pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"),
    pytest.mark.timeout(180),
]
CTX = Context(now=NOW, peer_ip="10.1.2.3", service="ozw-onezone", interface="rest", method="GET")


class Cases:
    """Counts the examples a fuzz test ran (and those some parser accepted), printed at the end."""

    def __init__(self) -> None:
        self.n = 0
        self.accepted = 0

    def __call__(self) -> None:
        self.n += 1

    def accept(self, value: object) -> None:
        if value is not None:
            self.accepted += 1


@pytest.fixture
def cases(request: pytest.FixtureRequest) -> Iterator[Cases]:
    counter = Cases()
    yield counter
    figure("fuzz", f"cases: {request.node.name}", counter.n)
    figure("fuzz", f"cases some parser accepted: {request.node.name}", counter.accepted)


TOKEN_TEXT = st.one_of(
    BUILT_TOKEN,
    st.text(max_size=300),
    st.text(alphabet=B64_ALPHABET, max_size=700),
    edited(TEXT_TOKENS, st.sampled_from(list(B64_ALPHABET)) | st.text(min_size=1, max_size=3)),
)


@fuzz_settings(1500)
@given(text=TOKEN_TEXT)
def test_fuzz_token_text(cases: Cases, text: str) -> None:
    cases()
    cases.accept(only(TokenError, lambda: encoding.deserialize_any(text)))
    for parse in (
        lambda: encoding.deserialize_onezone(text, 4096),
        lambda: encoding.deserialize(text),
        lambda: encoding.deserialize_any(text)[1],
        lambda: encoding.deserialize_f5(text),
    ):
        m = only(TokenError, parse)
        if m is None:
            continue
        # Whatever parses can be written out again and read back the same.
        again = only(TokenError, lambda m=m: encoding.decode_binary(encoding.encode_v2(m)))
        assert again is None or again == m
        only(MalformedToken, lambda m=m: parse_identifier(m.identifier))
        only(TokenError, lambda m=m: Verifier().check_caveats(m, CTX))
        only(TokenError, lambda m=m: m.verify_signature(ROOT))


BYTE_ATOMS = st.binary(min_size=1, max_size=3) | st.sampled_from(
    [b"\x00", b"\x02", b"\x06", b"\x7f", b"\x80", b"\xff", b"\n", b" ", b"0000", b"ffff"]
)


@fuzz_settings(1500)
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        edited(BINARY_TOKENS, BYTE_ATOMS),
        built_macaroons().map(encoding.encode_v1),
        built_macaroons().map(encoding.encode_v2),
    )
)
def test_fuzz_token_binary(cases: Cases, raw: bytes) -> None:
    cases()
    cases.accept(only(MalformedToken, lambda: encoding.decode_binary(raw)))
    for decode in (encoding.decode_binary, encoding.decode_v1, encoding.decode_v2):
        m = only(MalformedToken, lambda decode=decode: decode(raw))
        if m is None:
            continue
        for encode in (encoding.encode_v1, encoding.encode_v2):
            encoded = only(TokenError, lambda encode=encode, m=m: encode(m))
            if encoded is not None:
                assert encoding.decode_binary(encoded) == m


SEGMENTS = st.sampled_from(
    ["2", "nmd", "tmp-0", "tmp-7", "tmp-01", f"usr-{USER}", "act", "idn", TID, "f5", "1", "shop"]
) | st.text(max_size=12)


@fuzz_settings(1000)
@given(
    ident=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.lists(SEGMENTS, min_size=1, max_size=9).map("/".join),
        edited(IDENTIFIERS, st.text(min_size=1, max_size=2)),
        STRUCTURED_IDENTIFIER,
    )
)
def test_fuzz_identifiers(cases: Cases, ident: str | bytes) -> None:
    cases()
    cases.accept(only(MalformedToken, lambda: parse_identifier(ident)))
    for parse in (parse_identifier, OnezoneIdentifier.parse, F5Identifier.parse):
        parsed = only(MalformedToken, lambda parse=parse: parse(ident))
        if parsed is not None:
            assert parse_identifier(parsed.encode()) == parsed


@fuzz_settings(1000)
@given(
    text=st.one_of(
        st.text(max_size=120),
        st.tuples(
            CAVEAT_KEYS | st.text(max_size=8),
            st.sampled_from(["<", "=", "!=", ">", ""]) | st.text(max_size=3),
            st.text(max_size=60) | st.sampled_from([t.split(" ", 2)[-1] for t in CAVEAT_TEXTS]),
        ).map(" ".join),
        edited(CAVEAT_TEXTS, st.text(min_size=1, max_size=3)),
        STRUCTURED_CAVEAT,
    )
)
def test_fuzz_caveat_text(cases: Cases, text: str) -> None:
    cases()
    parsed = only(CaveatUnknown, lambda: caveats.parse_text(text))
    cases.accept(parsed)
    if parsed is not None:
        assert caveats.parse_text(caveats.to_text(parsed)) == parsed
        assert caveats.from_json(caveats.to_json(parsed)) == parsed


@fuzz_settings(1000)
@given(
    obj=st.one_of(
        JSON,
        caveat_objects(),
        st.lists(caveat_objects(), max_size=3),
        edited_caveat_json(),
    )
)
def test_fuzz_caveat_json(cases: Cases, obj: Any) -> None:
    cases()
    parsed = only(MalformedCaveat, lambda: caveats.from_json(obj))
    cases.accept(parsed)
    if parsed is not None:
        assert caveats.from_json(caveats.to_json(parsed)) == parsed
        assert caveats.parse_text(caveats.to_text(parsed)) == parsed
    parsed_list = only(MalformedCaveat, lambda: caveats.from_json_list(obj))
    if parsed_list is not None:
        assert caveats.from_json_list([caveats.to_json(c) for c in parsed_list]) == parsed_list
