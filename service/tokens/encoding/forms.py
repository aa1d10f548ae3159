"""The text forms of tokens, and reading a token whatever its form.

Onezone tokens are V1 in base64url without padding, Onedata-escaped; F5
tokens are V2 in standard base64 with padding, at most F5_MAX_LENGTH
characters. Every reader checks the length before decoding anything.
"""

from __future__ import annotations

from service.tokens.encoding.base64_text import (
    b64decode_any,
    b64std_encode,
    b64url_encode,
    onedata_escape,
    onedata_unescape,
)
from service.tokens.encoding.v1 import decode_v1, encode_v1
from service.tokens.encoding.v2 import V2_VERSION, decode_v2, encode_v2
from service.tokens.errors import MalformedToken, TokenTooLarge
from service.tokens.macaroon import Macaroon

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "F5_MAX_LENGTH",
    "decode_binary",
    "deserialize",
    "deserialize_any",
    "deserialize_f5",
    "deserialize_onezone",
    "serialize_f5",
    "serialize_onezone",
    "serialize_v1",
    "serialize_v2",
]

DEFAULT_MAX_LENGTH = 8192
F5_MAX_LENGTH = 1024


def serialize_v1(m: Macaroon) -> str:
    """Return V1 in base64url without padding (libmacaroons style)."""
    return b64url_encode(encode_v1(m))


def serialize_v2(m: Macaroon) -> str:
    """Return V2 in base64url without padding (the libmacaroons default)."""
    return b64url_encode(encode_v2(m))


def serialize_onezone(m: Macaroon) -> str:
    """Return the Onezone form: V1, base64url without padding, Onedata-escaped."""
    return onedata_escape(serialize_v1(m))


def serialize_f5(m: Macaroon) -> str:
    """Return the F5 form: V2 in standard base64 with padding, at most 1024 characters."""
    text = b64std_encode(encode_v2(m))
    if len(text) > F5_MAX_LENGTH:
        raise TokenTooLarge(F5_MAX_LENGTH)
    return text


def _check_size(text: str | bytes, max_length: int) -> None:
    if len(text) > max_length:
        raise TokenTooLarge(max_length)


def decode_binary(raw: bytes) -> Macaroon:
    """Decode V1 or V2 bytes, telling them apart by the first byte."""
    if not raw:
        raise MalformedToken("empty token")
    if raw[0] == V2_VERSION:
        return decode_v2(raw)
    return decode_v1(raw)


def deserialize(text: str, max_length: int = DEFAULT_MAX_LENGTH) -> Macaroon:
    """Parse a V1 or V2 token in any base64 flavour."""
    _check_size(text, max_length)
    return decode_binary(b64decode_any(text))


def deserialize_onezone(text: str, max_length: int) -> Macaroon:
    """Parse a Onezone token; an unescaped V1/V2 token is accepted too."""
    _check_size(text, max_length)
    try:
        unescaped = onedata_unescape(text)
    except MalformedToken:
        # Not escaped text (it has characters escaping removes): plain base64 or nothing.
        return decode_binary(b64decode_any(text))
    try:
        return decode_binary(b64decode_any(unescaped))
    except MalformedToken as escaped_error:
        try:
            return decode_binary(b64decode_any(text))
        except MalformedToken:
            raise escaped_error from None


def deserialize_f5(text: str) -> Macaroon:
    """Parse an F5 token: V2, at most 1024 characters."""
    _check_size(text, F5_MAX_LENGTH)
    return decode_v2(b64decode_any(text))


def deserialize_any(text: str, max_length: int = DEFAULT_MAX_LENGTH) -> tuple[str, Macaroon]:
    """Parse a token of any supported form; return ("onezone" | "v1" | "v2", macaroon)."""
    _check_size(text, max_length)
    text = text.strip()
    try:
        raw = b64decode_any(text)
        m = decode_binary(raw)
    except MalformedToken as plain_error:
        try:
            return "onezone", decode_binary(b64decode_any(onedata_unescape(text)))
        except MalformedToken:
            raise plain_error from None
    return ("v2" if raw[0] == V2_VERSION else "v1"), m
