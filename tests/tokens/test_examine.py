import pytest

from service.tokens.encoding import deserialize_onezone
from service.tokens.errors import MalformedToken, ThirdPartyCaveat
from service.tokens.examine import examine
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier
from service.tokens.macaroon import Caveat, Macaroon, mint

ONEZONE_SEED = (
    "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNW"
    "dVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7"
    "Y9mIhDVAjYDmjAUjtrMs13znukK"
)
TID = "0123456789abcdef0123456789abcdef"


def test_examine_refuses_identifiers_that_are_not_ours() -> None:
    # The seed's token has a pre-version-2 identifier: nothing is guessed about it.
    with pytest.raises(MalformedToken, match="bad token identifier"):
        examine(deserialize_onezone(ONEZONE_SEED, 4096), "onezone", "f5xc")
    for identifier in ("keyid", "2/nmd/usr-u1/act/short", "f5/1/a/b/x/usr-u1/" + TID, ""):
        with pytest.raises(MalformedToken):
            examine(mint(b"k" * 32, identifier, "onezone", []), "onezone", "f5xc")


def test_examine_version_2_tokens() -> None:
    ident = OnezoneIdentifier("temporary", 4, "u1", "identity", TID).encode()
    m = mint(b"k" * 32, ident, "zone.example", ["ip = 10.0.0.0/8", "not a caveat"])
    assert examine(m, "zone.example", "f5xc") == {
        "onezoneDomain": "zone.example",
        "id": TID,
        "persistence": "temporary",
        "generation": 4,
        "subject": {"type": "user", "id": "u1"},
        "type": {"identityToken": {}},
        "caveats": [
            {"type": "ip", "whitelist": ["10.0.0.0/8"]},
            {"type": "unknown", "caveat": "not a caveat"},
        ],
    }


def test_examine_refuses_another_location() -> None:
    onezone = mint(b"k" * 32, OnezoneIdentifier("named", None, "u1", "access", TID).encode())
    f5 = mint(b"k" * 32, F5Identifier("shop", "checkout", 2, "u1", TID).encode(), "f5xc")
    for m, domain in ((onezone, "onezone"), (f5, "onezone")):
        for location in ("evil.example", "", "ONEZONE", "f5xc" if m is onezone else "onezone"):
            moved = Macaroon(location, m.identifier, m.caveats, m.signature)
            with pytest.raises(MalformedToken, match="another location"):
                examine(moved, domain, "f5xc")


def test_examine_f5_token() -> None:
    ident = F5Identifier("shop", "checkout", 2, "u1", TID).encode()
    m = mint(b"k" * 32, ident, "f5xc", ["namespace = shop"])
    result = examine(m, "onezone", "f5xc")
    assert result == {
        "location": "f5xc",
        "id": TID,
        "namespace": "shop",
        "app": "checkout",
        "generation": 2,
        "subject": {"type": "user", "id": "u1"},
        "type": {"accessToken": {}},
        "caveats": [{"type": "namespace", "namespace": "shop"}],
    }


def test_examine_refuses_third_party_caveats() -> None:
    ident = F5Identifier("shop", "checkout", 2, "u1", TID).encode()
    m = mint(b"k" * 32, ident, "f5xc", ["namespace = shop"])
    m = Macaroon(m.location, m.identifier, (*m.caveats, Caveat(b"tp", b"v", "x")), m.signature)
    with pytest.raises(ThirdPartyCaveat) as caught:
        examine(m, "onezone", "f5xc")
    assert caught.value.caveat == "tp"
    assert caught.value.reason == "third-party caveats are not supported"
