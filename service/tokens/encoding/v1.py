"""libmacaroons V1: a sequence of text-framed packets (doc/format.txt there).

A packet is four lowercase hex digits giving its whole size, the key, a
space, the value and a newline. Packets come in order: ``location``,
``identifier``, per caveat ``cid`` [``vid``] [``cl``], ``signature``; a
packet holds at most 0xFFFF bytes. Onezone tokens are V1.
"""

from __future__ import annotations

from service.tokens.encoding.fields import field_text
from service.tokens.errors import MalformedToken, TokenTooLarge
from service.tokens.macaroon import (
    SIGNATURE_SIZE,
    Caveat,
    Macaroon,
    first_party_caveat,
    new_caveat,
    new_macaroon,
)

__all__ = ["decode_v1", "encode_v1"]


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


_HEX_DIGITS = b"0123456789abcdef"


def _packet_end(b: bytes, pos: int) -> int:
    """Return the end of the V1 packet starting at pos, after checking its frame."""
    header = b[pos : pos + 4]
    # Lowercase hex only, so that a packet has a single spelling.
    if len(header) != 4 or header.translate(None, _HEX_DIGITS):
        raise MalformedToken("bad V1 packet header")
    size = int(header, 16)
    end = pos + size
    if end > len(b) or size < 7 or b[end - 1] != 0x0A:
        raise MalformedToken("bad V1 packet")
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
        raise MalformedToken("bad V1 packet")
    return end


def decode_v1(b: bytes) -> Macaroon:
    """Decode libmacaroons V1 packets; MalformedToken if invalid."""
    try:
        return _decode_v1(b)
    except IndexError:
        # Reading a key past the end of a token cut after a caveat.
        raise MalformedToken("truncated V1 token") from None


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
        location = field_text(b[13 : pos - 1], "location")
    end = _keyed_packet_end(b, pos, b"identifier ", _IDENTIFIER_SIZES)
    if not end:
        raise MalformedToken("V1 token has no identifier")
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
                raise MalformedToken("bad V1 packet")
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
            cl = field_text(b[pos + 7 : end - 1], "caveat location")
            pos = end
        append(new_caveat(cid, vid, cl))
    if n - pos != 47 or not b.startswith(_SIGNATURE_V1, pos) or b[-1] != 0x0A:
        raise MalformedToken("bad V1 signature")
    return new_macaroon(location, identifier, tuple(caveats), b[pos + 14 : -1])
