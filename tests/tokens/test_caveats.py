"""Every caveat kind through the package's functions: known text and JSON forms, refusals, round trips."""

import base64
import json

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.caveats import (
    CAVEAT_TYPES,
    REGIONS,
    AnyCaveat,
    ApiCaveat,
    AppCaveat,
    AsnCaveat,
    ConsumerCaveat,
    DataObjectIdCaveat,
    DataPathCaveat,
    DataReadonlyCaveat,
    GeoCountryCaveat,
    GeoRegionCaveat,
    HttpHostCaveat,
    HttpMethodCaveat,
    HttpPathCaveat,
    InterfaceCaveat,
    IpCaveat,
    NamespaceCaveat,
    ServiceCaveat,
    TimeCaveat,
    from_json,
    from_json_list,
    parse_text,
    to_json,
    to_text,
)
from service.tokens.errors import CaveatUnknown, MalformedCaveat

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

# Text and JSON forms side by side, as Onedata writes them.
EXAMPLES: list[tuple[str, dict[str, object], AnyCaveat]] = [
    ("time < 1522358333", {"type": "time", "validUntil": 1522358333}, TimeCaveat(1522358333)),
    (
        "ip = 10.0.0.0/8|127.0.0.1",
        {"type": "ip", "whitelist": ["10.0.0.0/8", "127.0.0.1"]},
        IpCaveat(("10.0.0.0/8", "127.0.0.1")),
    ),
    ("asn = 1|2", {"type": "asn", "whitelist": [1, 2]}, AsnCaveat((1, 2))),
    (
        "geo.country = PL|DE",
        {"type": "geo.country", "filter": "whitelist", "list": ["PL", "DE"]},
        GeoCountryCaveat("whitelist", ("PL", "DE")),
    ),
    (
        "geo.country != PL|DE",
        {"type": "geo.country", "filter": "blacklist", "list": ["PL", "DE"]},
        GeoCountryCaveat("blacklist", ("PL", "DE")),
    ),
    (
        "geo.region = Europe|Asia",
        {"type": "geo.region", "filter": "whitelist", "list": ["Europe", "Asia"]},
        GeoRegionCaveat("whitelist", ("Europe", "Asia")),
    ),
    (
        "geo.region != EU",
        {"type": "geo.region", "filter": "blacklist", "list": ["EU"]},
        GeoRegionCaveat("blacklist", ("EU",)),
    ),
    (
        "service = ozw-onezone|opp-*|opw-01c4455bef059353c9dfb35ba93a24f3",
        {
            "type": "service",
            "whitelist": ["ozw-onezone", "opp-*", "opw-01c4455bef059353c9dfb35ba93a24f3"],
        },
        ServiceCaveat(("ozw-onezone", "opp-*", "opw-01c4455bef059353c9dfb35ba93a24f3")),
    ),
    (
        "consumer = usr-d4f5876dbe7f1e7e8a511de6dd31144c|grp-0921135ee61fe53a3df449365228e9b4|prv-*",
        {
            "type": "consumer",
            "whitelist": [
                "usr-d4f5876dbe7f1e7e8a511de6dd31144c",
                "grp-0921135ee61fe53a3df449365228e9b4",
                "prv-*",
            ],
        },
        ConsumerCaveat(
            (
                "usr-d4f5876dbe7f1e7e8a511de6dd31144c",
                "grp-0921135ee61fe53a3df449365228e9b4",
                "prv-*",
            )
        ),
    ),
    (
        "interface = oneclient",
        {"type": "interface", "interface": "oneclient"},
        InterfaceCaveat("oneclient"),
    ),
    (
        "api = ozw/all/user.*.*:*|all/get/space.*.*:*",
        {"type": "api", "whitelist": ["ozw/all/user.*.*:*", "all/get/space.*.*:*"]},
        ApiCaveat(("ozw/all/user.*.*:*", "all/get/space.*.*:*")),
    ),
    ("data.readonly", {"type": "data.readonly"}, DataReadonlyCaveat()),
    (
        "data.path = L2RpcjEvZmlsZTEudHh0|L2ZvbGRlcjIvdmlkZW8zLm1wNA==",
        {
            "type": "data.path",
            "whitelist": ["L2RpcjEvZmlsZTEudHh0", "L2ZvbGRlcjIvdmlkZW8zLm1wNA=="],
        },
        DataPathCaveat(("/dir1/file1.txt", "/folder2/video3.mp4")),
    ),
    (
        "data.objectid = 000000000055D4E4836803640004677569646D000000167",
        {"type": "data.objectid", "whitelist": ["000000000055D4E4836803640004677569646D000000167"]},
        DataObjectIdCaveat(("000000000055D4E4836803640004677569646D000000167",)),
    ),
    ("namespace = shop", {"type": "namespace", "namespace": "shop"}, NamespaceCaveat("shop")),
    ("app = checkout-v2", {"type": "app", "app": "checkout-v2"}, AppCaveat("checkout-v2")),
    (
        "http.method = GET|HEAD",
        {"type": "http.method", "methods": ["GET", "HEAD"]},
        HttpMethodCaveat(("GET", "HEAD")),
    ),
    (
        "http.path = /orders/**|/health|/items/*/price",
        {"type": "http.path", "patterns": ["/orders/**", "/health", "/items/*/price"]},
        HttpPathCaveat(("/orders/**", "/health", "/items/*/price")),
    ),
    (
        "http.host = api.example.com|api.example.com:8443|10.0.0.1|[2001:db8::1]:443",
        {
            "type": "http.host",
            "hosts": ["api.example.com", "api.example.com:8443", "10.0.0.1", "[2001:db8::1]:443"],
        },
        HttpHostCaveat(
            ("api.example.com", "api.example.com:8443", "10.0.0.1", "[2001:db8::1]:443")
        ),
    ),
]


