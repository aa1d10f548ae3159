"""How the edge answers an error: the body of the route's dialect, and the headers that go with it."""

from __future__ import annotations

import logging

from aiohttp import web

from service import errors as e
from service.metrics import RATE_LIMITED
from service.tokens import errors as te

from .dialects import Dialect, f5_error, onezone_error, retry_after_seconds
from .ratelimit import set_rate_limit_headers
from .responses import json_response

# The name under which the edge has always logged unhandled errors.
log = logging.getLogger("service.web.middlewares")


def render_error(dialect: Dialect, err: BaseException) -> web.Response:
    """The dialect's response for a domain error (and the RateLimit headers of a 429)."""
    if dialect == "onezone":
        status, body = onezone_error(err)
        response = json_response(body, status=status)
    elif dialect == "f5":
        status, message = f5_error(err)
        response = json_response(message, status=status)
    else:
        status, body = onezone_error(err)
        if isinstance(err, e.Unauthorized | te.TokenError | e.TokenRejected):
            status = 401
        response = json_response(body, status=status)
    if isinstance(err, e.RateLimited):
        RATE_LIMITED.labels(err.result.policy).inc()
        response.headers["Retry-After"] = str(retry_after_seconds(err.result))
        set_rate_limit_headers(response, err.result)
    if status == 401 and dialect == "onezone" and isinstance(err, e.BadCredentials):
        response.headers["WWW-Authenticate"] = 'Basic realm="onezone"'
    return response


def _http_exception_as_domain(exc: web.HTTPException) -> BaseException | None:
    if exc.status == 404:
        return e.NotFound("not found")
    if exc.status == 400:
        # webargs refuses an unparsable JSON body with a JSON text of its own.
        if exc.content_type == "application/json":
            return e.MalformedRequest("the body is not valid JSON")
        return e.MalformedRequest(exc.text or "malformed request")
    return None


def render_exception(request: web.Request, dialect: Dialect, exc: Exception) -> web.StreamResponse:
    """The response for whatever a handler raised (HTTP redirects aside: the edge re-raises them)."""
    if isinstance(exc, e.ServiceError | te.TokenError):
        return render_error(dialect, exc)
    if isinstance(exc, web.HTTPException):
        domain = _http_exception_as_domain(exc)
        if domain is not None:
            return render_error(dialect, domain)
        # 405, 413 and the like keep their status, with a body in the dialect.
        if dialect == "f5":
            response = json_response(exc.reason.lower(), status=exc.status)
        else:
            ident = {405: "notSupported", 413: "badMessage"}.get(exc.status, "badMessage")
            response = json_response(
                {"error": {"id": ident, "description": exc.reason + "."}}, status=exc.status
            )
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    # The route pattern, not the path: a path may carry a token
    # (DELETE /user/client_tokens/{token}).
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "(no route)"
    log.error("unhandled error on %s %s", request.method, route, exc_info=exc)
    return render_error(dialect, RuntimeError("internal"))
