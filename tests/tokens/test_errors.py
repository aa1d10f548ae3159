import pytest

from service.tokens.errors import (
    CaveatError,
    CaveatUnknown,
    CaveatUnverified,
    InvalidSignature,
    MalformedCaveat,
    MalformedToken,
    TokenError,
    TokenExpired,
    TokenTooLarge,
    UnknownKey,
)


def test_hierarchy() -> None:
    assert issubclass(UnknownKey, InvalidSignature)
    assert issubclass(TokenExpired, CaveatUnverified)
    assert issubclass(CaveatUnverified, CaveatError)
    assert issubclass(CaveatUnknown, CaveatError)
    for cls in (MalformedToken, TokenTooLarge, InvalidSignature, CaveatError, MalformedCaveat):
        assert issubclass(cls, TokenError)


def test_reasons_and_attributes() -> None:
    assert TokenError().reason == "invalid token"
    assert str(MalformedToken("bad base64")) == "bad base64"
    too_large = TokenTooLarge(1024)
    assert too_large.limit == 1024
    assert "1024" in too_large.reason
    expired = TokenExpired("time < 5")
    assert expired.caveat == "time < 5"
    assert expired.reason == "token expired"
    assert CaveatUnknown("x", "not UTF-8").reason == "not UTF-8"
    bad = MalformedCaveat("validUntil must be an integer", key="validUntil")
    assert bad.key == "validUntil"
    assert MalformedCaveat().key is None
    assert UnknownKey().reason


def test_catchable_as_token_error() -> None:
    with pytest.raises(TokenError):
        raise TokenExpired("time < 1")
