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

from service.tokens.errors import MalformedToken, TokenTooLarge
from service.tokens.macaroon import (
    SIGNATURE_SIZE,
    Caveat,
    Macaroon,
    first_party_caveat,
    new_caveat,
    new_macaroon,
)

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

_STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INDEX = {c: i for i, c in enumerate(_STD_ALPHABET)}
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def _malformed(reason: str) -> MalformedToken:
    return MalformedToken(reason)


def b64decode_any(s: str | bytes) -> bytes:
    """Decode standard or URL-safe base64, padded or not; MalformedToken if invalid."""
    # Works on str: str.replace maps the URL-safe alphabet faster than
    # bytes.translate, and a2b_base64 takes ASCII text as it is.
    if isinstance(s, str):
        if not s.isascii():
            raise _malformed("token is not base64")
        text = s
    else:
        try:
            text = bytes(s).decode("ascii")
        except UnicodeDecodeError:
            raise _malformed("token is not base64") from None
    n = len(text)
    if n == 0:
        raise _malformed("empty token")
    if text[-1] == "=":
        if n % 4:
            raise _malformed("bad base64 padding")
        core = text[:-2] if text[-2] == "=" else text[:-1]
    else:
        core = text
    core = core.replace("-", "+").replace("_", "/")
    rem = len(core) % 4
    if rem:
        if rem == 1:
            raise _malformed("bad base64 length")
        # Unused low bits of the last character must be zero (RFC 4648 3.5),
        # otherwise several strings would decode to the same token.
        last = _INDEX.get(core[-1], -1)
        if last < 0 or last & (0x0F if rem == 2 else 0x03):
            raise _malformed("non-canonical base64")
        core += "==" if rem == 2 else "="
    try:
        return _a2b(core, strict_mode=True)
    except binascii.Error:
        raise _malformed("token is not base64") from None


def _b64url(raw: bytes) -> str:
    # As in b64decode_any, str.replace beats bytes.translate for the alphabet.
    return _b2a(raw, newline=False).decode("ascii").rstrip("=").replace("+", "-").replace("/", "_")


def _b64std(raw: bytes) -> str:
    return _b2a(raw, newline=False).decode("ascii")


# ---------------------------------------------------------------- Onedata escaping

# Escape digits after a "0" other than "0" itself.
_UNESCAPE = {"1": "_", "2": "-", "3": "/", "4": "+", "5": "="}


def onedata_escape(s: str) -> str:
    """Escape base64 text the way Onedata does, leaving only alphanumerics."""
    # Chained replace is faster than str.translate with a dict; "0" goes
    # first so that the escapes it introduces stay as they are.
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
    # Escaped text is characters other than 0_-/+= and escapes "0" + [0-5].
    # Splitting on "0" and reading the pieces left to right is faster than a
    # regular expression over every character: a piece after a
    # "0" starts with its escape digit, and an empty piece means the digit
    # was itself a "0", so the piece after it is plain text.
    if "_" in s or "-" in s or "/" in s or "+" in s or "=" in s:
        raise _malformed("bad Onedata escape")
    pieces = s.split("0")
    if len(pieces) == 1:
        return s
    out = [pieces[0]]
    append = out.append
    n = len(pieces)
    i = 1
    while i < n:
        piece = pieces[i]
        if piece:
            char = _UNESCAPE.get(piece[0])
            if char is None:
                raise _malformed("bad Onedata escape")
            append(char)
            append(piece[1:])
            i += 1
        elif i + 1 < n:
            append("0")
            append(pieces[i + 1])
            i += 2
        else:
            raise _malformed("dangling Onedata escape")
    return "".join(out)


# ---------------------------------------------------------------- V1

# A V1 packet is "%04x" of its whole size, the key, a space, the value and a
# newline. Headers (size, key, space) for values up to this length come from
# tables, since formatting them is a good part of encoding.
_V1_TABLE_SIZE = 256
_V1_MAX_PACKET = 0xFFFF


def _v1_header(key: bytes, n: int) -> bytes:
    size = len(key) + n + 6
    if size > _V1_MAX_PACKET:
        raise TokenTooLarge(_V1_MAX_PACKET, "field too large for a V1 token")
    return b"%04x%b " % (size, key)


def _v1_headers(key: bytes) -> list[bytes]:
    return [_v1_header(key, n) for n in range(_V1_TABLE_SIZE)]


