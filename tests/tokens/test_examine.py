from service.tokens.encoding import deserialize_onezone
from service.tokens.examine import examine
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier
from service.tokens.macaroon import Caveat, Macaroon, mint

ONEZONE_SEED = (
    "MDAxNWxvY2F00aW9uIG9uZXpvbmUKMDAzYmlkZW500aWZpZXIgSlVxNGFLVkJSTXVFN3FLbHNQVHlNX00lLeHpYZXNW"
    "dVFSMGNfMldpOXFZNAowMDFhY2lkIHRpbWUgPCAxNTIyMzU4MzMzCjAwMmZzaWduYXR1cmUgv02ByyOA9802H02rPMB7"
    "Y9mIhDVAjYDmjAUjtrMs13znukK"
)
TID = "0123456789abcdef0123456789abcdef"


def test_examine_seed_token() -> None:
    assert examine(deserialize_onezone(ONEZONE_SEED, 4096)) == {
        "onezoneDomain": "onezone",
        "id": "JUq4aKVBRMuE7qKlsPTyM_IKxzXesVuQR0c_2Wi9qY4",
        "persistence": "named",
        "type": {"accessToken": {}},
        "caveats": [{"type": "time", "validUntil": 1522358333}],
    }


def test_examine_version_2_tokens() -> None:
    ident = OnezoneIdentifier("temporary", 4, "u1", "identity", TID).encode()
    m = mint(b"k" * 32, ident, "zone.example", ["ip = 10.0.0.0/8", "not a caveat"])
    assert examine(m) == {
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


def test_examine_f5_token() -> None:
    ident = F5Identifier("shop", "checkout", 2, "u1", TID).encode()
    m = mint(b"k" * 32, ident, "", ["namespace = shop"])
    m = Macaroon(m.location, m.identifier, (*m.caveats, Caveat(b"tp", b"v", "x")), m.signature)
    result = examine(m)
    assert result["namespace"] == "shop"
    assert result["app"] == "checkout"
    assert result["generation"] == 2
    assert result["caveats"] == [
        {"type": "namespace", "namespace": "shop"},
        {"type": "thirdParty", "caveat": "tp", "location": "x"},
    ]
