import dataclasses
import hashlib
import hmac

import pymacaroons
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.errors import CaveatUnknown, InvalidSignature, MalformedToken, TokenError
from service.tokens.macaroon import (
    Caveat,
    FixedKeyHmac,
    Macaroon,
    first_party_caveat,
    mint,
    new_caveat,
    new_macaroon,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

README_KEY = b"this is our super secret key; only we should know it"
README_ID = "we used our secret key"
README_LOCATION = "http://mybank/"


def test_libmacaroons_readme_vector() -> None:
    m = mint(README_KEY, README_ID, README_LOCATION)
    assert m.signature.hex() == "e3d9e02908526c4c0039ae15114115d97fdd68bf2ba379b342aaf0f617d0552f"
    m = m.add_first_party_caveat("account = 3735928559")
    assert m.signature.hex() == "1efe4763f290dbce0c1d08477367e11f4eee456a64933cf662d79772dbb82128"
    m.verify_signature(README_KEY)


def test_mint_with_caveats_equals_attenuation() -> None:
    direct = mint(README_KEY, README_ID, README_LOCATION, ["account = 3735928559", b"a = b"])
    step = (
        mint(README_KEY, README_ID.encode(), README_LOCATION)
        .add_first_party_caveat(b"account = 3735928559")
        .add_first_party_caveat("a = b")
    )
    assert direct == step
    assert direct.caveats == (Caveat(b"account = 3735928559"), Caveat(b"a = b"))


def test_signing_key_is_libmacaroons_key_generator() -> None:
    # The chain starts from HMAC(b"macaroons-key-generator", root key), not the root key.
    signing_key = hmac.new(b"macaroons-key-generator", README_KEY, hashlib.sha256).digest()
    expected = hmac.new(signing_key, README_ID.encode(), hashlib.sha256).digest()
    assert mint(README_KEY, README_ID).signature == expected


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_fixed_key_hmac_matches_stdlib(key: bytes, msg: bytes) -> None:
    assert FixedKeyHmac(key).digest(msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_fixed_key_hmac_repr_hides_key() -> None:
    assert "secret" not in repr(FixedKeyHmac(b"secret"))


def test_wrong_key_and_tampering_are_refused() -> None:
    m = mint(b"k" * 32, "id", "loc", ["time < 10"])
    m.verify_signature(b"k" * 32)
    with pytest.raises(InvalidSignature):
        m.verify_signature(b"j" * 32)
    tampered = Macaroon(m.location, m.identifier, (Caveat(b"time < 99"),), m.signature)
    with pytest.raises(InvalidSignature):
        tampered.verify_signature(b"k" * 32)
    dropped = Macaroon(m.location, m.identifier, (), m.signature)
    with pytest.raises(InvalidSignature):
        dropped.verify_signature(b"k" * 32)


def test_location_is_not_signed() -> None:
    # libmacaroons leaves the location out of the chain; so do we.
    m = mint(b"k" * 32, "id", "a")
    Macaroon("b", m.identifier, m.caveats, m.signature).verify_signature(b"k" * 32)


def test_signature_stays_out_of_repr() -> None:
    m = mint(b"k" * 32, "id", "loc", ["x"])
    assert m.signature.hex() not in repr(m)
    assert repr(m.signature) not in repr(m)


def test_predicates() -> None:
    m = mint(b"k" * 32, "id", caveats=["time < 5", "ip = 1.2.3.4"])
    third = Macaroon(m.location, m.identifier, (*m.caveats, Caveat(b"tp", b"vid", "x")), b"")
    assert third.predicates() == ["time < 5", "ip = 1.2.3.4"]
    assert third.caveats[-1].first_party is False
    assert third.caveats[0].first_party is True
    bad = Macaroon("", b"id", (Caveat(b"\xff\xfe"),), b"")
    with pytest.raises(CaveatUnknown) as err:
        bad.predicates()
    assert isinstance(err.value, TokenError)


def test_identifier_text() -> None:
    assert mint(b"k", "ząb").identifier_text() == "ząb"
    with pytest.raises(MalformedToken):
        Macaroon("", b"\xff", (), b"").identifier_text()


def test_fast_constructors_build_the_dataclass_objects() -> None:
    # first_party_caveat, new_caveat and new_macaroon fill the slots without
    # the dataclass __init__: they must know every field, and give objects
    # that compare, hash, print and refuse changes like the constructors' ones.
    assert [f.name for f in dataclasses.fields(Caveat)] == ["cid", "vid", "location"]
    assert [f.name for f in dataclasses.fields(Macaroon)] == [
        "location",
        "identifier",
        "caveats",
        "signature",
    ]
    first = first_party_caveat(b"namespace = shop")
    third = new_caveat(b"tp", b"vid", "http://tp/")
    m = new_macaroon("loc", b"id", (first, third), b"sig")
    pairs = [
        (first, Caveat(b"namespace = shop")),
        (third, Caveat(b"tp", b"vid", "http://tp/")),
        (m, Macaroon("loc", b"id", (Caveat(b"namespace = shop"), third), b"sig")),
    ]
    for fast, slow in pairs:
        assert type(fast) is type(slow)
        assert fast == slow
        assert hash(fast) == hash(slow)
        assert repr(fast) == repr(slow)
    assert first is not first_party_caveat(b"namespace = shop")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.signature = b"x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.cid = b"x"  # type: ignore[misc]
    assert dataclasses.replace(m, signature=b"t").signature == b"t"


def test_third_party_chain_matches_pymacaroons() -> None:
    pm = pymacaroons.Macaroon(location="l", identifier="i", key="root key")
    pm.add_first_party_caveat("a = b")
    pm.add_third_party_caveat("http://tp/", "caveat key", "tp-id")
    pm.add_first_party_caveat("c = d")
    caveats = tuple(
        Caveat(
            c.caveat_id_bytes,
            c.verification_key_id or None,
            c.location or None,
        )
        for c in pm.caveats
    )
    m = Macaroon("l", b"i", caveats, bytes.fromhex(pm.signature))
    m.verify_signature(b"root key")


@SETTINGS
@given(
    key=st.binary(min_size=1, max_size=64),
    ident=st.binary(max_size=100),
    caveats=st.lists(st.text(max_size=40).map(str.encode), max_size=5),
)
def test_signature_matches_pymacaroons(key: bytes, ident: bytes, caveats: list[bytes]) -> None:
    pm = pymacaroons.Macaroon(location="", identifier=ident, key=key)
    for c in caveats:
        pm.add_first_party_caveat(c)
    assert mint(key, ident, "", caveats).signature.hex() == pm.signature