@pytest.mark.parametrize("text,obj,caveat", EXAMPLES, ids=[e[0][:20] for e in EXAMPLES])
def test_known_forms(text: str, obj: dict[str, object], caveat: AnyCaveat) -> None:
    assert parse_text(text) == caveat
    assert to_text(caveat) == text
    assert from_json(obj) == caveat
    assert to_json(caveat) == obj
    assert from_json(json.loads(json.dumps(obj))) == caveat


def test_every_caveat_type_has_an_example() -> None:
    assert {type(c) for _, _, c in EXAMPLES} == set(CAVEAT_TYPES)


def test_lists_are_stored_as_tuples() -> None:
    c = IpCaveat(["10.0.0.1"])  # type: ignore[arg-type]
    assert c.whitelist == ("10.0.0.1",)
    assert hash(c) == hash(IpCaveat(("10.0.0.1",)))


def test_data_path_json_is_base64_like_onezone() -> None:
    c = DataPathCaveat(("/space/dir|with pipe/ząb",))
    encoded = base64.b64encode("/space/dir|with pipe/ząb".encode()).decode()
    assert to_json(c) == {"type": "data.path", "whitelist": [encoded]}
    assert to_text(c) == f"data.path = {encoded}"
    assert parse_text(to_text(c)) == c


