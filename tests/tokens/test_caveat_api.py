"""GRIs and GRI patterns of the api caveat (ctool gri:matches/2)."""

from service.tokens.caveats import parse_gri


def test_gri_patterns() -> None:
    def matches(pattern: str, gri: str) -> bool:
        p = parse_gri(pattern)
        g = parse_gri(gri, pattern=False)
        assert p is not None and g is not None
        return p.matches(g)

    assert matches("*.*.*:*", "user.abc.instance:private")
    assert matches("user.*.*:*", "user.abc.instance:protected")
    assert not matches("space.*.*:*", "user.abc.instance:private")
    assert matches("user.abc.instance", "user.abc.instance:private")  # default scope
    assert not matches("user.abc.instance", "user.abc.instance:shared")
    assert matches("space.s1.user,*:*", "space.s1.user,u1:private")
    assert matches("space.s1.*,u1:*", "space.s1.user,u1:private")
    assert not matches("space.s1.*,u2:*", "space.s1.user,u1:private")
    assert not matches("space.s1.user:*", "space.s1.user,u1:private")
    assert matches("space.s1.*:*", "space.s1.user,u1:private")
    assert parse_gri("user.*.*:*", pattern=False) is None
    assert parse_gri("nope.a.b") is None
    assert parse_gri("user.a") is None
    assert parse_gri("user.a.b:c:d") is None
