"""The binary formats (V1, V2) and the text forms of tokens: vectors, limits, interop, corruption."""

import base64
import time

import pymacaroons
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens import encoding
from service.tokens.encoding import (
    b64decode_any,
    decode_v1,
    decode_v2,
    deserialize,
    deserialize_any,
    deserialize_f5,
    deserialize_onezone,
    encode_v1,
    encode_v2,
    onedata_unescape,
    serialize_f5,
    serialize_onezone,
    serialize_v1,
    serialize_v2,
)
from service.tokens.errors import InvalidSignature, MalformedToken, TokenError, TokenTooLarge
from service.tokens.macaroon import Caveat, Macaroon, mint
from service.tokens.verifier import Context, Verifier

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

ONEZONE_SEED = (
    "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNW"
    "dVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7"
    "Y9mIhDVAjYDmjAUjtrMs13znukK"
)
LIBMACAROONS_V2 = (
    "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAhRhY2NvdW50ID0gMzczNTkyODU1OQAABiD1SAf23G7fiL8Pcwaz"
    "giVio2JTPb9zObphdl2kvSWdhw"
)
ROOT = b"r" * 32

SERIALIZERS = {
    "v1": serialize_v1,
    "v2": serialize_v2,
    "onezone": serialize_onezone,
    "f5": serialize_f5,
}


def parse(fmt: str, text: str) -> Macaroon:
    if fmt == "onezone":
        return deserialize_onezone(text, 8192)
    if fmt == "f5":
        return deserialize_f5(text)
    return deserialize(text)


# ---------------------------------------------------------------- known vectors


def test_libmacaroons_v2_vector() -> None:
    m = mint(b"this is the key", "keyid", "http://example.org/", ["account = 3735928559"])
    assert serialize_v2(m) == LIBMACAROONS_V2
    assert deserialize(LIBMACAROONS_V2) == m
    assert deserialize_any(LIBMACAROONS_V2) == ("v2", m)


def test_onezone_seed_token() -> None:
    m = deserialize_onezone(ONEZONE_SEED, 4096)
    assert m.location == "onezone"
    assert len(m.identifier) == 43
    assert m.identifier == b"JUq4aKVBRMuE7qKlsPTyM_IKxzXesVuQR0c_2Wi9qY4"
    assert m.predicates() == ["time < 1522358333"]
    assert m.caveats == (Caveat(b"time < 1522358333"),)
    assert len(m.signature) == 32
    assert serialize_onezone(m) == ONEZONE_SEED
    assert deserialize_any(ONEZONE_SEED) == ("onezone", m)
    # The plain V1 text inside is accepted too, and detected as such.
    plain = onedata_unescape(ONEZONE_SEED)
    assert deserialize_onezone(plain, 4096) == m
    assert deserialize_any(plain) == ("v1", m)


# ---------------------------------------------------------------- the F5 form


def test_f5_form_is_standard_base64_padded() -> None:
    m = mint(ROOT, "f5/1/ns/app/0/usr-u/" + "a" * 32, "", ["namespace = ns", "app = app"])
    text = serialize_f5(m)
    assert len(text) % 4 == 0
    assert base64.b64decode(text, validate=True) == encode_v2(m)
    assert deserialize_f5(text) == m
    assert deserialize_f5(text.rstrip("=")) == m
    assert deserialize_f5(base64.urlsafe_b64encode(encode_v2(m)).decode()) == m


def test_f5_refuses_v1() -> None:
    m = mint(ROOT, "id")
    with pytest.raises(MalformedToken):
        deserialize_f5(serialize_v1(m))


# ---------------------------------------------------------------- size limits


def test_size_limit_checked_before_decoding() -> None:
    huge = "A" * 10_000_000
    start = time.perf_counter()
    for fn in (
        lambda: deserialize(huge),
        lambda: deserialize_any(huge),
        lambda: deserialize_onezone(huge, 4096),
        lambda: deserialize_f5(huge),
    ):
        with pytest.raises(TokenTooLarge) as err:
            fn()
        assert err.value.limit in (8192, 4096, 1024)
    assert time.perf_counter() - start < 0.5


