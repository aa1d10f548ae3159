import base64
import hashlib
import hmac
import typing

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.encoding import deserialize_onezone, serialize_onezone
from service.tokens.errors import InvalidSignature, MalformedToken, UnknownKey
from service.tokens.identifiers import OnezoneIdentifier, is_token_id
from service.tokens.keys import KEY_ID_PATTERN, KEY_STATES, KeyRing, KeyState, SigningKey
from service.tokens.macaroon import mint
from service.tokens.verifier import Context, Verifier

A = SigningKey("a", b"A" * 32, "active")
B = SigningKey("b", b"B" * 32, "verify")
C = SigningKey("c", b"C" * 32, "retired")


def test_tag_is_first_four_bytes_of_hmac() -> None:
    expected = hmac.new(b"A" * 32, b"key-tag", hashlib.sha256).digest()[:4].hex()
    assert A.tag == expected
    assert len(A.tag) == 8


def test_secret_never_in_repr_or_str() -> None:
    secret = b"do-not-print-me-0123456789abcdef"
    key = SigningKey("k", secret, "active")
    ring = KeyRing([key])
    for text in (repr(key), str(key), repr(ring), str(ring)):
        assert "do-not-print" not in text
        assert base64.b64encode(secret).decode() not in text
        assert secret.hex() not in text


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [B],
        [A, SigningKey("a2", b"D" * 32, "active")],
        [A, SigningKey("a", b"D" * 32, "verify")],
        [A, SigningKey("dup", b"A" * 32, "verify")],  # same secret, same tag
    ],
)
def test_ring_invariants(keys: list[SigningKey]) -> None:
    with pytest.raises(ValueError):
        KeyRing(keys)


@pytest.mark.parametrize(
    "kid,secret,state",
    [
        ("", b"x" * 32, "active"),
        ("a b", b"x" * 32, "active"),
        ("k", b"short", "active"),
        ("k", b"x" * 32, "old"),
    ],
)
def test_signing_key_validation(kid: str, secret: bytes, state: str) -> None:
    with pytest.raises(ValueError):
        SigningKey(kid, secret, state)  # type: ignore[arg-type]


def test_token_ids_carry_the_active_tag() -> None:
    ring = KeyRing([A, B, C])
    token_id = ring.new_token_id(lambda n: bytes(range(n)))
    assert token_id == A.tag + bytes(range(12)).hex()
    assert len(token_id) == 32
    assert ring.key_for_token_id(token_id) is A
    random_id = ring.new_token_id()
    assert random_id[:8] == A.tag and random_id != token_id
    with pytest.raises(ValueError):
        ring.new_token_id(lambda n: b"x")


def test_named_token_ids_carry_an_owner_hint() -> None:
    ring = KeyRing([A, B, C])
    owner = "0123456789abcdef0123456789abcdef"
    token_id = ring.new_token_id(lambda n: bytes(range(n)), owner=owner)
    assert token_id == A.tag + owner[:10] + bytes(range(7)).hex()
    assert len(token_id) == 32 and ring.key_for_token_id(token_id) is A
    assert ring.new_token_id(owner=owner) != ring.new_token_id(owner=owner)
    # An owner id that is not hex (not one of ours) gives no hint.
    for odd in ("alice", "0123", "ABCDEF0123456789"):
        assert ring.new_token_id(lambda n: b"\x00" * n, owner=odd) == A.tag + "0" * 24


def test_lookup_by_tag() -> None:
    ring = KeyRing([A, B, C])
    assert ring.key_for_token_id(B.tag + "0" * 24) is B
    with pytest.raises(UnknownKey):
        ring.key_for_token_id(C.tag + "0" * 24)  # retired
    with pytest.raises(UnknownKey):
        ring.key_for_token_id("f" * 32 if A.tag != "ffffffff" else "e" * 32)
    for bad in ("", "0" * 31, "G" * 32, A.tag.upper() + "0" * 24, "0" * 33):
        with pytest.raises(MalformedToken):
            ring.key_for_token_id(bad)
    assert isinstance(UnknownKey(), InvalidSignature)


def test_root_key_is_hkdf_subkey_hmac() -> None:
    ring = KeyRing([A])
    subkey = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"token-service/onezone"
    ).derive(A.secret)
    expected = hmac.new(subkey, b"ident", hashlib.sha256).digest()
    assert ring.root_key(A, "onezone", b"ident") == expected
    assert ring.root_key(A, "onezone", b"ident") == expected  # cached subkey
    assert ring.root_key(A, "f5", b"ident") != expected
    assert ring.root_key(A, "onezone", b"other") != expected


def test_root_key_refuses_foreign_and_retired_keys() -> None:
    ring = KeyRing([A, C])
    with pytest.raises(UnknownKey):
        ring.root_key(SigningKey("a", b"Z" * 32, "active"), "p", b"i")
    with pytest.raises(UnknownKey):
        ring.root_key(SigningKey("zz", b"A" * 32, "active"), "p", b"i")
    with pytest.raises(UnknownKey):
        ring.root_key(C, "p", b"i")
    with pytest.raises(ValueError):
        ring.root_key(A, "bad purpose", b"i")


def _mint(ring: KeyRing, user: str = "u1") -> str:
    ident = OnezoneIdentifier("named", None, user, "access", ring.new_token_id()).encode()
    root = ring.root_key(ring.active, "onezone", ident.encode())
    return serialize_onezone(mint(root, ident, "onezone", ["time < 2000000000"]))