_LOCATION_V1 = _v1_headers(b"location")
_IDENTIFIER_V1 = _v1_headers(b"identifier")
_CID_V1 = _v1_headers(b"cid")
_VID_V1 = _v1_headers(b"vid")
_CL_V1 = _v1_headers(b"cl")
_SIGNATURE_V1 = _v1_header(b"signature", SIGNATURE_SIZE)


def encode_v1(m: Macaroon) -> bytes:
    """Encode a macaroon as libmacaroons V1 packets."""
    table = _V1_TABLE_SIZE
    location = m.location.encode("utf-8")
    ident = m.identifier
    n = len(location)
    k = len(ident)
    parts = [
        _LOCATION_V1[n] if n < table else _v1_header(b"location", n),
        location,
        b"\n",
        _IDENTIFIER_V1[k] if k < table else _v1_header(b"identifier", k),
        ident,
        b"\n",
    ]
    for c in m.caveats:
        cid = c.cid
        n = len(cid)
        parts += (_CID_V1[n] if n < table else _v1_header(b"cid", n), cid, b"\n")
        vid = c.vid
        if vid is not None:
            n = len(vid)
            parts += (_VID_V1[n] if n < table else _v1_header(b"vid", n), vid, b"\n")
        if c.location is not None:
            cl = c.location.encode("utf-8")
            n = len(cl)
            parts += (_CL_V1[n] if n < table else _v1_header(b"cl", n), cl, b"\n")
    sig = m.signature
    header = _SIGNATURE_V1 if len(sig) == SIGNATURE_SIZE else _v1_header(b"signature", len(sig))
    parts += (header, sig, b"\n")
    return b"".join(parts)


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not UTF-8") from None


_HEX_DIGITS = b"0123456789abcdef"


def _packet_end(b: bytes, pos: int) -> int:
    """Return the end of the V1 packet starting at pos, after checking its frame."""
    header = b[pos : pos + 4]
    # Lowercase hex only, so that a packet has a single spelling.
    if len(header) != 4 or header.translate(None, _HEX_DIGITS):
        raise _malformed("bad V1 packet header")
    size = int(header, 16)
    end = pos + size
    if end > len(b) or size < 7 or b[end - 1] != 0x0A:
        raise _malformed("bad V1 packet")
    return end


def _v1_sizes(key: bytes, headers: list[bytes]) -> dict[bytes, int]:
    # Header and key bytes ("0013cid ") -> packet size, for the tabled sizes.
    return {header: n + len(key) + 6 for n, header in enumerate(headers)}


_LOCATION_SIZES = _v1_sizes(b"location", _LOCATION_V1)
_IDENTIFIER_SIZES = _v1_sizes(b"identifier", _IDENTIFIER_V1)
_CID_SIZES = _v1_sizes(b"cid", _CID_V1)


def _keyed_packet_end(b: bytes, pos: int, key: bytes, sizes: dict[bytes, int]) -> int:
    """Return the end of the packet at pos if it has this key (b"cid "), else 0."""
    head = 4 + len(key)
    size = sizes.get(b[pos : pos + head])
    if size is None:
        if not b.startswith(key, pos + 4):
            return 0
        return _packet_end(b, pos)
    end = pos + size
    if end > len(b) or b[end - 1] != 0x0A:
        raise _malformed("bad V1 packet")
    return end


def decode_v1(b: bytes) -> Macaroon:
    """Decode libmacaroons V1 packets; MalformedToken if invalid."""
    try:
        return _decode_v1(b)
    except IndexError:
        # Reading a key past the end of a token cut after a caveat.
        raise _malformed("truncated V1 token") from None


