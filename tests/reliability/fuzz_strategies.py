"""Hypothesis settings and strategies shared by the fuzz tests.

Besides noise, they build inputs that are nearly right: valid tokens,
identifiers and caveats with a few random edits, and well-framed tokens whose
identifiers and caveats are fuzzed, so that the fuzz reaches past the first
check of every parser.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from service.tokens import caveats, encoding
from service.tokens.errors import CaveatUnknown
from service.tokens.macaroon import Caveat, Macaroon, mint

NOW = 1_700_000_000
ROOT = bytes(range(32))
USER = "0123456789abcdef0123456789abcdef"
TID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

CAVEAT_TEXTS = [
    f"time < {NOW + 60}",
    "ip = 10.0.0.0/8|127.0.0.1|::1/128",
    "asn = 1|2|4294967295",
    "geo.country = PL|DE",
    "geo.country != US",
    "geo.region = Europe|EU",
    "geo.region != Asia",
    "service = ozw-onezone|opw-*",
    "consumer = usr-*|grp-abc|prv-x",
    "interface = rest",
    "api = all/get/user.*.*:*|ozw/create/token.null.user_named_token,*",
    "data.readonly",
    "data.path = L3NwYWNl|L2E=",
    "data.objectid = abc123",
    "namespace = shop",
    "app = checkout",
]
IDENTIFIERS = [
    f"2/nmd/usr-{USER}/act/{TID}",
    f"2/tmp-7/usr-{USER}/idn/{TID}",
    f"f5/1/shop/checkout/3/usr-{USER}/{TID}",
]
MACAROONS = [
    mint(ROOT, IDENTIFIERS[0], "onezone", CAVEAT_TEXTS[:4]),
    mint(ROOT, IDENTIFIERS[1], "onezone", [CAVEAT_TEXTS[0], "interface = oneclient"]),
    mint(ROOT, IDENTIFIERS[2], "f5xc", ["namespace = shop", "app = checkout", f"time < {NOW}"]),
    Macaroon("loc", b"3rd", (Caveat(b"cid", b"vid" * 20, "https://x"),), bytes(32)),
]
TEXT_TOKENS = [
    *(encoding.serialize_onezone(m) for m in MACAROONS),
    *(encoding.serialize_v1(m) for m in MACAROONS),
    *(encoding.serialize_v2(m) for m in MACAROONS),
    encoding.serialize_f5(MACAROONS[2]),
]
BINARY_TOKENS = [
    *(encoding.encode_v1(m) for m in MACAROONS),
    *(encoding.encode_v2(m) for m in MACAROONS),
]
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_="


def fuzz_settings(examples: int) -> settings:
    """Deterministic enough for CI: no example database, no deadline, no explain phase."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@st.composite
def edited(draw: st.DrawFn, seeds: list[Any], atoms: st.SearchStrategy[Any]) -> Any:
    """A seed (text or bytes) with up to five random replacements, insertions, cuts or repeats.

    What is drawn never depends on the seed's length, so seeds that change between
    examples (fresh tokens) do not confuse Hypothesis's replay.
    """
    value = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "cut", "repeat"]))
        at = draw(st.integers(0, 1 << 16))
        atom = draw(atoms)
        span = draw(st.integers(1, 40))
        n = len(value)
        i = at % (n + 1)
        if op == "replace" and n:
            i = min(i, n - 1)
            value = value[:i] + atom + value[i + 1 :]
        elif op == "insert":
            value = value[:i] + atom + value[i:]
        elif op == "delete" and n:
            value = value[:i] + value[i + 1 :]
        elif op == "cut":
            value = value[:i]
        elif op == "repeat":
            value = value[:i] + value[i : i + span] * 2 + value[i:]
    return value


def only(
    allowed: type[BaseException] | tuple[type[BaseException], ...], fn: Callable[[], Any]
) -> Any:
    """fn()'s result, or None when it raised one of `allowed` (anything else propagates)."""
    try:
        return fn()
    except allowed:
        return None


