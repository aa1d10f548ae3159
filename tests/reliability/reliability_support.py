"""Shared by the reliability tests: the service as a real subprocess, a load generator, figures.

Every figure a test measures is printed as one `FIGURE: {json}` line, so that
`bench/reliability.py` can collect them from a `pytest -s` run into
bench/RELIABILITY.md. Every load is bounded in requests and in seconds, and
only ever aimed at 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import app_support
from redis_procs import free_port

from service.tokens.keys import KeyRing, KeyState

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v3/onezone"
HOST = "127.0.0.1"


def figure(test: str, name: str, value: float | int | str, unit: str = "") -> None:
    """Print one measured figure in the form bench/reliability.py collects."""
    record = {"test": test, "name": name, "value": value, "unit": unit}
    print("FIGURE: " + json.dumps(record), flush=True)


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards `wanted` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def keys_json(*entries: Mapping[str, str]) -> str:
    """A keys document for TOKEN_SERVICE_KEYS_JSON."""
    return json.dumps({"keys": [dict(e) for e in entries]})


def new_key(kid: str, state: KeyState = "active") -> dict[str, str]:
    """A fresh keys-file entry."""
    return KeyRing.generate_entry(kid, state)


def with_state(entry: Mapping[str, str], state: str) -> dict[str, str]:
    """The same key in another state (active / verify / retired)."""
    return {**entry, "state": state}


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any TOKEN_SERVICE_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEN_SERVICE_")}
    env.update(extra)
    return env


class ServiceProcess:
    """`python -m service serve` on a free loopback port, its log in a file."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        port: int | None = None,
        nofile: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.nofile = nofile
        self.env = process_env(env)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _preexec(self) -> None:
        if self.nofile is not None:
            raise_nofile(self.nofile)

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._preexec if self.nofile is not None else None,
            )

    async def wait_ready(self, path: str = "/readyz", within: float = 30.0) -> float:
        """Poll until `path` answers 200; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + within
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
                    async with session.get(
                        self.url + path, timeout=aiohttp.ClientTimeout(total=2)
                    ) as resp:
                        if resp.status == 200:
                            return time.monotonic() - started
                await asyncio.sleep(0.05)
        raise RuntimeError(f"service did not become ready in {within} s:\n{self.log()}")

    def wait_ready_sync(self, path: str = "/readyz", within: float = 30.0) -> float:
        """`wait_ready` for code outside an event loop (e.g. a module-scoped fixture)."""
        started = time.monotonic()
        while time.monotonic() < started + within:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"service did not become ready in {within} s:\n{self.log()}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_exit(self, within: float = 30.0) -> int:
        """Wait for the process to exit; kill it if it takes longer than `within` seconds."""
        assert self.proc is not None
        deadline = time.monotonic() + within
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError(f"service did not exit within {within} s")
        return self.proc.returncode

    async def terminate(self, within: float = 30.0) -> int:
        """SIGTERM, then wait for the exit."""
        self.signal(signal.SIGTERM)
        return await self.wait_exit(within)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


def service_env(redis_url: str, keys: str, admin_password: str, **extra: str) -> dict[str, str]:
    """The environment of a service on a real Redis with the given keys and admin password."""
    env = {
        "TOKEN_SERVICE_REDIS_URL": redis_url,
        "TOKEN_SERVICE_KEYS_JSON": keys,
        "TOKEN_SERVICE_ADMIN_PASSWORD": admin_password,
    }
    env.update(extra)
    return env


def basic_header(user: str, password: str) -> dict[str, str]:
    return dict(app_support.basic(user, password))


async def json_call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    expected: int,
    **kwargs: Any,
) -> Any:
    """One request whose status must be `expected`; its JSON body (None when empty)."""
    async with session.request(method, url, **kwargs) as resp:
        text = await resp.text()
        assert resp.status == expected, (method, url, resp.status, text)
        return json.loads(text) if text else None


async def named_token(
    session: aiohttp.ClientSession, base: str, auth: Mapping[str, str], name: str, **body: Any
) -> tuple[str, str]:
    """Create a named token through the API; returns (token id, token)."""
    created = await json_call(
        session,
        "POST",
        f"{base}{API}/user/tokens/named",
        201,
        json={"name": name, **body},
        headers=dict(auth),
    )
    return created["tokenId"], created["token"]


async def temporary_token(
    session: aiohttp.ClientSession, base: str, auth: Mapping[str, str], valid_until: int
) -> str:
    """Create a temporary token through the API."""
    created = await json_call(
        session,
        "POST",
        f"{base}{API}/user/tokens/temporary",
        201,
        json={"caveats": [{"type": "time", "validUntil": valid_until}]},
        headers=dict(auth),
    )
    token: str = created["token"]
    return token


# ---------------------------------------------------------------- load


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request of a load run; status 0 when no HTTP answer came at all."""

    op: str
    started: float
    ended: float
    status: int
    error: str = ""
    token: str | None = None
    token_id: str | None = None
    name: str | None = None

    @property
    def latency(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


OPS = ("temporary", "named", "verify", "check")


@dataclass
class Load:
    """Workers that mint and verify tokens against one service until stopped or spent."""

    base: str
    auth_token: str
    workers: int = 16
    max_requests: int = 20_000
    max_seconds: float = 60.0
    request_timeout: float = 10.0
    ops: tuple[str, ...] = OPS
    outcomes: list[Outcome] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._names = (f"load-{secrets.token_hex(4)}-{i}" for i in itertools.count())
        self._budget = itertools.count()

    def stop(self) -> None:
        self._stop.set()

    def since(self, start: float, end: float = float("inf")) -> list[Outcome]:
        """Requests that started at or after `start` and ended before `end`."""
        return [o for o in self.outcomes if o.started >= start and o.ended < end]

    async def run(self) -> None:
        """Run the workers until stop(), `max_requests` or `max_seconds`."""
        connector = aiohttp.TCPConnector(limit=self.workers, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            deadline = time.monotonic() + self.max_seconds
            await asyncio.gather(*(self._worker(session, i, deadline) for i in range(self.workers)))

    async def _worker(self, session: aiohttp.ClientSession, index: int, deadline: float) -> None:
        for n in itertools.count(index):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            if next(self._budget) >= self.max_requests:
                return
            self.outcomes.append(await self._one(session, self.ops[n % len(self.ops)]))

    def _pick_token(self, n: int) -> str:
        if self.minted:
            return self.minted[n % len(self.minted)]
        return self.auth_token

    async def _one(self, session: aiohttp.ClientSession, op: str) -> Outcome:
        auth = {"X-Auth-Token": self.auth_token}
        name: str | None = None
        started = time.monotonic()
        try:
            if op == "temporary":
                valid_until = int(time.time()) + 3600
                body: dict[str, Any] = {"caveats": [{"type": "time", "validUntil": valid_until}]}
                request = session.post(
                    f"{self.base}{API}/user/tokens/temporary", json=body, headers=auth
                )
            elif op == "named":
                name = next(self._names)
                request = session.post(
                    f"{self.base}{API}/user/tokens/named", json={"name": name}, headers=auth
                )
            elif op == "verify":
                token = self._pick_token(len(self.outcomes))
                request = session.post(
                    f"{self.base}{API}/tokens/verify_access_token", json={"token": token}
                )
            else:
                token = self._pick_token(len(self.outcomes) + 1)
                request = session.get(
                    f"{self.base}/auth/check", headers={"Authorization": f"Bearer {token}"}
                )
            async with request as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            return Outcome(op, started, time.monotonic(), 0, type(e).__name__, name=name)
        ended = time.monotonic()
        error, token_out, tid = _describe(status, text)
        if token_out is not None:
            self.minted.append(token_out)
        return Outcome(op, started, ended, status, error, token_out, tid, name)


def _describe(status: int, text: str) -> tuple[str, str | None, str | None]:
    """(error id or text, minted token, token id) of a response body."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return text.strip()[:80], None, None
    if 200 <= status < 300 and isinstance(body, dict) and "token" in body:
        return "", body["token"], body.get("tokenId")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("id")), None, None
    if isinstance(body, str):
        return body, None, None
    return "", None, None


def statuses(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """How many outcomes had each status (and error id), for messages and figures."""
    counts: dict[str, int] = {}
    for o in outcomes:
        key = f"{o.status} {o.error}".strip()
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


async def verify_all(
    base: str,
    tokens: Iterable[str],
    *,
    concurrency: int = 16,
    verify: Callable[[aiohttp.ClientSession, str], Any] | None = None,
) -> dict[str, tuple[int, str]]:
    """Verify each token (Onezone verify_access_token); returns {token: (status, body)}."""
    results: dict[str, tuple[int, str]] = {}
    todo = list(dict.fromkeys(tokens))
    semaphore = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession, token: str) -> None:
        async with semaphore:
            if verify is not None:
                results[token] = await verify(session, token)
                return
            async with session.post(
                f"{base}{API}/tokens/verify_access_token", json={"token": token}
            ) as resp:
                results[token] = (resp.status, await resp.text())

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(session, t) for t in todo))
    return results


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
