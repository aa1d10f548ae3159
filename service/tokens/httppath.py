"""One normal form for URL paths, and the patterns of ``http.path`` caveats.

A request path and a caveat's pattern are compared only after both are put in
the same normal form, so that two spellings of one resource cannot be judged
differently. From a raw request target (origin form, as received):

- the query (``?…``) and the fragment (``#…``) are dropped;
- percent-escapes of unreserved characters (``A-Z a-z 0-9 - . _ ~``) are
  decoded; every other escape is kept, with upper-case hex digits; characters
  that may not appear raw in a path (space, ``"<>[]^`{|}``, non-ASCII) are
  percent-encoded as UTF-8 — so ``/café``, ``/caf%c3%a9`` and ``/caf%C3%A9``
  are one path, while ``/a/*`` and ``/a/%2A`` stay two;
- nothing is decoded twice.

A path is refused (`PathRefused`) when the application behind the proxy could
read it as another path than the one judged here: dot segments (``.``, ``..``,
also written ``%2e``, and ``..;x`` that some servers read as ``..``), empty
segments (``//``, also ``/;x``; one trailing ``/`` is allowed and
significant), an encoded ``/`` (``%2F``) or ``\\`` (``%5C``), a raw ``\\``, a
malformed escape, an escaped escape (``%252e``: a server that decodes twice
reads ``.``), a NUL or control character (raw, escaped, or as a decoded C1
character), escapes that do not decode as UTF-8, a target that does not
start with ``/``, or one longer than `MAX_LENGTH`. Paths are case-sensitive.

Patterns: ``*`` as a whole segment matches exactly one non-empty segment; a
final ``/**`` matches the path before it and everything below; every other
segment matches itself literally. This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "MAX_LENGTH",
    "PathRefused",
    "Pattern",
    "compile_pattern",
    "is_normal",
    "matches",
    "normalise_path",
    "normalise_pattern",
    "path_segments",
    "request_segments",
]

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# pchar (RFC 3986 §3.3) without percent-escapes, plus the segment separator.
_RAW_OK = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_HEX = frozenset("0123456789ABCDEFabcdef")
# What the normal form may contain: nothing else, so a path in normal form
# never holds a separator (``|``), a space or a control character.
_NORMAL = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*")
# A path made of these characters only is already in normal form (the usual
# case, which skips the character-by-character walk).
_PLAIN = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_LENGTH = 8192  # longer targets are refused (nginx's default request line limit)


class PathRefused(ValueError):
    """The path cannot be judged safely, so no http.path pattern accepts it."""


def _encode(ch: str) -> str:
    try:
        raw = ch.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: undecodable bytes upstream
        raise PathRefused("path is not UTF-8") from None
    return "".join(f"%{b:02X}" for b in raw)


def _normalise(path: str) -> str:
    out: list[str] = []
    i = 0
    n = len(path)
    while i < n:
        ch = path[i]
        if ch == "%":
            hex2 = path[i + 1 : i + 3]
            if len(hex2) != 2 or hex2[0] not in _HEX or hex2[1] not in _HEX:
                raise PathRefused("malformed percent-escape")
            byte = int(hex2, 16)
            if byte == 0x2F or byte == 0x5C:
                raise PathRefused("encoded / or \\ in path")
            if byte < 0x20 or byte == 0x7F:
                raise PathRefused("control character in path")
            if byte == 0x25 and path[i + 3 : i + 4] in _HEX and path[i + 4 : i + 5] in _HEX:
                # %25 followed by hex digits: an escape, escaped. A server
                # that decodes twice would read another path than this one.
                raise PathRefused("double-encoded percent-escape")
            decoded = chr(byte)
            out.append(decoded if decoded in _UNRESERVED else "%" + hex2.upper())
            i += 3
            continue
        if ch in _RAW_OK:
            out.append(ch)
        elif ch == "\\":
            raise PathRefused("backslash in path")
        elif ch < " " or ch == "\x7f":
            raise PathRefused("control character in path")
        else:
            out.append(_encode(ch))
        i += 1
    normal = "".join(out)
    # Escapes must spell UTF-8, and no decoded character may be a control.
    if "%" in normal:
        try:
            text = _unquote(normal)
        except UnicodeDecodeError:
            raise PathRefused("path is not UTF-8") from None
        if _CONTROL.search(text):
            raise PathRefused("control character in path")
    return normal


def _unquote(normal: str) -> str:
    # Decodes every escape of a normal-form path (valid escapes only) as UTF-8.
    parts = normal.split("%")
    buf = bytearray(parts[0].encode("ascii"))
    for part in parts[1:]:
        buf.append(int(part[:2], 16))
        buf += part[2:].encode("ascii")
    return buf.decode("utf-8")


def _checked_segments(normal: str) -> list[str]:
    # Substring tests first: most paths have no "//", ".", ";" at all.
    if "//" in normal:
        raise PathRefused("empty path segment")
    segments = normal[1:].split("/")
    if "." in normal and ("." in segments or ".." in segments):
        raise PathRefused("dot segment in path")
    if ";" in normal or "%3B" in normal:
        for seg in segments:
            # Servers that strip path parameters read ``..;x`` (or
            # ``..%3Bx``) as ``..`` and ``;x`` as an empty segment.
            head = seg.split(";", 1)[0].split("%3B", 1)[0]
            if head == "." or head == "..":
                raise PathRefused("dot segment in path")
            if seg and not head:
                raise PathRefused("empty path segment before parameters")
    return segments


def _path_part(target: str) -> str:
    end = len(target)
    for stop in ("?", "#"):
        at = target.find(stop, 0, end)
        if at >= 0:
            end = at
    return target[:end]


def normalise_path(target: str) -> str:
    """The normal form of a request target's path; PathRefused if it must not be judged."""
    if len(target) > MAX_LENGTH:
        raise PathRefused("path too long")
    return _normal_segments(_path_part(target))[0]