def _joined(element: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(element, min_size=1, max_size=3).map("|".join)


_ID = st.from_regex(r"\*|[A-Za-z0-9_.\-]{1,8}", fullmatch=True)
_NUMBER = st.integers(min_value=-1, max_value=2**64).map(str)
CAVEAT_VALUES: dict[str, st.SearchStrategy[str]] = {
    "time <": _NUMBER,
    "ip =": _joined(
        st.tuples(st.ip_addresses(), st.sampled_from(["", "/0", "/8", "/32", "/129"])).map(
            lambda t: f"{t[0]}{t[1]}"
        )
    ),
    "asn =": _joined(_NUMBER),
    "geo.country =": _joined(st.from_regex(r"[A-Z]{2}|[a-z]{2}|[A-Z]{3}", fullmatch=True)),
    "geo.country !=": _joined(st.from_regex(r"[A-Z]{2}", fullmatch=True)),
    "geo.region =": _joined(st.sampled_from(["Europe", "EU", "Asia", "Mars", "europe"])),
    "geo.region !=": _joined(st.sampled_from(["Africa", "Oceania", ""])),
    "service =": _joined(
        st.tuples(st.sampled_from(["ozw-", "opw-", "xyz-", ""]), _ID).map("".join)
    ),
    "consumer =": _joined(
        st.tuples(st.sampled_from(["usr-", "grp-", "prv-", "bad-"]), _ID).map("".join)
    ),
    "interface =": st.sampled_from(["rest", "oneclient", "graphsync", "REST", "ftp"]),
    "api =": _joined(
        st.tuples(
            st.sampled_from(["all", "ozw", "opw", "nope"]),
            st.sampled_from(["all", "get", "create", "update", "delete", "x"]),
            st.sampled_from(["user", "token", "*", "space", "bogus"]),
            _ID,
            st.sampled_from(["instance", "*", "client_tokens", "a,b", "x,*", ""]),
            st.sampled_from(["", ":private", ":*", ":shared", ":wrong"]),
        ).map(lambda t: f"{t[0]}/{t[1]}/{t[2]}.{t[3]}.{t[4]}{t[5]}")
    ),
    "data.path =": _joined(
        st.text(max_size=20).map(lambda p: base64.b64encode(("/" + p).encode()).decode())
        | st.text(max_size=10)
    ),
    "data.objectid =": _joined(st.from_regex(r"[A-Za-z0-9]{0,12}", fullmatch=True)),
    "namespace =": st.from_regex(r"[A-Za-z0-9_.\-]{0,10}", fullmatch=True),
    "app =": st.from_regex(r"[A-Za-z0-9_.\-/]{0,10}", fullmatch=True),
}
STRUCTURED_CAVEAT = st.sampled_from(sorted(CAVEAT_VALUES)).flatmap(
    lambda prefix: CAVEAT_VALUES[prefix].map(lambda value: f"{prefix} {value}")
)
STRUCTURED_IDENTIFIER = st.one_of(
    st.tuples(
        st.sampled_from(["nmd", "tmp-0", "tmp-18", "tmp-", "tmp-007", "tmp-99999999999999999999"]),
        st.from_regex(r"[A-Za-z0-9_\-]{0,130}", fullmatch=True),
        st.sampled_from(["act", "idn", "xyz"]),
        st.from_regex(r"[0-9a-f]{31,33}", fullmatch=True),
    ).map(lambda t: f"2/{t[0]}/usr-{t[1]}/{t[2]}/{t[3]}"),
    st.tuples(
        st.from_regex(r"[A-Za-z0-9_.\-]{0,130}", fullmatch=True),
        st.from_regex(r"[a-z0-9\-]{1,10}", fullmatch=True),
        st.integers(-1, 10**19),
        st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    ).map(lambda t: f"f5/1/{t[0]}/{t[1]}/{t[2]}/usr-{USER}/{t[3]}"),
)


@st.composite
def built_macaroons(draw: st.DrawFn) -> Macaroon:
    """Well-framed macaroons whose identifier, location and caveats are fuzzed."""
    ident = draw(STRUCTURED_IDENTIFIER | edited(IDENTIFIERS, st.text(min_size=1, max_size=2)))
    location = draw(st.sampled_from(["onezone", "f5xc", ""]) | st.text(max_size=12))
    texts = draw(
        st.lists(
            STRUCTURED_CAVEAT | edited(CAVEAT_TEXTS, st.text(min_size=1, max_size=2)), max_size=4
        )
    )
    return mint(ROOT, ident, location, texts)


BUILT_TOKEN = built_macaroons().flatmap(
    lambda m: st.sampled_from(
        [encoding.serialize_onezone, encoding.serialize_v1, encoding.serialize_v2]
    ).map(lambda serialize: serialize(m))
)


CAVEAT_KEYS = st.sampled_from(
    [
        "time",
        "ip",
        "asn",
        "geo.country",
        "geo.region",
        "service",
        "consumer",
        "interface",
        "api",
        "data.path",
        "data.objectid",
        "data.readonly",
        "namespace",
        "app",
    ]
)


JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["whitelist", "blacklist", "rest", "PL", "Europe", "10.0.0.0/8", "L3M="]),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
CAVEAT_FIELDS = st.sampled_from(
    ["type", "validUntil", "whitelist", "filter", "list", "interface", "namespace", "app"]
)