@pytest.mark.parametrize(
    "text",
    [
        "",
        "time",
        "time < ",
        "time < abc",
        "time < -5",
        "time < 01796229510",  # leading zeros: one expiry, one text
        "time < 00",
        "time < 1_000",
        "time < ١٢",
        "time <  5",
        "time > 5",
        "time < 99999999999999999999",
        "ip = ",
        "ip = 10.0.0.0/33",
        "ip = 10.0.0.256",
        "ip = 010.0.0.1",
        "ip = 10.0.0.0/255.0.0.0",
        "ip = 10.0.0.1||10.0.0.2",
        "ip = host.example",
        "asn = x",
        "asn = 1|",
        "asn = 4294967296",
        "geo.country = pl",
        "geo.country = POL",
        "geo.country == PL",
        "geo.region = Mars",
        "service = xyz-1",
        "service = opw-",
        "service = opw-a b",
        "consumer = usr-",
        "consumer = nobody",
        "interface = gui",
        "interface = rest|oneclient",
        "api = ozw/all",
        "api = xyz/all/user.*.*:*",
        "api = ozw/read/user.*.*:*",
        "api = ozw/all/bogus.*.*:*",
        "api = ozw/all/user.*.*:everything",
        "api = ozw/all/user.*:*",
        "data.readonly ",
        "data.readonly = true",
        "data.path = not base64!",
        "data.path = L2E",
        "data.path = YQ==",
        "data.path = //8=",
        "data.objectid = ",
        "data.objectid = a b",
        "namespace = ",
        "namespace = a/b",
        "app = a b",
        "authorization = none",
        "scope = identity_token",
        "audience = usr-x",
        "unknown = 1",
        # HTTP request caveats: the canonical form only.
        "http.method = get",
        "http.method = Get",
        "http.method = GET||HEAD",
        "http.method = GET|",
        "http.method = |GET",
        "http.method = GET HEAD",
        "http.method = GET,HEAD",
        "http.method = G\u0130T",
        "http.method != GET",
        "http.method <  GET",
        "http.method",
        "http.method = " + "A" * 65,
        "http.path = orders/**",
        "http.path = /orders//x",
        "http.path = /orders/../x",
        "http.path = /orders/%2e%2e/x",
        "http.path = /orders/%2F",
        "http.path = /%6Frders",
        "http.path = /caf%c3%a9",
        "http.path = /café",
        "http.path = /a b",
        "http.path = /a\tb",
        "http.path = /a\\b",
        "http.path = /a?x=1",
        "http.path = /a#x",
        "http.path = /**/a",
        "http.path = /a*",
        "http.path = /a/***",
        "http.path = /orders/**||/health",
        "http.path = /orders/**|",
        "http.path = L29yZGVycy8qKg==",
        "http.path = /a%ff",
        "http.host = API.example.com",
        "http.host = api.example.com.",
        "http.host = .example.com",
        "http.host = *.example.com",
        "http.host = -api.example.com",
        "http.host = api-.example.com",
        "http.host = api_x.example.com",
        "http.host = api.example.com:",
        "http.host = api.example.com:0",
        "http.host = api.example.com:080",
        "http.host = api.example.com:65536",
        "http.host = api.example.com:https",
        "http.host = user@api.example.com",
        "http.host = [::1",
        "http.host = [0:0::1]",
        "http.host = [2001:DB8::1]",
        "http.host = ::1",
        "http.host = bücher.example",
        "http.host = \u212aey.example",
        "http.host = " + "a" * 64 + ".example",
        "http.host = api.example.com||x.example",
        "http.host = api.example.com /x",
    ],
)
def test_invalid_text_is_unknown(text: str) -> None:
    with pytest.raises(CaveatUnknown) as err:
        parse_text(text)
    assert err.value.caveat == text