def _normal_segments(path: str) -> tuple[str, list[str]]:
    # ``path`` has no query or fragment.
    if not path.startswith("/"):
        raise PathRefused("path must start with /")
    normal = path if _PLAIN.fullmatch(path) is not None else _normalise(path)
    return normal, _checked_segments(normal)


def is_normal(path: str) -> bool:
    """Whether ``path`` is a path in normal form (what `normalise_path` returns)."""
    if not path.startswith("/") or _NORMAL.fullmatch(path) is None:
        return False
    try:
        return normalise_path(path) == path
    except PathRefused:
        return False


def path_segments(normal: str) -> tuple[str, ...]:
    """The segments of a normal-form path; ``/`` is one empty segment."""
    return tuple(normal[1:].split("/"))


# ---------------------------------------------------------------- patterns

Pattern = tuple[tuple[str, ...], bool]  # (segments before any /**, ends with /**)


def normalise_pattern(pattern: str) -> str:
    """The normal form of an http.path pattern; PathRefused (with the reason) if invalid."""
    if "?" in pattern or "#" in pattern:
        raise PathRefused("a pattern has no query or fragment")
    normal = normalise_path(pattern)
    compile_pattern(normal)
    return normal


def compile_pattern(normal: str) -> Pattern:
    """Split a normal-form pattern into its segments; PathRefused if the wildcards are misplaced."""
    segments = path_segments(normal)
    globstar = segments[-1] == "**"
    if globstar:
        segments = segments[:-1]
    for seg in segments:
        if "*" in seg and seg != "*":
            raise PathRefused("* must be a whole segment, ** only the last one")
    return segments, globstar


def matches(pattern: Pattern, path: tuple[str, ...]) -> bool:
    """Whether the segments of a normal-form path match a compiled pattern."""
    segments, globstar = pattern
    if globstar:
        if len(path) < len(segments):
            return False
    elif len(path) != len(segments):
        return False
    for want, got in zip(segments, path, strict=False):
        if want == "*":
            if not got:
                return False
        elif want != got:
            return False
    return True


def request_segments(target: str) -> tuple[str, ...] | None:
    """The segments of a request target's normal form, or None if it is refused (cached)."""
    if len(target) > MAX_LENGTH:
        return None
    # The query is cut before the cache, so that it does not split one path
    # into many entries.
    if "?" in target or "#" in target:
        target = _path_part(target)
    return _segments(target)


@lru_cache(maxsize=1024)
def _segments(path: str) -> tuple[str, ...] | None:
    try:
        return tuple(_normal_segments(path)[1])
    except PathRefused:
        return None
