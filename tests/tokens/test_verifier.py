import dataclasses

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.tokens.caveats import (
    AnyCaveat,
    AppCaveat,
    NamespaceCaveat,
    TimeCaveat,
    caveat_types,
    to_text,
)
from service.tokens.errors import (
    CaveatError,
    CaveatUnknown,
    CaveatUnverified,
    InvalidSignature,
    TokenExpired,
)
from service.tokens.macaroon import Caveat, Macaroon, mint
from service.tokens.verifier import DEFAULT_CHECKERS, Context, Verified, Verifier

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)

ROOT = b"k" * 32
NOW = 1_700_000_000
BASE = Context(now=NOW)


def check(caveat: str, **ctx: object) -> Verified:
    m = mint(ROOT, "id", "onezone", [caveat])
    return Verifier().verify(m, ROOT, dataclasses.replace(BASE, **ctx))  # type: ignore[arg-type]


def refused(caveat: str, **ctx: object) -> CaveatError:
    with pytest.raises(CaveatError) as err:
        check(caveat, **ctx)
    assert err.value.caveat == caveat
    return err.value


# (caveat, context that satisfies it, contexts that do not)
CASES: list[tuple[str, dict[str, object], list[dict[str, object]]]] = [
    ("time < 1700000001", {}, [{"now": NOW + 1}, {"now": NOW + 1000}]),
    (
        "ip = 10.0.0.0/8|192.168.1.7|2001:db8::/32",
        {"peer_ip": "10.20.30.40"},
        [{}, {"peer_ip": "11.0.0.1"}, {"peer_ip": "192.168.1.8"}, {"peer_ip": "garbage"}],
    ),
    ("ip = 10.0.0.0/8", {"peer_ip": "::ffff:10.1.2.3"}, [{"peer_ip": "2001:db8::1"}]),
    ("ip = 2001:db8::/32", {"peer_ip": "2001:db8::1"}, [{"peer_ip": "10.0.0.1"}]),
    ("asn = 631|1671", {"asn": 1671}, [{}, {"asn": 632}]),
    ("geo.country = PL|DE", {"country": "DE"}, [{}, {"country": "FR"}]),
    ("geo.country != PL|DE", {"country": "FR"}, [{}, {"country": "PL"}]),
    ("geo.region = Europe", {"region": "Europe"}, [{}, {"region": "Asia"}]),
    ("geo.region = EU", {"region": "Europe", "in_eu": True}, [{"region": "Europe"}]),
    ("geo.region != EU", {"region": "Europe"}, [{"region": "Europe", "in_eu": True}, {}]),
    ("geo.region != Asia|Oceania", {"region": "Africa"}, [{"region": "Oceania"}]),
    (
        "service = ozw-onezone|opp-*",
        {"service": "opp-abc"},
        [{}, {"service": "opw-abc"}, {"service": "ozw-other"}],
    ),
    ("service = opw-p1", {"service": "opw-p1"}, [{"service": "opw-p2"}]),
    (
        "consumer = usr-u1|prv-*",
        {"consumer": "prv-anything"},
        [{}, {"consumer": "usr-u2"}, {"consumer": "grp-g1"}],
    ),
    ("consumer = usr-u1", {"consumer": "usr-u1"}, [{"consumer": "usr-u1x"}]),
    ("interface = rest", {"interface": "rest"}, [{}, {"interface": "oneclient"}]),
    (
        "api = ozw/get/user.*.*:*|all/create/space.s1.*:*",
        {"api_gri": "user.u1.instance:private", "method": "GET", "service": "ozw-onezone"},
        [
            {"api_gri": "user.u1.instance:private", "method": "GET", "service": "opw-p1"},
            {"api_gri": "user.u1.instance:private", "method": "DELETE", "service": "ozw-onezone"},
            {"api_gri": "space.s2.instance:private", "method": "POST"},
            {"method": "GET", "service": "ozw-onezone"},
            {"api_gri": "user.u1.instance:private", "service": "ozw-onezone"},
            {"api_gri": "not a gri", "method": "GET", "service": "ozw-onezone"},
        ],
    ),
    (
        "api = all/create/space.s1.*:*",
        {"api_gri": "space.s1.users:private", "api_operation": "create"},
        [{"api_gri": "space.s1.users:private", "api_operation": "get"}],
    ),
    (
        "api = ozw/all/*.*.*:*",
        {"api_gri": "space.s1.users:private", "method": "PATCH", "api_service": "ozw"},
        [{"api_gri": "space.s1.users:private", "method": "PATCH", "api_service": "opw"}],
    ),
    (
        "data.readonly",
        {"method": "GET"},
        [{}, {"method": "POST"}, {"method": "DELETE"}, {"method": "PUT"}],
    ),
    ("data.readonly", {"method": "POST", "defer_data_caveats": True}, []),
    ("data.path = L2RpcjE=", {"defer_data_caveats": True}, [{}, {"method": "GET"}]),
    ("data.objectid = 00AB", {"defer_data_caveats": True}, [{}]),
    ("namespace = shop", {"namespace": "shop"}, [{}, {"namespace": "other"}]),
    ("app = checkout", {"app": "checkout"}, [{}, {"app": "cart"}]),
    (
        "http.method = GET|HEAD",
        {"method": "HEAD"},
        [{}, {"method": "POST"}, {"method": "get"}, {"method": "OPTIONS"}, {"method": "GET "}],
    ),
    (
        "http.path = /orders/**|/health",
        {"path": "/orders/42/items?from=/admin"},
        [
            {},
            {"path": ""},
            {"path": "/admin"},
            {"path": "/health/x"},
            {"path": "/orders/../admin"},
            {"path": "/orders/%2e%2e/admin"},
            {"path": "/orders%2F..%2Fadmin"},
            {"path": "/orders/..;/admin"},
            {"path": "/orders\\..\\admin"},
            {"path": "//orders/1"},
            {"path": "/orders//1"},
            {"path": "/orders/%ff"},
            {"path": "/orders/%00"},
            {"path": "/Orders/1"},
            {"path": "http://evil/orders/1"},
        ],
    ),
    ("http.path = /orders/**", {"path": "/orders"}, [{"path": "/ordersX"}]),
    ("http.path = /orders/*", {"path": "/%6Frders/%2A"}, [{"path": "/orders/"}]),
    ("http.path = /caf%C3%A9", {"path": "/café"}, [{"path": "/cafe"}, {"path": "/CAF%C3%A9"}]),
    (
        "http.host = api.example.com|api.example.com:8443",
        {"host": "API.Example.com:8443"},
        [
            {},
            {"host": ""},
            {"host": "api.example.com:443"},
            {"host": "api.example.com."},
            {"host": "evil.example.com"},
            {"host": "api.example.com.evil.example"},
            {"host": "api.example.com:8444"},
            {"host": "api.example.com, api.example.com"},
        ],
    ),
    ("http.host = key.example", {"host": "KEY.example"}, [{"host": "\u212aey.example"}]),
    ("http.host = [2001:db8::1]:443", {"host": "[2001:DB8::1]:443"}, [{"host": "[2001:db8::1]"}]),
]