@pytest.mark.parametrize(
    "obj,key",
    [
        ([], "caveats"),
        ("time < 5", "caveats"),
        ({}, "type"),
        ({"type": "bogus"}, "type"),
        ({"type": 5}, "type"),
        ({"type": "time"}, "validUntil"),
        ({"type": "time", "validUntil": "5"}, "validUntil"),
        ({"type": "time", "validUntil": True}, "validUntil"),
        ({"type": "time", "validUntil": 5.0}, "validUntil"),
        ({"type": "time", "validUntil": -1}, "validUntil"),
        ({"type": "time", "validUntil": 5, "extra": 1}, "extra"),
        ({"type": "ip", "whitelist": []}, "whitelist"),
        ({"type": "ip", "whitelist": "10.0.0.1"}, "whitelist"),
        ({"type": "ip", "whitelist": ["nope"]}, "whitelist"),
        ({"type": "asn", "whitelist": ["1"]}, "whitelist"),
        ({"type": "asn", "whitelist": [True]}, "whitelist"),
        ({"type": "geo.country", "list": ["PL"]}, "filter"),
        ({"type": "geo.country", "filter": "greylist", "list": ["PL"]}, "filter"),
        ({"type": "geo.country", "filter": "whitelist", "list": ["Poland"]}, "list"),
        ({"type": "geo.region", "filter": "whitelist"}, "list"),
        ({"type": "service", "whitelist": ["onezone"]}, "whitelist"),
        ({"type": "consumer", "whitelist": [1]}, "whitelist"),
        ({"type": "interface", "interface": "gui"}, "interface"),
        ({"type": "interface"}, "interface"),
        ({"type": "api", "whitelist": ["all/all/nope"]}, "whitelist"),
        ({"type": "data.path", "whitelist": ["/plain/path"]}, "whitelist"),
        ({"type": "data.path", "whitelist": ["YQ=="]}, "whitelist"),
        ({"type": "data.objectid", "whitelist": ["a|b"]}, "whitelist"),
        ({"type": "namespace", "namespace": ""}, "namespace"),
        ({"type": "app"}, "app"),
        ({"type": "data.readonly", "whitelist": []}, "whitelist"),
        ({"type": "http.method"}, "methods"),
        ({"type": "http.method", "methods": []}, "methods"),
        ({"type": "http.method", "methods": "GET"}, "methods"),
        ({"type": "http.method", "methods": ["get"]}, "methods"),
        ({"type": "http.method", "methods": ["GET", "post"]}, "methods"),
        ({"type": "http.method", "methods": ["GET|HEAD"]}, "methods"),
        ({"type": "http.method", "methods": [""]}, "methods"),
        ({"type": "http.method", "methods": [1]}, "methods"),
        ({"type": "http.method", "method": ["GET"]}, "method"),
        ({"type": "http.path", "patterns": []}, "patterns"),
        ({"type": "http.path", "patterns": "/orders/**"}, "patterns"),
        ({"type": "http.path", "patterns": ["orders"]}, "patterns"),
        ({"type": "http.path", "patterns": ["/a/../b"]}, "patterns"),
        ({"type": "http.path", "patterns": ["/a//b"]}, "patterns"),
        ({"type": "http.path", "patterns": ["/a%2Fb"]}, "patterns"),
        ({"type": "http.path", "patterns": ["/**/a"]}, "patterns"),
        ({"type": "http.path", "patterns": ["/a*"]}, "patterns"),
        ({"type": "http.path", "patterns": ["/a?b=1"]}, "patterns"),
        ({"type": "http.path", "patterns": [None]}, "patterns"),
        ({"type": "http.path", "whitelist": ["/a"]}, "whitelist"),
        ({"type": "http.host", "hosts": []}, "hosts"),
        ({"type": "http.host", "hosts": ["api.example.com."]}, "hosts"),
        ({"type": "http.host", "hosts": ["*.example.com"]}, "hosts"),
        ({"type": "http.host", "hosts": ["api.example.com:99999"]}, "hosts"),
        ({"type": "http.host", "hosts": ["\u212aey.example"]}, "hosts"),
        ({"type": "http.host", "hosts": ["http://api.example.com"]}, "hosts"),
        ({"type": "http.host", "hosts": ["api.example.com", 5]}, "hosts"),
    ],
)
def test_bad_json_names_the_key(obj: object, key: str) -> None:
    with pytest.raises(MalformedCaveat) as err:
        from_json(obj)
    assert err.value.key == key


def test_from_json_list() -> None:
    assert from_json_list([{"type": "time", "validUntil": 5}, {"type": "data.readonly"}]) == (
        TimeCaveat(5),
        DataReadonlyCaveat(),
    )
    assert from_json_list([]) == ()
    with pytest.raises(MalformedCaveat) as err:
        from_json_list({"type": "time"})
    assert err.value.key == "caveats"
    with pytest.raises(MalformedCaveat) as err:
        from_json_list([{"type": "time", "validUntil": "x"}])
    assert err.value.key == "validUntil"


def test_constructors_validate() -> None:
    with pytest.raises(MalformedCaveat) as err:
        TimeCaveat(-1)
    assert err.value.key == "validUntil"
    with pytest.raises(MalformedCaveat):
        IpCaveat(())
    with pytest.raises(MalformedCaveat):
        GeoRegionCaveat("whitelist", ("Narnia",))
    with pytest.raises(MalformedCaveat):
        InterfaceCaveat("gui")  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties

_ids = st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(str)
_nets = st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}")
_gri = st.builds(
    lambda t, i, a, s: f"{t}.{i}.{a}:{s}",
    st.sampled_from(["*", "user", "space", "group", "file", "op_metrics"]),
    st.sampled_from(["*", "abc", "self", "null"]),
    st.sampled_from(["*", "instance", "user,u1", "*,u1", "user,*"]),
    st.sampled_from(["*", "private", "protected", "shared", "public", "auto"]),
)
_matchspec = st.builds(
    lambda s, o, g: f"{s}/{o}/{g}",
    st.sampled_from(["all", "ozw", "opw", "ozp", "opp"]),
    st.sampled_from(["all", "create", "get", "update", "delete"]),
    _gri,
)


