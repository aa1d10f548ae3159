"""Binary and text forms of macaroons.

V1 and V2 are the libmacaroons binary formats (doc/format.txt there); the text
forms are base64 of those bytes. Onezone tokens are V1 in base64url without
padding, with Onedata's escaping on top so they are purely alphanumeric.
F5 tokens are V2 in standard base64 with padding.

Readers accept either base64 alphabet (as libmacaroons does), padded or not,
but pads must be right and the unused bits of the last character zero, so a
token has no spellings beyond those of the alphabet and padding.
"""

from __future__ import annotations

import binascii
import re

from service.tokens.errors import MalformedToken, TokenTooLarge
from service.tokens.macaroon import SIGNATURE_SIZE, Caveat, Macaroon, first_party_caveat

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "F5_MAX_LENGTH",
    "b64decode_any",
    "decode_binary",
    "decode_v1",
    "decode_v2",
    "deserialize",
    "deserialize_any",
    "deserialize_f5",
    "deserialize_onezone",
    "encode_v1",
    "encode_v2",
    "onedata_escape",
    "onedata_unescape",
    "serialize_f5",
    "serialize_onezone",
    "serialize_v1",
    "serialize_v2",
]

DEFAULT_MAX_LENGTH = 8192
F5_MAX_LENGTH = 1024

# ---------------------------------------------------------------- base64

_STD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INDEX = [-1] * 256
for _i, _c in enumerate(_STD_ALPHABET):
    _INDEX[_c] = _i
del _i, _c
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_STD_TO_URL = bytes.maketrans(b"+/", b"-_")
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def _malformed(reason: str) -> MalformedToken:
    return MalformedToken(reason)


def b64decode_any(s: str | bytes) -> bytes:
    """Decode standard or URL-safe base64, padded or not; MalformedToken if invalid."""
    if isinstance(s, str):
        try:
            data = s.encode("ascii")
        except UnicodeEncodeError:
            raise _malformed("token is not base64") from None
    else:
        data = bytes(s)
    n = len(data)
    if n == 0:
        raise _malformed("empty token")
    if data[-1] == 0x3D:  # "="
        if n % 4:
            raise _malformed("bad base64 padding")
        core = data[:-2] if data[-2] == 0x3D else data[:-1]
    else:
        core = data
    core = core.translate(_URL_TO_STD)
    rem = len(core) % 4
    if rem:
        if rem == 1:
            raise _malformed("bad base64 length")
        # Unused low bits of the last character must be zero (RFC 4648 3.5),
        # otherwise several strings would decode to the same token.
        last = _INDEX[core[-1]]
        if last < 0 or last & (0x0F if rem == 2 else 0x03):
            raise _malformed("non-canonical base64")
        core += b"==" if rem == 2 else b"="
    try:
        return _a2b(core, strict_mode=True)
    except binascii.Error:
        raise _malformed("token is not base64") from None


def _b64url(raw: bytes) -> str:
    return _b2a(raw, newline=False).rstrip(b"=").translate(_STD_TO_URL).decode("ascii")


def _b64std(raw: bytes) -> str:
    return _b2a(raw, newline=False).decode("ascii")


# ---------------------------------------------------------------- Onedata escaping

_UNESCAPE = {"0": "0", "1": "_", "2": "-", "3": "/", "4": "+", "5": "="}
_ESCAPED_TEXT = re.compile(r"(?:[^0_\-/+=]|0[0-5])*", re.DOTALL)
_ESCAPE_SEQ = re.compile(r"0([0-5])")


def onedata_escape(s: str) -> str:
    """Escape base64 text the way Onedata does, leaving only alphanumerics."""
    # Chained replace is several times faster than str.translate with a
    # dict; "0" goes first so that the escapes it introduces stay as they are.
    return (
        s.replace("0", "00")
        .replace("_", "01")
        .replace("-", "02")
        .replace("/", "03")
        .replace("+", "04")
        .replace("=", "05")
    )


def onedata_unescape(s: str) -> str:
    """Undo onedata_escape; MalformedToken on a bad or dangling escape."""
    if _ESCAPED_TEXT.fullmatch(s) is None:
        raise _malformed("bad Onedata escape")
    if "0" not in s:
        return s
    return _ESCAPE_SEQ.sub(lambda m: _UNESCAPE[m.group(1)], s)


# ---------------------------------------------------------------- V1