def test_size_limits_are_exact() -> None:
    m = mint(ROOT, "x" * 600)
    text = serialize_v2(m)
    assert deserialize(text, max_length=len(text)) == m
    with pytest.raises(TokenTooLarge) as err:
        deserialize(text, max_length=len(text) - 1)
    assert err.value.limit == len(text) - 1
    with pytest.raises(TokenTooLarge):
        deserialize_onezone(serialize_onezone(m), 10)
    with pytest.raises(TokenTooLarge):
        deserialize_f5("A" * 1025)


def test_f5_serializer_refuses_oversized_tokens() -> None:
    with pytest.raises(TokenTooLarge):
        serialize_f5(mint(ROOT, "x" * 800))


def test_v1_field_limit() -> None:
    with pytest.raises(TokenTooLarge):
        encode_v1(mint(ROOT, "x" * 70_000))
    big = mint(ROOT, "x" * 5000)
    assert decode_v1(encode_v1(big)) == big


# ---------------------------------------------------------------- binary structure


def test_third_party_and_located_caveats_round_trip() -> None:
    m = Macaroon(
        "loc",
        b"id",
        (
            Caveat(b"first"),
            Caveat(b"tp", b"vid bytes", "http://tp/"),
            Caveat(b"tp2", b"vid2", None),
            Caveat(b"fp-with-location", None, "somewhere"),
        ),
        bytes(range(32)),
    )
    for fmt, serialize in SERIALIZERS.items():
        assert parse(fmt, serialize(m)) == m


def test_v2_large_fields_use_multibyte_lengths() -> None:
    m = mint(ROOT, "i" * 300, "l" * 200, ["c" * 20_000])
    raw = encode_v2(m)
    assert decode_v2(raw) == m


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x02",
        b"\x02\x00",
        b"\x02\x02\x01i\x00\x00",  # no signature
        b"\x02\x02\x01i\x00\x00\x06\x20" + bytes(31),  # short signature
        b"\x02\x02\x01i\x00\x00\x06\x20" + bytes(33),  # trailing byte
        b"\x02\x01\x01l\x01\x01l\x02\x01i\x00\x00\x06\x20" + bytes(32),  # repeated field
        b"\x02\x02\x81\x00i\x00\x00\x06\x20" + bytes(32),  # non-minimal varint
        b"\x02\x02\x05i\x00\x00\x06\x20" + bytes(32),  # length past the end
        b"\x02\x02\x01i\x00\x04\x01v\x00\x00\x06\x20" + bytes(32),  # caveat without cid
        b"\x02\x02\x01i\x00\x02\x01c\x03\x01x\x00\x00\x06\x20" + bytes(32),  # unknown field
        b"\x02\x01\x01\xff\x02\x01i\x00\x00\x06\x20" + bytes(32),  # location not UTF-8
    ],
)
def test_bad_v2_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedToken):
        decode_v2(raw)


def _v1(*packets: tuple[bytes, bytes]) -> bytes:
    return b"".join(b"%04x%s %s\n" % (len(k) + len(v) + 6, k, v) for k, v in packets)


SIG = (b"signature", bytes(32))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"00",
        _v1((b"location", b"l")),
        _v1((b"location", b"l"), SIG),  # no identifier
        _v1((b"location", b"l"), (b"identifier", b"i")),  # no signature
        _v1((b"identifier", b"i"), (b"signature", bytes(31))),
        _v1((b"identifier", b"i"), SIG, (b"cid", b"x")),  # packet after signature
        _v1((b"identifier", b"i"), (b"vid", b"v"), SIG),  # vid without cid
        _v1((b"identifier", b"i"), (b"cid", b"c"), (b"cl", b"x"), (b"vid", b"v"), SIG),
        _v1((b"identifier", b"i"), (b"bogus", b"c"), SIG),
        _v1((b"identifier", b"i"), SIG) + b"\n",
        _v1((b"identifier", b"i"), SIG).replace(b"002f", b"002F"),  # upper-case hex
        _v1((b"identifier", b"i"), SIG).replace(b"002f", b"0_2f"),
        _v1((b"identifier", b"i"), SIG)[:-1] + b"x",  # no newline
        _v1((b"location", b"\xff"), (b"identifier", b"i"), SIG),
    ],
)
def test_bad_v1_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedToken):
        decode_v1(raw)