_segment = st.sampled_from(["orders", "a", "*", "%C3%A9", "x%7Cy", "42", "v1.2", "~u", "a;p=1"])
_patterns = st.builds(
    lambda segs, tail: "/" + "/".join(segs + tail),
    st.lists(_segment, max_size=4),
    st.sampled_from([[], ["**"], [""]]),
).filter(lambda p: p != "//" and not p.endswith("//"))
_hosts = st.builds(
    lambda name, port: name + port,
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}", fullmatch=True)
    | _ipv4
    | _ipv6.map(lambda a: f"[{a}]"),
    st.sampled_from(["", ":1", ":443", ":8080", ":65535"]),
)


def _tuples(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(strategy, min_size=1, max_size=4).map(tuple)


caveats: st.SearchStrategy[AnyCaveat] = st.one_of(
    st.builds(TimeCaveat, st.integers(0, 2**63 - 1)),
    st.builds(IpCaveat, _tuples(_ipv4 | _ipv6 | _nets)),
    st.builds(AsnCaveat, st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4).map(tuple)),
    st.builds(
        GeoCountryCaveat,
        st.sampled_from(["whitelist", "blacklist"]),
        _tuples(st.from_regex(r"[A-Z]{2}", fullmatch=True)),
    ),
    st.builds(
        GeoRegionCaveat,
        st.sampled_from(["whitelist", "blacklist"]),
        _tuples(st.sampled_from(sorted(REGIONS))),
    ),
    st.builds(
        ServiceCaveat,
        _tuples(st.builds("{}-{}".format, st.sampled_from(["ozw", "opw", "ozp", "opp"]), _ids)),
    ),
    st.builds(
        ConsumerCaveat,
        _tuples(
            st.builds("{}-{}".format, st.sampled_from(["usr", "grp", "prv"]), _ids | st.just("*"))
        ),
    ),
    st.builds(InterfaceCaveat, st.sampled_from(["rest", "oneclient", "graphsync"])),
    st.builds(ApiCaveat, _tuples(_matchspec)),
    st.just(DataReadonlyCaveat()),
    st.builds(
        DataPathCaveat,
        _tuples(st.text(min_size=0, max_size=20).map(lambda s: "/" + s.replace("\x00", ""))),
    ),
    st.builds(DataObjectIdCaveat, _tuples(st.from_regex(r"[A-Za-z0-9]{1,40}", fullmatch=True))),
    st.builds(NamespaceCaveat, _ids),
    st.builds(AppCaveat, _ids),
    st.builds(
        HttpMethodCaveat,
        _tuples(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "X-CUSTOM_1"])),
    ),
    st.builds(HttpPathCaveat, _tuples(_patterns)),
    st.builds(HttpHostCaveat, _tuples(_hosts)),
)


@SETTINGS
@given(caveats)
def test_text_and_json_round_trip(c: AnyCaveat) -> None:
    text = to_text(c)
    assert parse_text(text) == c
    assert to_text(parse_text(text)) == text
    obj = to_json(c)
    assert from_json(json.loads(json.dumps(obj))) == c
    assert to_json(from_json(obj)) == obj
    assert parse_text(to_text(from_json(obj))) == c


# The parsers of time, namespace and app check values themselves and skip the
# constructors' checks, so they must accept exactly what those accept.
@SETTINGS
@given(st.text(max_size=80))
def test_random_text_only_raises_caveat_unknown(text: str) -> None:
    try:
        parse_text(text)
    except CaveatUnknown:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
json_caveats = st.fixed_dictionaries(
    {"type": st.sampled_from([e[1]["type"] for e in EXAMPLES] + ["bogus"])},
    optional={
        "validUntil": json_values,
        "whitelist": json_values,
        "filter": st.sampled_from(["whitelist", "blacklist", "x"]) | json_values,
        "list": json_values,
        "interface": json_values,
        "namespace": json_values,
        "app": json_values,
        "methods": json_values | st.just(["GET"]),
        "patterns": json_values | st.just(["/a/**"]),
        "hosts": json_values | st.just(["a.example"]),
    },
)


@SETTINGS
@given(json_caveats | json_values)
def test_random_json_only_raises_malformed_caveat(obj: object) -> None:
    try:
        c = from_json(obj)
    except MalformedCaveat as e:
        assert e.key is not None
    else:
        assert parse_text(to_text(c)) == c