_V1_MAX_PACKET = 0xFFFF
_HEX_DIGITS = b"0123456789abcdef"
# Packet sizes are four lowercase hex digits; small ones come from a table.
_HEX4 = [b"%04x" % i for i in range(1024)]
_SIGNATURE_PACKET = b"002fsignature "


def _hex4(size: int) -> bytes:
    if size < 1024:
        return _HEX4[size]
    if size > _V1_MAX_PACKET:
        raise TokenTooLarge(_V1_MAX_PACKET, "field too large for a V1 token")
    return b"%04x" % size


def encode_v1(m: Macaroon) -> bytes:
    """Encode a macaroon as libmacaroons V1 packets."""
    location = m.location.encode("utf-8")
    ident = m.identifier
    parts = [
        _hex4(len(location) + 14),
        b"location ",
        location,
        b"\n",
        _hex4(len(ident) + 16),
        b"identifier ",
        ident,
        b"\n",
    ]
    append = parts.append
    for c in m.caveats:
        cid = c.cid
        parts += (_hex4(len(cid) + 9), b"cid ", cid, b"\n")
        if c.vid is not None:
            parts += (_hex4(len(c.vid) + 9), b"vid ", c.vid, b"\n")
        if c.location is not None:
            cl = c.location.encode("utf-8")
            parts += (_hex4(len(cl) + 8), b"cl ", cl, b"\n")
    append(_SIGNATURE_PACKET)
    append(m.signature)
    append(b"\n")
    return b"".join(parts)


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not UTF-8") from None


_HEX4_VALUE = {h: i for i, h in enumerate(_HEX4)}


def _packet_end(b: bytes, pos: int) -> int:
    """Return the end of the V1 packet starting at pos, after checking its frame."""
    header = b[pos : pos + 4]
    size = _HEX4_VALUE.get(header)
    if size is None:
        if len(header) != 4 or header.translate(None, _HEX_DIGITS):
            raise _malformed("bad V1 packet header")
        size = int(header, 16)
    end = pos + size
    if end > len(b) or size < 7 or b[end - 1] != 0x0A:
        raise _malformed("bad V1 packet")
    return end


def decode_v1(b: bytes) -> Macaroon:
    """Decode libmacaroons V1 packets; MalformedToken if invalid."""
    # Packets must come in libmacaroons order: location, identifier, then per
    # caveat cid [vid] [cl], then signature, with nothing after it.
    n = len(b)
    starts = b.startswith
    pos = 0
    end = _packet_end(b, pos)
    location = ""
    if starts(b"location ", 4):
        location = _text(b[13 : end - 1], "location")
        pos = end
        end = _packet_end(b, pos)
    if not starts(b"identifier ", pos + 4):
        raise _malformed("V1 token has no identifier")
    identifier = b[pos + 15 : end - 1]
    caveats: list[Caveat] = []
    pos = end
    end = _packet_end(b, pos)
    while starts(b"cid ", pos + 4):
        cid = b[pos + 8 : end - 1]
        pos = end
        end = _packet_end(b, pos)
        vid: bytes | None = None
        cl: str | None = None
        # Looking at single bytes first keeps the common first-party case cheap.
        if b[pos + 4] == 0x76 and starts(b"vid ", pos + 4):
            vid = b[pos + 8 : end - 1]
            pos = end
            end = _packet_end(b, pos)
        if b[pos + 5] == 0x6C and starts(b"cl ", pos + 4):
            cl = _text(b[pos + 7 : end - 1], "caveat location")
            pos = end
            end = _packet_end(b, pos)
        if vid is None and cl is None:
            caveats.append(first_party_caveat(cid))
        else:
            caveats.append(Caveat(cid, vid, cl))
    if end != n or end - pos != 47 or not starts(b"signature ", pos + 4):
        raise _malformed("bad V1 signature")
    return Macaroon(location, identifier, tuple(caveats), b[pos + 14 : end - 1])


# ---------------------------------------------------------------- V2

_V2 = 2
_EOS = 0
_LOCATION = 1
_IDENTIFIER = 2
_VID = 4
_SIGNATURE = 6


def _varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _field_v2(out: bytearray, ftype: int, data: bytes) -> None:
    out.append(ftype)
    size = len(data)
    if size < 0x80:
        out.append(size)
    else:
        _varint(out, size)
    out += data


