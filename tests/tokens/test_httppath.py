"""The path normal form and the http.path matcher: tables, then properties against a reference."""

import posixpath
import re
from urllib.parse import unquote, unquote_to_bytes

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from service.tokens import httppath
from service.tokens.httppath import (
    PathRefused,
    compile_pattern,
    is_normal,
    matches,
    normalise_path,
    normalise_pattern,
    path_segments,
    request_segments,
)

SETTINGS = settings(
    max_examples=400,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

# (raw request target, its normal form)
NORMALISED = [
    ("/", "/"),
    ("/orders", "/orders"),
    ("/orders/", "/orders/"),
    ("/orders/42?x=1&y=/../admin", "/orders/42"),
    ("/orders/42#frag/../x", "/orders/42"),
    ("/orders/42#f?g", "/orders/42"),
    ("/%6Frders", "/orders"),
    ("/%41%7a%30%2d%2E%5f%7E", "/Az0-._~"),
    ("/caf%c3%a9", "/caf%C3%A9"),
    ("/caf%C3%A9", "/caf%C3%A9"),
    ("/café", "/caf%C3%A9"),
    ("/日本", "/%E6%97%A5%E6%9C%AC"),
    ("/a b", "/a%20b"),
    ("/a|b", "/a%7Cb"),
    ('/a"<>[]^`{}', "/a%22%3C%3E%5B%5D%5E%60%7B%7D"),
    ("/a%3fb", "/a%3Fb"),
    ("/a%23b", "/a%23b"),
    ("/a/*", "/a/*"),
    ("/a/%2a", "/a/%2A"),
    ("/!$&'()*+,;=:@", "/!$&'()*+,;=:@"),
    ("/a;b/c", "/a;b/c"),
    ("/ORDERS", "/ORDERS"),
    ("/50%25", "/50%25"),
    ("/50%25off", "/50%25off"),
    ("/...", "/..."),
    ("/.well-known/x", "/.well-known/x"),
    ("/a..", "/a.."),
]

# (raw request target, a word of the reason)
REFUSED = [
    ("", "start"),
    ("orders", "start"),
    ("*", "start"),
    ("http://host/orders", "start"),
    ("?x=1", "start"),
    ("/.", "dot"),
    ("/..", "dot"),
    ("/a/./b", "dot"),
    ("/a/../b", "dot"),
    ("/a/..", "dot"),
    ("/a/%2e%2e/b", "dot"),
    ("/a/%2E%2e/b", "dot"),
    ("/a/.%2e/b", "dot"),
    ("/a/%2e/b", "dot"),
    ("/a/..;/b", "dot"),
    ("/a/..;jsessionid=1/b", "dot"),
    ("/a/.;x/b", "dot"),
    ("/a/..%3b/b", "dot"),
    ("/a/;x/b", "empty"),
    ("/a/%3Bx", "empty"),
    ("/;", "empty"),
    ("//", "empty"),
    ("//orders", "empty"),
    ("/a//b", "empty"),
    ("/a//", "empty"),
    ("/a%2Fb", "/"),
    ("/a%2fb", "/"),
    ("/a%5Cb", "\\"),
    ("/a%5cb", "\\"),
    ("/a\\b", "backslash"),
    ("/a\\..\\b", "backslash"),
    ("/%", "escape"),
    ("/%2", "escape"),
    ("/%zz", "escape"),
    ("/%g0", "escape"),
    ("/%%41", "escape"),
    ("/% 41", "escape"),
    ("/a%00", "control"),
    ("/a\x00", "control"),
    ("/a\n", "control"),
    ("/a\t", "control"),
    ("/a%0d%0aSet-Cookie:x", "control"),
    ("/a%7f", "control"),
    ("/a\x7f", "control"),
    ("/a%C2%85", "control"),
    ("/a\x85", "control"),
    ("/a%ff", "UTF-8"),
    ("/a%C3", "UTF-8"),
    ("/a%C0%AF", "UTF-8"),
    ("/a%ED%A0%80", "UTF-8"),
    ("/a\udcff", "UTF-8"),
    ("/a/%252e%252e/b", "double"),
    ("/a%252F", "double"),
    ("/a" + "b" * httppath.MAX_LENGTH, "long"),
]


@pytest.mark.parametrize("target,normal", NORMALISED)
def test_normal_forms(target: str, normal: str) -> None:
    assert normalise_path(target) == normal
    assert normalise_path(normal) == normal
    assert is_normal(normal)
    assert request_segments(target) == path_segments(normal)


@pytest.mark.parametrize("target,word", REFUSED, ids=[repr(t[:30]) for t, _ in REFUSED])
def test_refused_paths(target: str, word: str) -> None:
    with pytest.raises(PathRefused) as err:
        normalise_path(target)
    assert word in str(err.value)
    assert request_segments(target) is None
    assert not is_normal(target)


# (pattern, path, matches)
MATCHES = [
    ("/orders/**", "/orders", True),
    ("/orders/**", "/orders/", True),
    ("/orders/**", "/orders/42", True),
    ("/orders/**", "/orders/42/items/7?x", True),
    ("/orders/**", "/ordersX", False),
    ("/orders/**", "/orders.json", False),
    ("/orders/**", "/Orders/42", False),
    ("/orders/**", "/ORDERS", False),
    ("/orders/**", "/", False),
    ("/orders/**", "/other/orders/42", False),
    ("/orders/**", "/orders/../admin", False),
    ("/orders/**", "/orders/%2e%2e/admin", False),
    ("/orders/**", "/orders%2F..%2Fadmin", False),
    ("/orders/**", "/orders/..;/admin", False),
    ("/orders/**", "/orders\\..\\admin", False),
    ("/orders/**", "/orders//42", False),
    ("/orders/**", "/%6Frders/42", True),
    ("/orders", "/orders", True),
    ("/orders", "/orders?x=1", True),
    ("/orders", "/orders/", False),
    ("/orders", "/orders/42", False),
    ("/orders/", "/orders/", True),
    ("/orders/", "/orders", False),
    ("/health", "/health", True),
    ("/health", "/healthz", False),
    ("/health", "/health;x", False),
    ("/orders/*", "/orders/42", True),
    ("/orders/*", "/orders/%2A", True),
    ("/orders/*", "/orders/", False),
    ("/orders/*", "/orders", False),
    ("/orders/*", "/orders/42/", False),
    ("/orders/*", "/orders/42/items", False),
    ("/orders/*/items", "/orders/42/items", True),
    ("/orders/*/items", "/orders//items", False),
    ("/orders/*/items", "/orders/42/43/items", False),
    ("/*/items/**", "/a/items/b/c", True),
    ("/*/items/**", "/a/item/b", False),
    ("/*", "/", False),
    ("/*", "/x", True),
    ("/", "/", True),
    ("/", "/x", False),
    ("/**", "/", True),
    ("/**", "/anything/at/all/", True),
    ("/**", "/a//b", False),
    ("/café/**", "/caf%C3%A9/x", True),
    ("/café/**", "/caf%c3%a9", True),
    ("/café/**", "/cafe%CC%81", False),  # NFD is another path: no Unicode folding
    ("/a%2A", "/a*", False),
    ("/a*b", None, None),  # not a valid pattern: see PATTERNS_REFUSED
]
MATCHES = [m for m in MATCHES if m[1] is not None]


def caveat_matches(pattern: str, target: str) -> bool:
    segments = request_segments(target)
    return segments is not None and matches(compile_pattern(normalise_pattern(pattern)), segments)


@pytest.mark.parametrize("pattern,target,expected", MATCHES)
def test_matcher_table(pattern: str, target: str, expected: bool) -> None:
    assert caveat_matches(pattern, target) is expected


PATTERNS = [
    ("/orders/**", "/orders/**"),
    ("/**", "/**"),
    ("/", "/"),
    ("/a/*/b/", "/a/*/b/"),
    ("/%6Frders/*", "/orders/*"),
    ("/café", "/caf%C3%A9"),
    ("/a|b", "/a%7Cb"),
    ("/a b", "/a%20b"),
]
PATTERNS_REFUSED = [
    "",
    "orders/**",
    "**",
    "/orders/**/items",
    "/**/x",
    "/orders/**/",
    "/a*",
    "/*a",
    "/a/b*c",
    "/***",
    "/a/***",
    "/a?",
    "/a?x=1",
    "/a#x",
    "/a/../b",
    "/a/./b",
    "/a/%2e%2E",
    "/a//b",
    "//",
    "/a%2Fb",
    "/a\\b",
    "/a%00",
    "/a%",
    "/a%ff",
    "/a/..;/b",
]


@pytest.mark.parametrize("pattern,normal", PATTERNS)
def test_pattern_normal_forms(pattern: str, normal: str) -> None:
    assert normalise_pattern(pattern) == normal
    assert normalise_pattern(normal) == normal


@pytest.mark.parametrize("pattern", PATTERNS_REFUSED)
def test_refused_patterns(pattern: str) -> None:
    with pytest.raises(PathRefused):
        normalise_pattern(pattern)


def test_request_segments_cache_ignores_the_query() -> None:
    request_segments("/cached/path?a=1")
    hits = httppath._segments.cache_info().hits
    assert request_segments("/cached/path?a=2") == ("cached", "path")
    assert httppath._segments.cache_info().hits == hits + 1


# ---------------------------------------------------------------- properties

# Pieces an attacker strings together to leave a prefix or to confuse a parser.
TRICKS = [
    "..",
    ".",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2E.",
    "..;",
    ";x",
    "%3B",
    "/",
    "//",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "\\",
    "%",
    "%25",
    "%252e",
    "%252F",
    "%00",
    "\x00",
    "\t",
    "%0a",
    "%c0%ae",
    "%C3%A9",
    "%c3%a9",
    "é",
    "\uff4f",  # fullwidth o
    "\uff0f",  # fullwidth solidus
    "\u2215",
    "K",
    "\u212a",
    "İ",
    "%ff",
    "\udcff",
    "?",
    "#",
    "?/../",
    "*",
    "%2A",
    "~",
    "%7E",
    "%41",
    " ",
    "|",
    "orders",
    "ORDERS",
    "Orders",
    "%6Frders",
    "admin",
    "42",
]
targets = st.lists(st.sampled_from(TRICKS) | st.text(max_size=3), max_size=12).map(
    lambda parts: "/" + "".join(parts)
)
prefixes = st.lists(
    st.sampled_from(["orders", "a", "B", "*", "42", "café", "x y", "50%25"]), max_size=3
)


def reference_resolve(target: str, strip_parameters: bool = True) -> list[str] | None:
    """What an aggressive server could make of a target: segments after decoding
    (twice), backslashes as slashes, path parameters dropped and dot segments resolved.
    """
    path = re.split(r"[?#]", target, maxsplit=1)[0]
    try:
        decoded = unquote(unquote(path, errors="strict"), errors="strict")
    except UnicodeDecodeError:
        return None
    decoded = decoded.replace("\\", "/")
    if strip_parameters:
        decoded = "/".join(seg.split(";")[0] for seg in decoded.split("/"))
    resolved = posixpath.normpath(decoded)
    if resolved.startswith("//"):
        resolved = resolved[1:]
    trailing = decoded.endswith("/") and resolved != "/"
    segments = resolved.strip("/").split("/") if resolved != "/" else [""]
    return segments + ([""] if trailing else [])


def reference_under(pattern: str, target: str) -> bool:
    """An independent judge: does a pattern cover the target, as the reference server reads it?"""
    segments = reference_resolve(target)
    if segments is None:
        return False
    raw = pattern.split("/")[1:]
    globstar = raw[-1] == "**"
    if globstar:
        raw = raw[:-1]
    want = [unquote_to_bytes(s).decode() if s != "*" else None for s in raw]
    if len(segments) < len(want) or (not globstar and len(segments) != len(want)):
        return False
    return all((w is None and s != "") or w == s for w, s in zip(want, segments, strict=False))


@SETTINGS
@given(targets)
@example("/orders/%2e%2e/admin")
@example("/orders/..%2Fadmin")
@example("/orders%2F..%2F..%2Fadmin")
def test_normalisation_is_idempotent(target: str) -> None:
    try:
        normal = normalise_path(target)
    except PathRefused:
        return
    assert normalise_path(normal) == normal
    assert is_normal(normal)
    # Nothing the list or text form could trip over.
    assert not re.search(r"[|\s\\?#\x00-\x1f\x7f]", normal)
    # The reference server reads the same segments (only escapes differ).
    segments = reference_resolve(target, strip_parameters=False)
    assert segments == [unquote(s) for s in path_segments(normal)]


@SETTINGS
@given(prefixes, st.booleans(), targets)
@example(["orders"], True, "/orders/..;/admin")
@example(["orders"], True, "/orders/%252e%252e/admin")
@example(["orders"], True, "/orders\\..\\admin")
@example(["orders"], False, "/ORDERS")
@example(["a"], True, "/a/\u212a")
@example(["orders", "*"], False, "/orders/;x")
@example(["orders", "*"], False, "/orders/%3B")
def test_a_pattern_never_matches_outside_it(prefix: list[str], globstar: bool, suffix: str) -> None:
    pattern = "/" + "/".join(prefix + (["**"] if globstar else []))
    normal = normalise_pattern(pattern)
    for target in (suffix, "/" + "/".join(prefix) + suffix):
        if caveat_matches(normal, target):
            assert reference_under(normal, target), (pattern, target)


@SETTINGS
@given(prefixes, st.booleans(), st.lists(st.sampled_from(TRICKS), max_size=6))
def test_matched_paths_are_under_the_pattern(
    prefix: list[str], globstar: bool, tail: list[str]
) -> None:
    # Built to start inside the pattern, so that the matcher says yes often.
    pattern = "/" + "/".join(prefix + (["**"] if globstar else []))
    filled = [s.replace("*", "any") for s in prefix]
    target = "/" + "/".join(filled) + ("/" + "/".join(tail) if tail else "")
    got = caveat_matches(pattern, target)
    if got:
        assert reference_under(normalise_pattern(pattern), target)
    if not tail:
        # The path the pattern names is always accepted.
        assert got


_PLAIN_CHARS = "ABCXYZabcxyz0189-._~!$&'()*+,;=:@/"


@SETTINGS
@given(st.text(alphabet=_PLAIN_CHARS, max_size=30))
def test_plain_fast_path_agrees_with_the_walk(path: str) -> None:
    assert httppath._normalise("/" + path) == "/" + path