def _verify(ring: KeyRing, token: str) -> None:
    m = deserialize_onezone(token, 4096)
    ident = OnezoneIdentifier.parse(m.identifier)
    key = ring.key_for_token_id(ident.token_id)
    Verifier().verify(m, ring.root_key(key, "onezone", m.identifier), Context(now=0))


def test_rotation_keeps_verify_only_keys_valid_and_refuses_retired() -> None:
    old = SigningKey("old", b"O" * 32, "active")
    new = SigningKey("new", b"N" * 32, "active")
    ring1 = KeyRing([old])
    token = _mint(ring1)
    _verify(ring1, token)

    # Rotate: the new key signs, the old one still verifies.
    ring2 = KeyRing([new, SigningKey("old", old.secret, "verify")])
    _verify(ring2, token)
    fresh = _mint(ring2)
    _verify(ring2, fresh)
    with pytest.raises(UnknownKey):
        _verify(ring1, fresh)

    # Retire the old key: its tokens are refused, new ones still work.
    ring3 = KeyRing([new, SigningKey("old", old.secret, "retired")])
    with pytest.raises(UnknownKey):
        _verify(ring3, token)
    _verify(ring3, fresh)


def test_from_mapping() -> None:
    data = {
        "keys": [
            {"kid": "k1", "secret": base64.b64encode(b"1" * 32).decode()},
            {
                "kid": "k2",
                "secret": base64.urlsafe_b64encode(b"2" * 40).decode().rstrip("="),
                "state": "verify",
            },
            {"kid": "k3", "secret": base64.b64encode(b"3" * 32).decode(), "state": "retired"},
        ]
    }
    ring = KeyRing.from_mapping(data)
    assert ring.active.kid == "k1"
    assert [k.state for k in ring.keys] == ["active", "verify", "retired"]
    assert ring.keys[1].secret == b"2" * 40


@pytest.mark.parametrize(
    "data,field",
    [
        ({}, "keys"),
        ({"keys": []}, "keys"),
        ({"keys": "x"}, "keys"),
        ({"keys": [5]}, "keys[0]"),
        ({"keys": [{"secret": "AAAA"}]}, "keys[0].kid"),
        ({"keys": [{"kid": "k", "secret": 5}]}, "keys[0].secret"),
        ({"keys": [{"kid": "k", "secret": "!!!"}]}, "keys[0].secret"),
        ({"keys": [{"kid": "k", "secret": "AAAA"}]}, "keys[0].secret"),
        ({"keys": [{"kid": "k", "secret": "A" * 44, "state": "old"}]}, "keys[0].state"),
        ({"keys": [{"kid": "k", "secret": "A" * 44, "color": "red"}]}, "keys[0].color"),
        ({"keys": [{"kid": "k", "secret": "A" * 44, "state": "verify"}]}, "keys"),
    ],
)
def test_from_mapping_names_the_bad_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError) as err:
        KeyRing.from_mapping(data)
    assert str(err.value).startswith(field)
    assert "A" * 44 not in str(err.value)


def test_generate_entry() -> None:
    entry = KeyRing.generate_entry()
    assert set(entry) == {"kid", "secret", "state"}
    assert entry["state"] == "active"
    assert len(base64.b64decode(entry["secret"])) == 32
    assert KeyRing.generate_entry("mine", "verify")["kid"] == "mine"
    ring = KeyRing.from_mapping({"keys": [entry, KeyRing.generate_entry(state="verify")]})
    assert ring.active.kid == entry["kid"]
    with pytest.raises(ValueError):
        KeyRing.generate_entry("bad kid")


def test_generate_development() -> None:
    ring = KeyRing.generate_development()
    assert ring.active.state == "active"
    assert len(ring.active.secret) >= 32
    assert KeyRing.generate_development().active.secret != ring.active.secret
    token = _mint(ring)
    _verify(ring, token)


def test_key_states_are_the_key_state_type() -> None:
    assert frozenset(typing.get_args(KeyState)) == KEY_STATES == {"active", "verify", "retired"}


def test_kid_rule_is_the_same_everywhere() -> None:
    for kid in ("a", "k-1.x_Y", "a" * 64):
        assert KEY_ID_PATTERN.fullmatch(kid)
        assert SigningKey(kid, b"s" * 32).kid == kid
        assert KeyRing.generate_entry(kid)["kid"] == kid
    for kid in ("", "a" * 65, "a/b", "a b"):
        assert not KEY_ID_PATTERN.fullmatch(kid)
        with pytest.raises(ValueError, match="kid must be 1-64 characters"):
            SigningKey(kid, b"s" * 32)
        with pytest.raises(ValueError, match="kid must be 1-64 characters"):
            KeyRing.generate_entry(kid)
        entry = {"kid": kid, "secret": base64.b64encode(b"s" * 32).decode()}
        with pytest.raises(ValueError, match=r"keys\[0\]\.kid: must be 1-64 characters"):
            KeyRing.from_mapping({"keys": [entry]})


@settings(max_examples=100, deadline=None, database=None, phases=(Phase.explicit, Phase.generate))
@given(st.text(alphabet="0123456789abcdefAB\n", max_size=34))
def test_key_lookup_takes_exactly_the_token_ids_is_token_id_takes(token_id: str) -> None:
    # key_for_token_id writes is_token_id out; the two must agree.
    ring = KeyRing([A, B, C])
    try:
        ring.key_for_token_id(token_id)
    except MalformedToken:
        well_formed = False
    except UnknownKey:
        well_formed = True
    else:
        well_formed = True
    assert well_formed is is_token_id(token_id)