def _decode_v1(b: bytes) -> Macaroon:
    # Packets must come in libmacaroons order: location, identifier, then per
    # caveat cid [vid] [cl], then signature, with nothing after it. For the
    # usual sizes one dictionary lookup of a packet's first bytes checks its
    # header and key together; other packets take _packet_end and startswith.
    # A key and its space hold no newline and a packet ends with one, so a
    # key found at offset 4 lies inside the packet.
    n = len(b)
    location = ""
    pos = _keyed_packet_end(b, 0, b"location ", _LOCATION_SIZES)
    if pos:
        location = _text(b[13 : pos - 1], "location")
    end = _keyed_packet_end(b, pos, b"identifier ", _IDENTIFIER_SIZES)
    if not end:
        raise _malformed("V1 token has no identifier")
    identifier = b[pos + 15 : end - 1]
    pos = end
    cid_sizes = _CID_SIZES
    caveats: list[Caveat] = []
    append = caveats.append
    while True:
        size = cid_sizes.get(b[pos : pos + 8])
        if size is not None:
            end = pos + size
            if end > n or b[end - 1] != 0x0A:
                raise _malformed("bad V1 packet")
        elif b.startswith(b"cid ", pos + 4):
            end = _packet_end(b, pos)
        else:
            break
        cid = b[pos + 8 : end - 1]
        pos = end
        # One byte ("v" of vid, "l" of cl) rules out the rare packets cheaply.
        if b[pos + 4] != 0x76 and b[pos + 5] != 0x6C:
            append(first_party_caveat(cid))
            continue
        vid: bytes | None = None
        cl: str | None = None
        if b.startswith(b"vid ", pos + 4):
            end = _packet_end(b, pos)
            vid = b[pos + 8 : end - 1]
            pos = end
        if b.startswith(b"cl ", pos + 4):
            end = _packet_end(b, pos)
            cl = _text(b[pos + 7 : end - 1], "caveat location")
            pos = end
        append(new_caveat(cid, vid, cl))
    if n - pos != 47 or not b.startswith(_SIGNATURE_V1, pos) or b[-1] != 0x0A:
        raise _malformed("bad V1 signature")
    return new_macaroon(location, identifier, tuple(caveats), b[pos + 14 : -1])


# ---------------------------------------------------------------- V2

_V2 = 2
_EOS = 0
_LOCATION = 1
_IDENTIFIER = 2
_VID = 4
_SIGNATURE = 6


def _v2_header(ftype: int, n: int) -> bytes:
    out = bytearray((ftype,))
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Headers (type byte, one-byte length) of fields shorter than 128 bytes.
_LOCATION_V2 = [_v2_header(_LOCATION, n) for n in range(0x80)]
_IDENTIFIER_V2 = [_v2_header(_IDENTIFIER, n) for n in range(0x80)]
_VID_V2 = [_v2_header(_VID, n) for n in range(0x80)]
_SIGNATURE_V2 = b"\x00" + _v2_header(_SIGNATURE, SIGNATURE_SIZE)  # after the caveats' EOS


def encode_v2(m: Macaroon) -> bytes:
    """Encode a macaroon in the libmacaroons V2 binary format."""
    parts = [b"\x02"]
    if m.location:
        location = m.location.encode("utf-8")
        n = len(location)
        parts += (_LOCATION_V2[n] if n < 0x80 else _v2_header(_LOCATION, n), location)
    ident = m.identifier
    n = len(ident)
    parts += (_IDENTIFIER_V2[n] if n < 0x80 else _v2_header(_IDENTIFIER, n), ident, b"\x00")
    for c in m.caveats:
        if c.location is not None:
            cl = c.location.encode("utf-8")
            n = len(cl)
            parts += (_LOCATION_V2[n] if n < 0x80 else _v2_header(_LOCATION, n), cl)
        cid = c.cid
        n = len(cid)
        parts += (_IDENTIFIER_V2[n] if n < 0x80 else _v2_header(_IDENTIFIER, n), cid)
        vid = c.vid
        if vid is not None:
            n = len(vid)
            parts += (_VID_V2[n] if n < 0x80 else _v2_header(_VID, n), vid)
        parts.append(b"\x00")
    sig = m.signature
    if len(sig) == SIGNATURE_SIZE:
        parts += (_SIGNATURE_V2, sig)
    else:
        parts += (b"\x00", _v2_header(_SIGNATURE, len(sig)), sig)
    return b"".join(parts)


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
    n = len(b)
    while True:
        ftype = b[pos]
        # The usual caveat, first-party with a cid under 128 bytes, read in
        # place; anything else is read field by field below.
        if ftype == _IDENTIFIER and b[pos + 1] < 0x80:
            end = pos + 2 + b[pos + 1]
            if end < n and b[end] == _EOS:
                append(first_party_caveat(b[pos + 2 : end]))
                pos = end + 1
                continue
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
            append(new_caveat(cid, b[start:pos], cl))
            ftype = b[pos]
        elif cl is None:
            append(first_party_caveat(cid))
        else:
            append(new_caveat(cid, None, cl))
        if ftype != _EOS:
            raise _malformed("bad V2 caveat")
        pos += 1
    if b[pos : pos + 2] != b"\x06\x20" or len(b) != pos + 2 + SIGNATURE_SIZE:
        raise _malformed("bad V2 signature")
    return new_macaroon(location, identifier, tuple(caveats), b[pos + 2 :])


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
    return ("v2" if raw[0] == _V2 else "v1"), m
