"""JSON bodies loaded by schema, small ones remembered by their bytes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from marshmallow import Schema, fields

from service.errors import MalformedRequest, MissingValue
from service.web.validation import (
    MAX_INTEGER_DIGITS,
    MAX_JSON_DEPTH,
    JsonBodies,
    _nesting,
    _remembered_form,
)


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


# Bounds: nesting and integer length are checked before the standard library decodes.


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 255, 1000, 1025, 5000, 30_000])
async def test_deep_nesting_is_a_malformed_request_at_any_depth(kind: str, depth: int) -> None:
    # 1,000 went through orjson and 1,025 and more raised RecursionError (a 500) before.
    body = b'{"token": "t", "caveats": ' + _nested(depth, kind) + b"}"
    with pytest.raises(MalformedRequest, match="nests deeper than 32"):
        await load(JsonBodies(), body)
    with pytest.raises(MalformedRequest, match="nests deeper than 32"):
        await load(JsonBodies(), _nested(depth, kind))


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "utf-16"])
async def test_nesting_is_bounded_in_every_charset(charset: str) -> None:
    body = '{"token": "t", "caveats": ' + "[" * 3000 + "]" * 3000 + "}"
    request = FakeRequest(body.encode(charset))
    request.charset = charset
    with pytest.raises(MalformedRequest, match="nests deeper"):
        await JsonBodies().load(request, BODY)  # type: ignore[arg-type]


async def test_nesting_up_to_the_bound_loads() -> None:
    body = b'{"token": "t", "caveats": ' + _nested(MAX_JSON_DEPTH - 1, "list") + b"}"
    loaded = await load(JsonBodies(), body)
    assert loaded["token"] == "t"


async def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '[{"x": "' + "[" * 500 + '\\"{{{"}]'
    loaded = await load(JsonBodies(), b'{"token": "t", "caveats": ' + text.encode() + b"}")
    assert loaded["caveats"][0]["x"] == "[" * 500 + '"{{{'


async def test_an_unterminated_string_full_of_quotes_is_refused_quickly() -> None:
    # Each escaped quote could start a string match again: the scan must stay linear.
    body = b'{"token": "t", "caveats": [[[[' + b'"' + b'\\"[' * 20_000
    started = time.perf_counter()
    with pytest.raises(MalformedRequest):
        await load(JsonBodies(), body)
    assert time.perf_counter() - started < 0.5


async def test_the_nesting_scan_of_a_whole_body_of_brackets_is_fast() -> None:
    started = time.perf_counter()
    for _ in range(10):
        assert _nesting(b"[]" * 32_768) == 1
    assert (time.perf_counter() - started) / 10 < 0.05


@pytest.mark.parametrize("digits", [MAX_INTEGER_DIGITS + 1, 4300, 4301, 5000, 60_000])
@pytest.mark.parametrize("sign", ["", "-"])
async def test_overlong_integers_are_a_malformed_request(digits: int, sign: str) -> None:
    # 4,301 digits and more raised ValueError in int() (a 500) before.
    body = b'{"token": "t", "caveats": [' + sign.encode() + b"7" * digits + b"]}"
    with pytest.raises(MalformedRequest, match=f"more than {MAX_INTEGER_DIGITS} digits"):
        await load(JsonBodies(), body)


async def test_integers_up_to_the_bound_stay_exact() -> None:
    number = int("9" * MAX_INTEGER_DIGITS)
    loaded = await load(JsonBodies(), b'{"token": "t", "caveats": [-%d]}' % number)
    assert loaded["caveats"] == [-number]


async def test_long_numbers_inside_strings_and_floats_are_fine() -> None:
    body = b'{"token": "' + b"1" * 5000 + b'", "caveats": [0.' + b"1" * 5000 + b"]}"
    loaded = await load(JsonBodies(), body)
    assert loaded["token"] == "1" * 5000
    assert isinstance(loaded["caveats"][0], float)
