"""The HTTP request caveats (http.method, http.path, http.host) and the README's tables of them."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens import httppath
from service.tokens.caveats import (
    HttpHostCaveat,
    HttpMethodCaveat,
    HttpPathCaveat,
    from_json,
    parse_text,
    to_json,
    to_text,
)
from service.tokens.errors import CaveatUnknown, MalformedCaveat
from service.tokens.macaroon import mint
from service.tokens.verifier import Context, Verifier

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

# Text and JSON forms side by side, as Onedata writes them.
# ---------------------------------------------------------------- HTTP request caveats


def test_http_json_forms_are_normalised() -> None:
    path = from_json({"type": "http.path", "patterns": ["/café/**", "/%6Frders/*", "/a|b"]})
    assert path == HttpPathCaveat(("/caf%C3%A9/**", "/orders/*", "/a%7Cb"))
    assert to_text(path) == "http.path = /caf%C3%A9/**|/orders/*|/a%7Cb"
    host = from_json({"type": "http.host", "hosts": ["API.Example.COM:8443", "[2001:DB8::1]"]})
    assert host == HttpHostCaveat(("api.example.com:8443", "[2001:db8::1]"))
    # The constructors take the canonical form only.
    for bad in (
        lambda: HttpPathCaveat(("/café",)),
        lambda: HttpHostCaveat(("API.example.com",)),
        lambda: HttpMethodCaveat(("get",)),
    ):
        with pytest.raises(MalformedCaveat):
            bad()


@SETTINGS
@given(
    st.sampled_from(["http.method = ", "http.path = ", "http.host = "]),
    st.text(alphabet="GETHADgh/*.%2eEfF:[]|; \t\\ü\u212a0123456789-", max_size=24),
)
def test_http_texts_parse_only_in_canonical_form(prefix: str, value: str) -> None:
    text = prefix + value
    try:
        c = parse_text(text)
    except CaveatUnknown as e:
        assert e.caveat == text
    else:
        assert to_text(c) == text


def _corruptions() -> list[str]:
    """Non-canonical or invalid variants of valid caveat texts (each is rejected by construction)."""
    valid = [
        "http.method = GET|HEAD",
        "http.path = /orders/**|/health",
        "http.host = api.example.com|api.example.com:8443",
        "time < 1700000000",
        "namespace = shop",
    ]

    def value_at(t: str, at: int, piece: str) -> str:
        key, op, value = t.split(" ", 2)
        return f"{key} {op} {value[:at]}{piece}{value[at:]}"

    def first_space(t: str, by: str) -> str:
        return t.replace(" ", by, 1)

    def op_doubled(t: str) -> str:
        key, op, value = t.split(" ", 2)
        return f"{key} {op}{op} {value}"

    mutations: list[Callable[[str], str]] = [
        lambda t: first_space(t, ""),
        lambda t: first_space(t, "\t"),
        lambda t: first_space(t, "  "),
        op_doubled,
        lambda t: t + " ",
        lambda t: " " + t,
        lambda t: t + "|",
        lambda t: value_at(t, 0, "|"),
        lambda t: value_at(t, 2, "||"),
        lambda t: t + "\x00",
        lambda t: value_at(t, 1, "\n"),
        lambda t: t.split(" ")[0].upper() + " " + t.split(" ", 1)[1],
        lambda t: "x" + t,
        lambda t: t.split(" ")[0] + " " + t.split(" ")[1] + " ",
        lambda t: t.split(" ")[0],
        lambda t: t.replace("e", "\u0435"),  # Cyrillic ie
        lambda t: (
            t.replace("GET", "get")
            .replace("/orders", "/orders/../x")
            .replace("api.", "API.")
            .replace("1700", "-1700")
            .replace("shop", "sh op")
        ),
        lambda t: (
            t.replace("GET", "G\u0130T")
            .replace("/orders", "/orders//x")
            .replace("api.", "api..")
            .replace("1700", "1_700")
            .replace("shop", "sh/op")
        ),
        lambda t: (
            t.replace("GET", "GET,")
            .replace("/orders", "/%6Frders")
            .replace("example", "exa mple")
            .replace("1700", "\u0661700")
            .replace("shop", "shop|x")
        ),
        lambda t: (
            t.replace("HEAD", "he\u0430d")
            .replace("/health", "/health?x")
            .replace("com|", "com.|")
            .replace("1700", "17 00")
            .replace("shop", "sh\u00f6p")
        ),
    ]
    out = [m(t) for t in valid for m in mutations]
    assert len(set(out)) == 100 and not set(out) & set(valid)
    return out


@pytest.mark.parametrize("text", _corruptions())
def test_corrupted_caveat_texts_are_rejected(text: str) -> None:
    with pytest.raises(CaveatUnknown):
        parse_text(text)
    # A token carrying it is refused, whatever the request.
    m = mint(b"k" * 32, "id", caveats=[text])
    ctx = Context(
        now=0,
        method="GET",
        path="/orders/1",
        host="api.example.com",
        namespace="shop",
        defer_data_caveats=True,
    )
    with pytest.raises(CaveatUnknown):
        Verifier().verify(m, b"k" * 32, ctx)


# ---------------------------------------------------------------- the README says the same

_README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def _readme_rows() -> list[list[str]]:
    """Cells of the tables in the README's section on HTTP request caveats."""
    section = _README.split("\n## HTTP request caveats\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([c.strip().strip("`").replace("\\|", "|") for c in cells])
    return rows


def test_readme_forms_are_what_the_code_writes() -> None:
    forms = [r for r in _readme_rows() if r[0].startswith("{")]
    assert {json.loads(r[0])["type"] for r in forms} == {"http.method", "http.path", "http.host"}
    for obj, text, _ in forms:
        c = from_json(json.loads(obj))
        assert to_text(c) == text
        assert to_json(parse_text(text)) == json.loads(obj)


def test_readme_matching_examples_hold() -> None:
    examples = [r for r in _readme_rows() if r[0].startswith("/")]
    assert len(examples) >= 10
    for pattern, target, result in examples:
        c = from_json({"type": "http.path", "patterns": [pattern]})
        assert c.check(Context(now=0, path=target)) is result.startswith("yes"), (pattern, target)
        refused = httppath.request_segments(target) is None
        assert refused is result.endswith("(refused)"), (pattern, target)


_HOST_TRICKS = {
    "k": ["k", "K", "\u212a"],
    "i": ["i", "I", "\u0130", "\u0131"],
    ".": [".", "\uff0e"],
}


@SETTINGS
@given(
    st.sampled_from(["kiki.example", "kiki.example:8080", "api.kiki.example"]).flatmap(
        lambda h: st.tuples(*[st.sampled_from(_HOST_TRICKS.get(ch, [ch, ch.upper()])) for ch in h])
    ),
    st.sampled_from(["", ".", ":8080", ":443", " "]),
)
def test_http_host_accepts_only_ascii_case_variants(chars: tuple[str, ...], tail: str) -> None:
    host = "".join(chars) + tail
    c = HttpHostCaveat(("kiki.example", "kiki.example:8080"))
    try:
        expected = host.encode("ascii").lower() in (b"kiki.example", b"kiki.example:8080")
    except UnicodeEncodeError:
        expected = False
    assert c.check(Context(now=0, host=host)) is expected


@SETTINGS
@given(st.sampled_from(["GET", "get", "Get", "GET ", "HEAD", "POST", "G\u0130T", "", "GETX"]))
def test_http_method_is_exact(method: str) -> None:
    c = HttpMethodCaveat(("GET", "HEAD"))
    assert c.check(Context(now=0, method=method)) is (method in ("GET", "HEAD"))
