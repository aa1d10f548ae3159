import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.errors import MalformedToken
from service.tokens.identifiers import (
    NAME_PATTERN,
    TOKEN_ID_PATTERN,
    F5Identifier,
    OnezoneIdentifier,
    is_name,
    is_token_id,
    parse_identifier,
)

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

TID = "0123456789abcdef0123456789abcdef"


def test_onezone_forms() -> None:
    named = OnezoneIdentifier("named", None, "u-1_A", "access", TID)
    assert named.encode() == f"2/nmd/usr-u-1_A/act/{TID}"
    temporary = OnezoneIdentifier("temporary", 7, "u1", "identity", TID)
    assert temporary.encode() == f"2/tmp-7/usr-u1/idn/{TID}"
    for ident in (named, temporary):
        assert OnezoneIdentifier.parse(ident.encode()) == ident
        assert OnezoneIdentifier.parse(ident.encode().encode()) == ident
        assert parse_identifier(ident.encode()) == ident


def test_f5_form() -> None:
    ident = F5Identifier("shop", "checkout.v2", 3, "u1", TID)
    assert ident.encode() == f"f5/1/shop/checkout.v2/3/usr-u1/{TID}"
    assert F5Identifier.parse(ident.encode()) == ident
    assert parse_identifier(ident.encode().encode()) == ident


@pytest.mark.parametrize(
    "text",
    [
        "",
        "JUq4aKVBRMuE7qKlsPTyM_IKxzXesVuQR0c_2Wi9qY4",  # legacy (version 1) id
        f"1/nmd/usr-u/act/{TID}",
        f"2/nmd/usr-u/act/{TID}/x",
        f"2/nmd/usr-u/act:session/{TID}",
        f"2/nmd/prv-p/act/{TID}",
        f"2/nmd/usr-/act/{TID}",
        f"2/nmd/usr-a b/act/{TID}",
        f"2/nmd/usr-u/inv/{TID}",
        f"2/tmp-/usr-u/act/{TID}",
        f"2/tmp-01/usr-u/act/{TID}",
        f"2/tmp--1/usr-u/act/{TID}",
        f"2/tmp-1x/usr-u/act/{TID}",
        f"2/tmp/usr-u/act/{TID}",
        "2/nmd/usr-u/act/" + TID.upper(),
        "2/nmd/usr-u/act/" + TID[:-1],
        "2/nmd/usr-u/act/" + TID + "0",
    ],
)
def test_bad_onezone_identifiers(text: str) -> None:
    with pytest.raises(MalformedToken):
        OnezoneIdentifier.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        f"f5/2/ns/app/0/usr-u/{TID}",
        f"f5/1/ns/app/x/usr-u/{TID}",
        f"f5/1//app/0/usr-u/{TID}",
        f"f5/1/ns/a b/0/usr-u/{TID}",
        f"f5/1/ns/app/0/u/{TID}",
        f"f5/1/ns/app/0/usr-u/{TID}x",
        "f5/1/ns/app/0/usr-u",
    ],
)
def test_bad_f5_identifiers(text: str) -> None:
    with pytest.raises(MalformedToken):
        F5Identifier.parse(text)
    with pytest.raises(MalformedToken):
        parse_identifier(text)


def test_non_ascii_bytes_are_malformed() -> None:
    with pytest.raises(MalformedToken):
        OnezoneIdentifier.parse(b"2/nmd/usr-\xff/act/" + TID.encode())


def test_constructors_validate() -> None:
    with pytest.raises(ValueError):
        OnezoneIdentifier("named", 1, "u", "access", TID)
    with pytest.raises(ValueError):
        OnezoneIdentifier("temporary", None, "u", "access", TID)
    with pytest.raises(ValueError):
        OnezoneIdentifier("named", None, "u", "invite", TID)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        F5Identifier("ns", "app", -1, "u", TID)
    with pytest.raises(ValueError):
        F5Identifier("ns/x", "app", 0, "u", TID)


user_ids = st.from_regex(r"[A-Za-z0-9_\-]{1,40}", fullmatch=True)
token_ids = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
names = st.from_regex(r"[A-Za-z0-9_.\-]{1,30}", fullmatch=True)


@SETTINGS
@given(
    generation=st.none() | st.integers(0, 10**18 - 1),
    user_id=user_ids,
    kind=st.sampled_from(["access", "identity"]),
    token_id=token_ids,
)
def test_onezone_round_trip(generation: int | None, user_id: str, kind: str, token_id: str) -> None:
    persistence = "named" if generation is None else "temporary"
    ident = OnezoneIdentifier(persistence, generation, user_id, kind, token_id)  # type: ignore[arg-type]
    assert OnezoneIdentifier.parse(ident.encode()) == ident


@SETTINGS
@given(
    namespace=names,
    app=names,
    generation=st.integers(0, 10**18 - 1),
    user_id=user_ids,
    token_id=token_ids,
)
def test_f5_round_trip(
    namespace: str, app: str, generation: int, user_id: str, token_id: str
) -> None:
    ident = F5Identifier(namespace, app, generation, user_id, token_id)
    assert F5Identifier.parse(ident.encode()) == ident


@SETTINGS
@given(st.text(max_size=80) | st.binary(max_size=80))
def test_random_input_only_raises_malformed(value: str | bytes) -> None:
    try:
        parse_identifier(value)
    except MalformedToken:
        pass


# ---------------------------------------------------------------- the shared rules


@pytest.mark.parametrize(
    "value,expected",
    [
        (TID, True),
        ("f" * 32, True),
        ("F" * 32, False),
        ("0" * 31, False),
        ("0" * 33, False),
        ("g" + "0" * 31, False),
        (TID + "\n", False),
        (b"0" * 32, False),
        (None, False),
    ],
)
def test_is_token_id(value: object, expected: bool) -> None:
    assert is_token_id(value) is expected
    if isinstance(value, str):
        assert (TOKEN_ID_PATTERN.fullmatch(value) is not None) is expected


@SETTINGS
@given(st.text(alphabet="aZ09_.-ą²\u0661 /|=\n", max_size=130) | st.text(max_size=12))
def test_is_name_is_the_name_pattern(value: str) -> None:
    # is_name skips the regular expression for plain alphanumerics.
    assert is_name(value) is (NAME_PATTERN.fullmatch(value) is not None)


@SETTINGS
@given(st.text(alphabet="0123456789abcdefABG\n", max_size=34))
def test_identifiers_take_exactly_the_token_ids_is_token_id_takes(token_id: str) -> None:
    try:
        OnezoneIdentifier("named", None, "u1", "access", token_id)
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert accepted is is_token_id(token_id)