def encode_v2(m: Macaroon) -> bytes:
    """Encode a macaroon in the libmacaroons V2 binary format."""
    out = bytearray(b"\x02")
    if m.location:
        _field_v2(out, _LOCATION, m.location.encode("utf-8"))
    _field_v2(out, _IDENTIFIER, m.identifier)
    out.append(_EOS)
    for c in m.caveats:
        if c.location is not None:
            _field_v2(out, _LOCATION, c.location.encode("utf-8"))
        _field_v2(out, _IDENTIFIER, c.cid)
        if c.vid is not None:
            _field_v2(out, _VID, c.vid)
        out.append(_EOS)
    out.append(_EOS)
    _field_v2(out, _SIGNATURE, m.signature)
    return bytes(out)


def _field_end(b: bytes, pos: int) -> tuple[int, int]:
    """Return (data start, data end) of the field whose type byte is at pos."""
    size = b[pos + 1]
    start = pos + 2
    if size >= 0x80:
        size, start = _read_varint(b, pos + 1)
    end = start + size
    if end > len(b):
        raise _malformed("truncated V2 token")
    return start, end


def _read_varint(b: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = b[pos]
        pos += 1
        if byte < 0x80:
            if byte == 0 and shift:
                raise _malformed("non-minimal varint")
            return value | (byte << shift), pos
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 28:
            raise _malformed("varint too long")


def decode_v2(b: bytes) -> Macaroon:
    """Decode the libmacaroons V2 binary format; MalformedToken if invalid."""
    try:
        return _decode_v2(b)
    except IndexError:
        raise _malformed("truncated V2 token") from None


def _decode_v2(b: bytes) -> Macaroon:
    if not b or b[0] != _V2:
        raise _malformed("not a V2 token")
    location = ""
    pos = 1
    if b[pos] == _LOCATION:
        start, pos = _field_end(b, pos)
        location = _text(b[start:pos], "location")
    if b[pos] != _IDENTIFIER:
        raise _malformed("bad V2 header")
    start, pos = _field_end(b, pos)
    identifier = b[start:pos]
    if b[pos] != _EOS:
        raise _malformed("bad V2 header")
    pos += 1
    caveats: list[Caveat] = []
    append = caveats.append
    while True:
        ftype = b[pos]
        if ftype == _EOS:
            pos += 1
            break
        cl: str | None = None
        if ftype == _LOCATION:
            start, pos = _field_end(b, pos)
            cl = _text(b[start:pos], "caveat location")
            ftype = b[pos]
        if ftype != _IDENTIFIER:
            raise _malformed("V2 caveat has no identifier")
        start, pos = _field_end(b, pos)
        cid = b[start:pos]
        ftype = b[pos]
        if ftype == _VID:
            start, pos = _field_end(b, pos)
            append(Caveat(cid, b[start:pos], cl))
            ftype = b[pos]
        elif cl is None:
            append(first_party_caveat(cid))
        else:
            append(Caveat(cid, None, cl))
        if ftype != _EOS:
            raise _malformed("bad V2 caveat")
        pos += 1
    if b[pos : pos + 2] != b"\x06\x20" or len(b) != pos + 2 + SIGNATURE_SIZE:
        raise _malformed("bad V2 signature")
    return Macaroon(location, identifier, tuple(caveats), b[pos + 2 :])


# ---------------------------------------------------------------- text forms


def serialize_v1(m: Macaroon) -> str:
    """Return V1 in base64url without padding (libmacaroons style)."""
    return _b64url(encode_v1(m))


def serialize_v2(m: Macaroon) -> str:
    """Return V2 in base64url without padding (the libmacaroons default)."""
    return _b64url(encode_v2(m))


def serialize_onezone(m: Macaroon) -> str:
    """Return the Onezone form: V1, base64url without padding, Onedata-escaped."""
    return onedata_escape(serialize_v1(m))


def serialize_f5(m: Macaroon) -> str:
    """Return the F5 form: V2 in standard base64 with padding, at most 1024 characters."""
    text = _b64std(encode_v2(m))
    if len(text) > F5_MAX_LENGTH:
        raise TokenTooLarge(F5_MAX_LENGTH)
    return text


def _check_size(text: str | bytes, max_length: int) -> None:
    if len(text) > max_length:
        raise TokenTooLarge(max_length)


def decode_binary(raw: bytes) -> Macaroon:
    """Decode V1 or V2 bytes, telling them apart by the first byte."""
    if not raw:
        raise _malformed("empty token")
    if raw[0] == _V2:
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
        return decode_binary(b64decode_any(onedata_unescape(text)))
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
    return ("v2" if raw[0] == _V2 else "v1"), m