@pytest.mark.parametrize("caveat,ok,bad", CASES, ids=[c[0][:30] for c in CASES])
def test_caveat_accepted_and_refused(
    caveat: str, ok: dict[str, object], bad: list[dict[str, object]]
) -> None:
    verified = check(caveat, **ok)
    assert len(verified.caveats) == 1
    for ctx in bad:
        err = refused(caveat, **ctx)
        assert isinstance(err, CaveatUnverified)
        assert isinstance(err, TokenExpired) == caveat.startswith("time")


def test_group_consumers_fail_closed() -> None:
    # Group membership cannot be checked here, so a group entry never matches.
    refused("consumer = grp-g1", consumer="usr-u1")
    refused("consumer = grp-g1", consumer="grp-g1")
    refused("consumer = grp-*", consumer="grp-g1")


def test_expiry_uses_the_injected_clock() -> None:
    m = mint(ROOT, "id", caveats=["time < 100", "time < 200"])
    v = Verifier()
    verified = v.verify(m, ROOT, Context(now=99))
    assert verified.valid_until == 100
    assert verified.ttl(99) == 1
    assert verified.ttl(150) == 0
    with pytest.raises(TokenExpired) as err:
        v.verify(m, ROOT, Context(now=100))
    assert err.value.caveat == "time < 100"
    assert err.value.reason == "token expired"
    assert Verified((), None).ttl(5) is None


def test_unknown_caveats_fail_closed() -> None:
    for text in ("authorization = none", "frobnicate", "time < soon", "ip = nope"):
        m = mint(ROOT, "id", caveats=[text])
        with pytest.raises(CaveatUnknown) as err:
            Verifier().verify(m, ROOT, BASE)
        assert err.value.caveat == text


def test_non_utf8_caveat_fails_closed() -> None:
    m = mint(ROOT, "id", caveats=[b"\xff\xfe"])
    with pytest.raises(CaveatUnknown):
        Verifier().verify(m, ROOT, BASE)


