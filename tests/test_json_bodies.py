"""JSON bodies loaded by schema, small ones remembered by their bytes."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, fields

from service.errors import MalformedRequest, MissingValue
from service.web.validation import JsonBodies, _remembered_form


class Body(Schema):
    token = fields.String(required=True)
    caveats = fields.Raw()


class Dated(Schema):
    token = fields.String(required=True)
    at = fields.DateTime()


class Measured(Schema):
    token = fields.String(required=True)
    size = fields.Float(allow_nan=True)


class FakeRequest:
    """What JsonBodies reads of an aiohttp request."""

    def __init__(self, raw: bytes, content_type: str = "application/json") -> None:
        self.raw = raw
        self.reads = 0
        self.content_type = content_type
        self.charset: str | None = None
        self.body_exists = bool(raw)
        self.content = self  # the whole body has arrived: content.is_eof()

    def is_eof(self) -> bool:
        return True

    async def read(self) -> bytes:
        self.reads += 1
        return self.raw


BODY = Body()


async def load(bodies: JsonBodies, raw: bytes, **kw: Any) -> Any:
    return await bodies.load(FakeRequest(raw, **kw), BODY)  # type: ignore[arg-type]


async def test_a_flat_body_is_remembered_and_each_caller_gets_its_own_copy() -> None:
    bodies, schema = JsonBodies(), Body()
    first = await bodies.load(FakeRequest(b'{"token": "t"}'), schema)  # type: ignore[arg-type]
    first["token"] = "changed by a handler"
    second = await bodies.load(FakeRequest(b'{"token": "t"}'), schema)  # type: ignore[arg-type]
    assert second == {"token": "t"}
    assert len(bodies._loaded) == 1


async def test_a_nested_body_is_remembered_and_each_caller_gets_its_own_deep_copy() -> None:
    bodies = JsonBodies()
    raw = b'{"token": "t", "caveats": [{"type": "time", "validUntil": 5, "f": 1.5}]}'
    first = await load(bodies, raw)
    assert first == {"token": "t", "caveats": [{"type": "time", "validUntil": 5, "f": 1.5}]}
    first["caveats"][0]["validUntil"] = 6
    first["caveats"].append("changed by a handler")
    second = await load(bodies, raw)
    assert second == {"token": "t", "caveats": [{"type": "time", "validUntil": 5, "f": 1.5}]}
    assert type(second["caveats"][0]["validUntil"]) is int
    assert len(bodies._loaded) == 1


async def test_values_json_cannot_give_back_are_not_remembered() -> None:
    bodies = JsonBodies()
    dated = await bodies.load(
        FakeRequest(b'{"token": "t", "at": "2026-01-01T00:00:00+00:00"}'),  # type: ignore[arg-type]
        Dated(),
    )
    assert dated["at"].year == 2026
    measured = await bodies.load(FakeRequest(b'{"token": "t", "size": NaN}'), Measured())  # type: ignore[arg-type]
    assert measured["size"] != measured["size"]
    # The standard library decodes what orjson refuses, a lone surrogate among them.
    lone = await load(bodies, b'{"token": "t", "caveats": "\\ud800"}')
    assert lone["caveats"] == "\ud800"
    assert not bodies._loaded
    assert _remembered_form({"n": 123456789012345678901234567890}) is None
    assert _remembered_form({"n": (1, 2)}) is None
    assert _remembered_form({1: "key not a string"}) is None


async def test_invalid_bodies_are_refused_every_time() -> None:
    bodies = JsonBodies()
    for _ in range(2):
        with pytest.raises(MissingValue):
            await load(bodies, b'{"caveats": 1}')
        with pytest.raises(MalformedRequest):
            await load(bodies, b'{"token": ')
    assert not bodies._loaded


async def test_webargs_rules_no_json_body_counts_as_empty() -> None:
    bodies = JsonBodies()
    with pytest.raises(MissingValue):
        await load(bodies, b'{"token": "t"}', content_type="text/plain")
    with pytest.raises(MissingValue):
        await load(bodies, b"")


async def test_the_cache_is_bounded() -> None:
    bodies = JsonBodies(size=3)
    for i in range(10):
        await load(bodies, b'{"token": "%d"}' % i)
        assert len(bodies._loaded) <= 3


async def test_integers_beyond_64_bits_stay_exact() -> None:
    bodies = JsonBodies()
    for number in (123456789012345678901234567890, -9223372036854775809, 2**64):
        loaded = await load(bodies, b'{"token": "t", "caveats": [%d, 1.5]}' % number)
        assert loaded["caveats"] == [number, 1.5]
        assert type(loaded["caveats"][0]) is int
