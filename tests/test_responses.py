"""JSON responses: orjson, and the standard library for what orjson refuses."""

from __future__ import annotations

import json

from service.web.responses import json_response


def test_json_body_and_headers() -> None:
    response = json_response(
        {"token": "t", "n": 1}, status=201, headers={"Cache-Control": "no-store"}
    )
    assert response.status == 201
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert isinstance(response.body, bytes)
    assert json.loads(response.body) == {"token": "t", "n": 1}


def test_what_orjson_refuses_is_still_valid_json() -> None:
    data = {"big": 2**70, "negative": -(2**63) - 1, "lone": "\ud800", "text": "ż"}
    body = json_response(data).body
    assert isinstance(body, bytes)
    body.decode("ascii")  # escaped, so any lone surrogate is encodable
    assert json.loads(body) == data