def test_third_party_caveat_fails_closed_after_signature() -> None:
    base = mint(ROOT, "id")
    m = Macaroon(base.location, base.identifier, (Caveat(b"tp", b"vid", "http://tp/"),), b"")
    m = Macaroon(m.location, m.identifier, m.caveats, m.expected_signature(ROOT))
    m.verify_signature(ROOT)
    with pytest.raises(CaveatUnknown):
        Verifier().verify(m, ROOT, BASE)


def test_signature_is_checked_first() -> None:
    m = mint(ROOT, "id", caveats=["frobnicate"])
    with pytest.raises(InvalidSignature):
        Verifier().verify(m, b"x" * 32, BASE)
    with pytest.raises(CaveatUnknown):
        Verifier().check_caveats(m, BASE)


def test_location_is_pinned_when_given() -> None:
    m = mint(ROOT, "id", "onezone")
    Verifier().verify(m, ROOT, Context(now=0, location="onezone"))
    with pytest.raises(InvalidSignature):
        Verifier().verify(m, ROOT, Context(now=0, location="elsewhere"))


def test_all_caveats_must_hold() -> None:
    m = mint(ROOT, "id", caveats=["namespace = a", "app = b", "time < 10"])
    ok = Context(now=5, namespace="a", app="b")
    verified = Verifier().verify(m, ROOT, ok)
    assert [type(c).__name__ for c in verified.caveats] == [
        "NamespaceCaveat",
        "AppCaveat",
        "TimeCaveat",
    ]
    # Built without the dataclass __init__, yet the same value.
    expected = Verified((NamespaceCaveat("a"), AppCaveat("b"), TimeCaveat(10)), 10)
    assert verified == expected
    assert hash(verified) == hash(expected)
    assert repr(verified) == repr(expected)
    with pytest.raises(CaveatUnverified) as err:
        Verifier().verify(m, ROOT, dataclasses.replace(ok, app="c"))
    assert err.value.caveat == "app = b"


def test_custom_checkers_override_defaults() -> None:
    def anything(c: AnyCaveat, ctx: Context) -> bool:
        return True

    def broken(c: AnyCaveat, ctx: Context) -> bool:
        raise RuntimeError("cannot decide")

    m = mint(ROOT, "id", caveats=["namespace = a", "time < 10"])
    Verifier({NamespaceCaveat: anything}).verify(m, ROOT, Context(now=5))
    with pytest.raises(CaveatUnverified):
        Verifier({NamespaceCaveat: broken}).verify(m, ROOT, Context(now=5, namespace="a"))
    # The default for other types stays in place.
    with pytest.raises(TokenExpired):
        Verifier({NamespaceCaveat: anything}).verify(m, ROOT, Context(now=50))


def test_a_type_without_checker_fails_closed() -> None:
    verifier = Verifier()
    verifier._checkers.pop(TimeCaveat)
    with pytest.raises(CaveatUnknown):
        verifier.verify(mint(ROOT, "id", caveats=["time < 10"]), ROOT, Context(now=5))


@SETTINGS
@given(valid_until=st.integers(0, 2**40), now=st.integers(0, 2**40))
def test_time_property(valid_until: int, now: int) -> None:
    m = mint(ROOT, "id", caveats=[to_text(TimeCaveat(valid_until))])
    if now < valid_until:
        assert Verifier().verify(m, ROOT, Context(now=now)).ttl(now) == valid_until - now
    else:
        with pytest.raises(TokenExpired):
            Verifier().verify(m, ROOT, Context(now=now))


def test_the_check_table_is_the_registry() -> None:
    table = Verifier()._checkers
    assert set(table) == set(caveat_types()) == set(DEFAULT_CHECKERS)
    assert all(table[cls] is cls.check for cls in caveat_types())


def test_request_caveats_together() -> None:
    caveats = [
        "http.method = GET",
        "http.path = /orders/**",
        "http.host = shop.example",
        "data.readonly",
        "time < 1700000100",
    ]
    m = mint(ROOT, "id", caveats=caveats)
    ok = dataclasses.replace(BASE, method="GET", path="/orders/7", host="shop.example")
    assert len(Verifier().verify(m, ROOT, ok).caveats) == 5
    for change, refusing in [
        ({"method": "DELETE"}, "http.method = GET"),
        ({"path": "/orders/7/../../admin"}, "http.path = /orders/**"),
        ({"host": "admin.example"}, "http.host = shop.example"),
    ]:
        with pytest.raises(CaveatUnverified) as err:
            Verifier().verify(m, ROOT, dataclasses.replace(ok, **change))  # type: ignore[arg-type]
        assert err.value.caveat == refusing