@st.composite
def caveat_objects(draw: st.DrawFn) -> Any:
    obj = draw(st.dictionaries(CAVEAT_FIELDS | st.text(max_size=6), JSON, max_size=4))
    if draw(st.booleans()):
        obj["type"] = draw(CAVEAT_KEYS)
    return obj


@st.composite
def edited_caveat_json(draw: st.DrawFn) -> Any:
    """A valid caveat's JSON form with a field changed, added or removed."""
    obj = caveats.to_json(caveats.parse_text(draw(st.sampled_from(CAVEAT_TEXTS))))
    if draw(st.booleans()):
        text = draw(STRUCTURED_CAVEAT)
        try:
            obj = caveats.to_json(caveats.parse_text(text))
        except CaveatUnknown:
            pass
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(obj)) | CAVEAT_FIELDS) if obj else draw(CAVEAT_FIELDS)
        if draw(st.integers(0, 3)) == 0:
            obj.pop(key, None)
        else:
            obj[key] = draw(JSON)
    return obj


# Bodies at the bounds of JSON decoding: nesting around MAX_JSON_DEPTH and far past
# orjson's and the standard library's recursion limits, integers around 64 bits,
# the bound and Python's 4,300-digit conversion limit, and huge exponents.
NESTING_DEPTHS = st.sampled_from([31, 32, 33, 254, 255, 999, 1000, 1024, 1025, 5000, 20000])
INTEGER_DIGITS = st.sampled_from([18, 19, 20, 63, 64, 65, 4300, 4301, 5000, 20000])


@st.composite
def extreme_numbers(draw: st.DrawFn) -> bytes:
    """A JSON number literal: very long integers, long fractions, huge exponents."""
    digits = draw(INTEGER_DIGITS)
    sign = draw(st.sampled_from(["", "-"]))
    kind = draw(st.sampled_from(["int", "int", "fraction", "exponent", "float"]))
    if kind == "int":
        return (sign + "9" * digits).encode()
    if kind == "fraction":
        return (sign + "0." + "1" * digits).encode()
    if kind == "exponent":
        return (sign + "1e" + draw(st.sampled_from(["308", "309", "99999", "-99999"]))).encode()
    return (sign + "1" * digits + ".5").encode()


@st.composite
def deeply_nested(draw: st.DrawFn, leaf: bytes = b"1") -> bytes:
    """`leaf` wrapped in arrays and objects, mixed, to a drawn depth; sometimes left unclosed."""
    depth = draw(NESTING_DEPTHS)
    pattern = draw(st.sampled_from(["list", "object", "mixed"]))
    opens = {"list": [b"["], "object": [b'{"k":'], "mixed": [b"[", b'{"k":']}[pattern]
    closes = {b"[": b"]", b'{"k":': b"}"}
    chosen = [opens[i % len(opens)] for i in range(depth)]
    tail = b"".join(closes[o] for o in reversed(chosen))
    if draw(st.integers(0, 4)) == 0:
        tail = tail[: len(tail) // 2]
    return b"".join(chosen) + leaf + tail


@st.composite
def extreme_bodies(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A route's body with one field (or the whole body) replaced by an extreme value."""
    value = draw(
        extreme_numbers()
        | deeply_nested()
        | extreme_numbers().flatmap(lambda n: deeply_nested(leaf=n))
        | st.sampled_from([b"[" * 70_000, b'"' + b"[" * 60_000 + b'"', b"NaN", b"-Infinity"])
    )
    if draw(st.integers(0, 3)) == 0 or not base:
        return value
    key = draw(st.sampled_from(sorted(base)))
    fields = [
        json.dumps(k).encode() + b": " + (value if k == key else json.dumps(v).encode())
        for k, v in base.items()
    ]
    return b"{" + b", ".join(fields) + b"}"
