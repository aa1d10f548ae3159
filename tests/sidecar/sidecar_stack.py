"""The sidecar's stack: Redis, the service, the echoing application and nginx, started together."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from redis_procs import RedisProcess, require_redis
from sidecar_support import EchoUpstream, Minter, NginxProcess, require_nginx
from test_serve import ADMIN_PASSWORD, ServiceProcess

# Small on purpose: the revocation test waits at most about this long.
MAX_STALENESS = 0.3
# The store's timeouts, short so that an outage is answered quickly.
STORE_TIMEOUT = 0.3


def sidecar_env(redis_url: str) -> dict[str, str]:
    """The service's settings in these tests: a real Redis, the verification cache on."""
    return {
        "TOKEN_SERVICE_REDIS_URL": redis_url,
        "TOKEN_SERVICE_CACHE_SIZE": "1000",
        "TOKEN_SERVICE_CACHE_MAX_STALENESS": str(MAX_STALENESS),
        "TOKEN_SERVICE_REDIS_SOCKET_TIMEOUT": str(STORE_TIMEOUT),
        "TOKEN_SERVICE_REDIS_CONNECT_TIMEOUT": str(STORE_TIMEOUT),
        "TOKEN_SERVICE_REDIS_RETRY_ATTEMPTS": "0",
    }


@dataclass
class Stack:
    """nginx in front of the service and the echoing application, and a way to mint tokens."""

    redis: RedisProcess
    service: ServiceProcess
    echo: EchoUpstream
    nginx: NginxProcess
    mint: Minter

    @property
    def port(self) -> int:
        return self.nginx.port


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """Redis, the service, the application and nginx, all started; stopped on exit."""
    require_nginx()
    require_redis()
    with contextlib.ExitStack() as stack:
        redis = RedisProcess()
        stack.callback(redis.close)
        redis.start()
        service = ServiceProcess(env=sidecar_env(redis.url))
        stack.callback(service.close)
        service.start()
        echo = EchoUpstream()
        stack.callback(echo.close)
        nginx = NginxProcess(service=f"127.0.0.1:{service.port}", app=echo.address)
        stack.callback(nginx.close)
        nginx.start()
        yield Stack(redis, service, echo, nginx, Minter(service.url, ADMIN_PASSWORD))