@pytest.mark.parametrize(
    "raw",
    [
        # Headers and keys that miss the lookup tables take the slow path,
        # which must refuse the same things.
        _v1((b"identifier", b"identifier!"), SIG).replace(b"001bident", b"001Bident"),
        _v1((b"identifier", b"i"), (b"cid", b"c"), SIG).replace(b"000acid", b"000Acid"),
        _v1((b"location", b"l" * 12), (b"identifier", b"i"), SIG).replace(b"001aloc", b"001Aloc"),
        _v1((b"identifier", b"i"), (b"cid", b"c")),  # cut after a caveat
        _v1((b"identifier", b"i"), (b"cid", b"c"))[:-1],
        _v1((b"identifier", b"i"), (b"cid", b"c" * 600))[:-1] + b"x" + _v1(SIG),
        _v1((b"identifier", b"i"), (b"cid", b"c"), (b"vid", b"v"), (b"vid", b"v"), SIG),
        _v1((b"identifier", b"i"), (b"cid", b"c"), (b"cl", b"\xff"), SIG),
    ],
)
def test_bad_v1_off_the_fast_path_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedToken):
        decode_v1(raw)


def test_v1_fields_of_every_size_round_trip() -> None:
    # Sizes on both sides of the header tables (256 bytes of value).
    for n in (0, 1, 200, 255, 256, 257, 1000, 4000):
        m = Macaroon(
            "l" * n,
            b"i" * n,
            (Caveat(b"c" * n), Caveat(b"t" * n, b"v" * n, "x" * n), Caveat(b"d")),
            bytes(32),
        )
        assert decode_v1(encode_v1(m)) == m
        assert decode_v2(encode_v2(m)) == m


def test_v1_without_location_is_read() -> None:
    m = decode_v1(_v1((b"identifier", b"i d\nx"), (b"cid", b"a b"), SIG))
    assert m == Macaroon("", b"i d\nx", (Caveat(b"a b"),), bytes(32))


# ---------------------------------------------------------------- pymacaroons interop


@pytest.mark.parametrize("version", [pymacaroons.MACAROON_V1, pymacaroons.MACAROON_V2])
def test_ours_verify_in_pymacaroons(version: int) -> None:
    m = mint(ROOT, "ident", "loc", ["a = 1", "b = 2", "time < 99"])
    text = serialize_v1(m) if version == pymacaroons.MACAROON_V1 else serialize_v2(m)
    pm = pymacaroons.Macaroon.deserialize(text)
    assert pm.version == version
    v = pymacaroons.Verifier()
    v.satisfy_exact("a = 1")
    v.satisfy_exact("b = 2")
    v.satisfy_exact("time < 99")
    assert v.verify(pm, ROOT)
    with pytest.raises(pymacaroons.exceptions.MacaroonInvalidSignatureException):
        v.verify(pm, b"other key")


@pytest.mark.parametrize("version", [pymacaroons.MACAROON_V1, pymacaroons.MACAROON_V2])
def test_pymacaroons_verify_here(version: int) -> None:
    pm = pymacaroons.Macaroon(location="loc", identifier="ident", key=ROOT, version=version)
    pm.add_first_party_caveat("a = 1")
    pm.add_first_party_caveat("time < 99")
    text = pm.serialize()
    fmt, m = deserialize_any(text)
    assert fmt == ("v1" if version == pymacaroons.MACAROON_V1 else "v2")
    assert m.location == "loc"
    assert m.identifier == b"ident"
    assert m.predicates() == ["a = 1", "time < 99"]
    m.verify_signature(ROOT)
    with pytest.raises(InvalidSignature):
        m.verify_signature(b"other key")
    # And back: our encoding of what we read is exactly pymacaroons' bytes.
    serialize = serialize_v1 if version == pymacaroons.MACAROON_V1 else serialize_v2
    assert serialize(m) == text


# ---------------------------------------------------------------- properties

texts = st.text(max_size=40) | st.sampled_from(["", " ", "\n", "a|b", "ząb ☃", "x y\nz"])
caveat_texts = st.lists(texts, max_size=5)


@SETTINGS
@given(
    ident=texts,
    location=texts,
    caveats=caveat_texts,
    fmt=st.sampled_from(sorted(SERIALIZERS)),
)
def test_round_trip(ident: str, location: str, caveats: list[str], fmt: str) -> None:
    m = mint(ROOT, ident, location, caveats)
    text = SERIALIZERS[fmt](m)
    back = parse(fmt, text)
    assert back == m
    assert back.predicates() == caveats
    back.verify_signature(ROOT)
    detected, again = deserialize_any(text)
    assert again == m
    assert detected in ("v1", "v2", "onezone")


@SETTINGS
@given(
    ident=st.binary(max_size=60),
    caveats=st.lists(st.binary(max_size=30), max_size=4),
    fmt=st.sampled_from(["v1", "v2", "onezone"]),
)
def test_round_trip_binary_fields(ident: bytes, caveats: list[bytes], fmt: str) -> None:
    m = mint(ROOT, ident, "", caveats)
    assert parse(fmt, SERIALIZERS[fmt](m)) == m


def _alphabet_twin(fmt: str, text: str, i: int, c: str) -> bool:
    if fmt == "onezone":
        # Escapes 01 ("_") / 03 ("/") and 02 ("-") / 04 ("+") are twins.
        return i > 0 and text[i - 1] == "0" and {text[i], c} in ({"1", "3"}, {"2", "4"})
    return {text[i], c} in ({"-", "+"}, {"_", "/"})


VERIFIER = Verifier()


def _verify(m: Macaroon) -> None:
    # The location is outside the signature; the verifier pins it instead.
    VERIFIER.verify(m, ROOT, Context(now=0, app="a", location="onezone"))


def _check_corrupted(fmt: str, original: Macaroon, text: str, i: int, c: str) -> None:
    corrupted = text[:i] + c + text[i + 1 :]
    try:
        m = parse(fmt, corrupted)
        _verify(m)
    except TokenError:
        return
    # Only a swap between the two base64 alphabets may still be accepted,
    # and then it must be the very same token.
    assert m == original, (fmt, i, c)
    assert _alphabet_twin(fmt, text, i, c), (fmt, i, c)


REPLACEMENTS = "AQgwBag0+/-_=9 Zz\x00é"


@pytest.mark.parametrize("fmt", sorted(SERIALIZERS))
def test_every_single_character_corruption_is_rejected(fmt: str) -> None:
    m = mint(ROOT, "2/nmd/usr-u/act/" + "0" * 32, "onezone", ["time < 1700000000", "app = a"])
    _verify(m)
    text = SERIALIZERS[fmt](m)
    for i in range(len(text)):
        for c in REPLACEMENTS:
            if c != text[i]:
                _check_corrupted(fmt, m, text, i, c)


@pytest.mark.parametrize("encode,decode", [(encode_v1, decode_v1), (encode_v2, decode_v2)])
def test_every_single_byte_corruption_is_rejected(encode, decode) -> None:
    m = mint(ROOT, "ident", "onezone", ["time < 1700000000", "app = a"])
    _verify(m)
    raw = encode(m)
    for i in range(len(raw)):
        for delta in (1, 0x20, 0x80, 0xFF):
            corrupted = raw[:i] + bytes([raw[i] ^ delta]) + raw[i + 1 :]
            try:
                _verify(decode(corrupted))
            except TokenError:
                continue
            raise AssertionError(f"corruption at {i} ^ {delta:#x} accepted")


@SETTINGS
@given(
    st.text(max_size=300)
    | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=")
)
def test_random_text_only_raises_token_errors(text: str) -> None:
    for fn in (
        lambda: deserialize(text),
        lambda: deserialize_any(text),
        lambda: deserialize_onezone(text, 8192),
        lambda: deserialize_f5(text),
        lambda: b64decode_any(text),
        lambda: onedata_unescape(text),
    ):
        try:
            fn()
        except TokenError:
            pass


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_token_errors(raw: bytes) -> None:
    for data in (raw, b"\x02" + raw, b"00" + raw):
        for fn in (decode_v1, decode_v2, encoding.decode_binary, b64decode_any):
            try:
                fn(data)
            except TokenError:
                pass
        text = base64.urlsafe_b64encode(data).decode()
        try:
            deserialize_any(text)
        except TokenError:
            pass


@SETTINGS
@given(
    ident=texts,
    caveats=caveat_texts,
    cut=st.integers(min_value=0, max_value=400),
    fmt=st.sampled_from(["v1", "v2"]),
)
def test_truncated_binary_is_malformed(ident: str, caveats: list[str], cut: int, fmt: str) -> None:
    m = mint(ROOT, ident, "l", caveats)
    raw = encode_v1(m) if fmt == "v1" else encode_v2(m)
    cut = cut % len(raw)
    with pytest.raises(MalformedToken):
        (decode_v1 if fmt == "v1" else decode_v2)(raw[:cut])
