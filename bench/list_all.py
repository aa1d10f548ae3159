"""Listing every named token: `GET /api/v3/onezone/tokens/named` over 100,000 live tokens.

For each case (users x tokens per user; by default 1,000 x 100, 100 x 1,000,
one user holding all 100,000, whose name index is walked by HSCAN's cursor,
and 100,000 x 1) it starts its own redis-server on a free loopback port and the
service (one worker pinned to core 0, the settings of `bench/load.py`; this
script and Redis on core 1), fills Redis and checks that the route returns
exactly the ids written (and that one of them is found by id and verifies).
Then, `--rounds` times: `--clients` concurrent
`POST /api/v3/onezone/tokens/verify_access_token` of a valid token for
`--idle` seconds, the service otherwise idle; one listing alone; one listing
with those verifications alongside. It prints:

- of the listings alone: time to first byte (the status line) and total
  time, the bytes of the reply, the service's CPU time; its peak RSS growth
  (VmHWM reset through /proc/<pid>/clear_refs just before, against VmRSS
  just before); the longest single Redis command (SLOWLOG with
  slowlog-log-slower-than 0, reset just before), and the SSCAN/HSCAN
  commands sent with their time inside Redis; the latency of PINGs sent to
  Redis on a connection of their own during the listing, against PINGs
  while Redis is idle: a pipelined step runs back to back inside Redis, so
  this is how long another client can wait, which SLOWLOG does not show;
- of the listings with verifications alongside: their total time and the
  verifications' p50/p99/max latency, against the idle ones.

Redis is filled directly, with pipelines, in the shape the store writes: per
user its hash, its username, its owner hint and its entry in the users set
(`Users.create`); per token an id carrying its owner's hint
(`KeyRing.new_token_id`), its record hash (the fields of `NamedTokens.mint`
and `mint_named.lua`, with a TTL) and its entry `tid:expiry` in the owner's
name index (a TTL as long as the latest token's). Through the API, each token would cost a request, a
signature chain and a rate-limited script, and each user a scrypt hash (about
50 ms: 100,000 users would take over an hour); the listing reads none of
that, so the users share the bootstrap admin's password hash and the mint's
rate counter is not written. Each user also keeps one name whose token has
expired (its index entry outlives its record, as after a real expiry), which
must not be listed.

    python bench/list_all.py [--cases 1000x100,100x1000,1x100000,100000x1] [--rounds 3]
                             [--clients 4] [--idle 1.0]

Needs redis-server and taskset (Debian: redis-server, util-linux). About two
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis
import redis.asyncio as aredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402  (the service's benchmark settings and start-up)
from redis_procs import RedisProcess, free_port  # noqa: E402

from service.store.keys import Keys  # noqa: E402
from service.tokens.caveats import TimeCaveat, to_text  # noqa: E402
from service.tokens.keys import OWNER_HINT_DIGITS, KeyRing  # noqa: E402

LIST = "/api/v3/onezone/tokens/named"
VERIFY = "/api/v3/onezone/tokens/verify_access_token"
TEMPORARY = "/api/v3/onezone/user/tokens/temporary"
KID = "bench"
# Commands per pipeline while filling: large enough to amortize, small enough
# that no single reply buffer grows large.
FILL_BATCH = 20_000
# Longest a listing may take before the benchmark gives up.
LIST_TIMEOUT = 120.0
# Pause between two PINGs of the Redis probe, in s.
PING_PAUSE = 0.0005


@dataclass(frozen=True)
class Case:
    users: int
    per_user: int

    @property
    def name(self) -> str:
        return f"{self.users}x{self.per_user}"

    @property
    def tokens(self) -> int:
        return self.users * self.per_user


@dataclass
class Listing:
    """One timed listing."""

    ttfb_ms: float
    total_ms: float
    size: int
    ids: int
    cpu_ms: float
    rss_growth_mb: float
    # Each Redis command's time inside Redis during the listing, by command name.
    redis_us: dict[str, list[int]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    pings_ms: list[float] = field(default_factory=list)


@dataclass
class CaseResult:
    """A case's figures: idle verifications, listings alone, listings with verifications."""

    idle_ms: list[float] = field(default_factory=list)
    idle_pings_ms: list[float] = field(default_factory=list)
    alone: list[Listing] = field(default_factory=list)
    loaded: list[Listing] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_ms(pid: int) -> float:
    """User plus system CPU time of a process, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{name} missing from /proc/{pid}/status")


def reset_peak_rss(pid: int) -> int:
    """Set a process's VmHWM to its VmRSS (clear_refs 5), and return that, in kB."""
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")
    return status_kb(pid, "VmRSS")


def fill(r: redis.Redis, keys: Keys, ring: KeyRing, case: Case, pw_hash: str) -> set[str]:
    """Write `case`'s users and live named tokens in the store's shape; their ids."""
    now = int(time.time())
    exp = now + 86_400
    ttl = exp - now
    caveats = json.dumps([to_text(TimeCaveat(exp))])
    expected: set[str] = set()
    pipe = r.pipeline(transaction=False)
    queued = 0

    def flush_if_full() -> None:
        nonlocal queued
        if queued >= FILL_BATCH:
            pipe.execute()
            queued = 0

    for u in range(case.users):
        uid = os.urandom(16).hex()
        name = f"bench-user-{u}"
        pipe.set(keys.username(name), uid)
        pipe.hset(
            keys.user(uid),
            mapping={"id": uid, "name": name, "pw": pw_hash, "admin": 0, "created": now},
        )
        pipe.sadd(keys.owner_hints(uid[:OWNER_HINT_DIGITS]), uid)
        pipe.sadd(keys.users(), uid)
        index = keys.name_index(uid)
        # An expired token's name: its record is gone, its entry stays.
        pipe.hset(index, "expired", f"{ring.new_token_id(owner=uid)}:{now - 60}")
        queued += 5
        for t in range(case.per_user):
            tid = ring.new_token_id(owner=uid)
            token_name = f"token-{t}"
            record = {
                # NamedTokens.mint's fields, then Authority.mint_named's record.
                "uid": uid,
                "name": token_name,
                "tid": tid,
                "revoked": 0,
                "exp": exp,
                "type": "access",
                "caveats": caveats,
                "custom": "{}",
                "created": now,
                "kid": KID,
            }
            pipe.hset(keys.named_record(uid, tid), mapping=record)
            pipe.expire(keys.named_record(uid, tid), ttl)
            pipe.hset(index, token_name, f"{tid}:{exp}")
            queued += 3
            expected.add(tid)
            flush_if_full()
        pipe.expire(index, ttl)
        queued += 1
        flush_if_full()
    pipe.execute()
    return expected


async def verify_loop(
    session: aiohttp.ClientSession,
    base: str,
    body: bytes,
    stop: asyncio.Event,
    deadline: float,
    out: list[float],
) -> None:
    """Verify one token after another until told to stop; each latency in ms."""
    headers = {"Content-Type": "application/json"}
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.post(base + VERIFY, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"verify_access_token answered {resp.status}")
        out.append((time.perf_counter() - started) * 1000)


async def verify_latencies(
    session: aiohttp.ClientSession, base: str, body: bytes, clients: int, seconds: float
) -> list[float]:
    """Latencies of `clients` concurrent verifications for `seconds`, the service idle."""
    out: list[float] = []
    stop = asyncio.Event()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(verify_loop(session, base, body, stop, deadline, out) for _ in range(clients))
    )
    return out


async def ping_loop(
    client: aredis.Redis, stop: asyncio.Event, deadline: float, out: list[float]
) -> None:
    """PING Redis from a connection of its own until told to stop; each latency in ms."""
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        await client.ping()
        out.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PING_PAUSE)


async def ping_latencies(client: aredis.Redis, seconds: float) -> list[float]:
    """Latencies of PINGs for `seconds`, Redis otherwise idle."""
    out: list[float] = []
    await ping_loop(client, asyncio.Event(), time.monotonic() + seconds, out)
    return out


async def list_all(session: aiohttp.ClientSession, base: str, auth: str) -> tuple[float, bytes]:
    """One listing: the time to its status line (s from now) and its body."""
    started = time.perf_counter()
    async with session.get(base + LIST, headers={"Authorization": auth}) as resp:
        ttfb = time.perf_counter() - started
        if resp.status != 200:
            raise RuntimeError(f"listing answered {resp.status}: {await resp.text()}")
        chunks = [chunk async for chunk in resp.content.iter_any()]
    return ttfb, b"".join(chunks)


async def timed_listing(
    session: aiohttp.ClientSession,
    base: str,
    auth: str,
    body: bytes,
    clients: int,
    service_pid: int,
    r: redis.Redis,
    pinger: aredis.Redis | None,
) -> Listing:
    """One listing with `clients` verifications and `pinger`'s PINGs alongside; its figures."""
    rss_before = reset_peak_rss(service_pid)
    r.slowlog_reset()
    cpu_before = cpu_ms(service_pid)
    latencies: list[float] = []
    pings: list[float] = []
    stop = asyncio.Event()
    deadline = time.monotonic() + LIST_TIMEOUT
    loops = [
        asyncio.ensure_future(verify_loop(session, base, body, stop, deadline, latencies))
        for _ in range(clients)
    ]
    if pinger is not None:
        loops.append(asyncio.ensure_future(ping_loop(pinger, stop, deadline, pings)))
    started = time.perf_counter()
    try:
        ttfb, reply = await list_all(session, base, auth)
        total = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(*loops)
    cpu = cpu_ms(service_pid) - cpu_before
    growth = (status_kb(service_pid, "VmHWM") - rss_before) / 1024
    redis_us: dict[str, list[int]] = {}
    for entry in r.slowlog_get(-1):
        name = entry["command"].split()[0].decode().upper()
        if name not in ("SLOWLOG", "CONFIG"):
            redis_us.setdefault(name, []).append(entry["duration"])
    return Listing(
        ttfb * 1000,
        total * 1000,
        len(reply),
        len(json.loads(reply)["tokens"]),
        cpu,
        growth,
        redis_us,
        latencies,
        pings,
    )


async def measure(
    port: int, auth: str, token: str, case: Case, expected: set[str], args: argparse.Namespace,
    service_pid: int, r: redis.Redis, redis_port: int,
) -> CaseResult:  # fmt: skip
    """Check the listing's ids, then per round: idle latencies, a listing alone, one loaded."""
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"token": token}).encode()
    timeout = aiohttp.ClientTimeout(total=LIST_TIMEOUT)
    # Idle connections are dropped before the service's keepalive_timeout (5 s) closes
    # them: a listing alone can last longer, and a request on a connection the
    # service is closing fails.
    connector = aiohttp.TCPConnector(limit=args.clients + 1, keepalive_timeout=2.0)
    pinger = aredis.Redis(port=redis_port)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        _, reply = await list_all(session, base, auth)
        ids = json.loads(reply)["tokens"]
        if len(ids) != len(expected) or set(ids) != expected:
            raise RuntimeError(
                f"{case.name}: listed {len(ids)} ids ({len(set(ids))} distinct), "
                f"{len(set(ids) & expected)} of the {len(expected)} written"
            )
        result = CaseResult()
        for _ in range(args.rounds):
            result.idle_ms += await verify_latencies(session, base, body, args.clients, args.idle)
            result.idle_pings_ms += await ping_latencies(pinger, args.idle / 2)
            for clients, probe, listings in (
                (0, pinger, result.alone),
                (args.clients, None, result.loaded),
            ):
                listing = await timed_listing(
                    session, base, auth, body, clients, service_pid, r, probe
                )
                if listing.ids != len(expected):
                    raise RuntimeError(f"{case.name}: a timed listing listed {listing.ids} ids")
                listings.append(listing)
    await pinger.aclose()
    return result


def check_shape(port: int, auth: str, tid: str) -> None:
    """A filled token is one the service reads as its own: found by id, live, verifiable."""
    status, reply = load.http(port, "GET", f"{LIST}/{tid}", {"Authorization": auth})
    if status != 200 or json.loads(reply)["revoked"]:
        raise RuntimeError(f"filled token {tid}: {status} {reply!r}")
    token = json.loads(reply)["token"]
    status, reply = load.http(port, "POST", VERIFY, load.JSON_CT, json.dumps({"token": token}))
    if status != 200:
        raise RuntimeError(f"filled token {tid} does not verify: {status} {reply!r}")


def run_case(case: Case, args: argparse.Namespace, folder: str) -> CaseResult:
    """One case against a fresh Redis and a fresh service."""
    server = RedisProcess()
    server.start()
    assert server.proc is not None
    os.sched_setaffinity(server.proc.pid, {1})
    keys_file = os.path.join(folder, "keys.json")
    entry = KeyRing.generate_entry(KID)
    Path(keys_file).write_text(json.dumps({"keys": [entry]}))
    ring = KeyRing.from_mapping({"keys": [entry]})
    r = redis.Redis(port=server.port)
    service = None
    try:
        r.config_set("slowlog-log-slower-than", 0)
        # Room for every command of a listing: an HSCAN per user and per 1,000 names
        # of a large index, an SSCAN per 256 users.
        r.config_set("slowlog-max-len", 2 * case.users + case.tokens // 100 + 10_000)
        port = free_port()
        service, _ = load.start_service(port, server.url, keys_file)
        auth = "Basic " + base64.b64encode(f"admin:{load.ADMIN_PASSWORD}".encode()).decode()
        valid_until = int(time.time()) + 3600
        status, reply = load.http(
            port,
            "POST",
            TEMPORARY,
            {"Authorization": auth, **load.JSON_CT},
            json.dumps(
                {
                    "type": {"accessToken": {}},
                    "caveats": [{"type": "time", "validUntil": valid_until}],
                }
            ),
        )
        assert status == 201, (status, reply)
        token = json.loads(reply)["token"]
        keys = Keys()  # the default key prefix, as the service's settings here
        admin_uid = r.get(keys.username("admin"))
        assert admin_uid is not None
        pw_hash = r.hget(keys.user(admin_uid.decode()), "pw")
        assert pw_hash is not None
        started = time.monotonic()
        expected = fill(r, keys, ring, case, pw_hash.decode())
        print(
            f"{case.name}: filled {len(expected):,} tokens of {case.users:,} users "
            f"in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        check_shape(port, auth, min(expected))
        return asyncio.run(
            measure(port, auth, token, case, expected, args, service.pid, r, server.port)
        )
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
        r.close()
        server.close()


def report(results: dict[str, CaseResult], rounds: int) -> None:
    """The figures as a table: one row per figure, one column per case."""
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, figure: Callable[[CaseResult], str]) -> None:
        rows.append((label, [figure(c) for c in results.values()]))

    def med(ls: list[Listing], attr: str) -> float:
        return float(statistics.median(getattr(x, attr) for x in ls))

    def durations(ls: list[Listing], name: str) -> list[float]:
        return [float(d) for x in ls for d in x.redis_us.get(name, [])]

    def longest(ls: list[Listing]) -> str:
        us, name = max((max(d), n) for x in ls for n, d in x.redis_us.items())
        return f"{us:,} {name}"

    def scans(ls: list[Listing], name: str) -> str:
        d = durations(ls, name)
        if not d:
            return "-"
        return f"{len(d) // len(ls):,} / {percentile(d, 0.5):.0f} / {percentile(d, 0.99):.0f}"

    def scan_ms(ls: list[Listing]) -> str:
        return f"{sum(durations(ls, 'SSCAN') + durations(ls, 'HSCAN')) / len(ls) / 1000:.0f}"

    def pings(values: list[float]) -> str:
        return f"{percentile(values, 0.99):.2f} / {max(values):.1f}"

    def during(c: CaseResult) -> list[float]:
        return [v for x in c.loaded for v in x.latencies_ms]

    row("ids listed", lambda c: f"{c.alone[0].ids:,}")
    row("reply bytes", lambda c: f"{c.alone[0].size:,}")
    row("time to first byte ms", lambda c: f"{med(c.alone, 'ttfb_ms'):.1f}")
    row("total ms", lambda c: f"{med(c.alone, 'total_ms'):.0f}")
    row("ids/s", lambda c: f"{c.alone[0].ids / med(c.alone, 'total_ms') * 1000:,.0f}")
    row("service CPU ms", lambda c: f"{med(c.alone, 'cpu_ms'):.0f}")
    row("peak RSS growth MB (max)", lambda c: f"{max(x.rss_growth_mb for x in c.alone):.1f}")
    row("longest Redis command µs (max)", lambda c: longest(c.alone))
    row("SSCAN: n / p50 / p99 µs", lambda c: scans(c.alone, "SSCAN"))
    row("HSCAN: n / p50 / p99 µs", lambda c: scans(c.alone, "HSCAN"))
    row("SSCAN+HSCAN time in Redis ms", lambda c: scan_ms(c.alone))
    row("Redis PING p99 / max ms idle", lambda c: pings(c.idle_pings_ms))
    row(
        "Redis PING p99 / max ms listing", lambda c: pings([v for x in c.alone for v in x.pings_ms])
    )
    row("total ms, verifying alongside", lambda c: f"{med(c.loaded, 'total_ms'):.0f}")
    row("verify requests idle / listing", lambda c: f"{len(c.idle_ms)} / {len(during(c))}")
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        row(f"verify {label} ms idle", lambda c, q=q: f"{percentile(c.idle_ms, q):.2f}")
        row(f"verify {label} ms listing", lambda c, q=q: f"{percentile(during(c), q):.2f}")
        row(
            f"verify {label} listing / idle",
            lambda c, q=q: f"{percentile(during(c), q) / percentile(c.idle_ms, q):.1f}x",
        )
    row("verify max ms idle", lambda c: f"{max(c.idle_ms):.1f}")
    row("verify max ms listing", lambda c: f"{max(during(c)):.1f}")
    width = max(len(label) for label, _ in rows) + 2
    cols = [max(len(name), *(len(v[k]) for _, v in rows)) + 2 for k, name in enumerate(results)]
    print(f"\nmedian of {rounds} listings per case, (max) over them, µs and verify pooled")
    print(f"{'':<{width}}" + "".join(f"{n:>{c}}" for n, c in zip(results, cols, strict=True)))
    for label, values in rows:
        print(f"{label:<{width}}" + "".join(f"{v:>{c}}" for v, c in zip(values, cols, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="1000x100,100x1000,1x100000,100000x1")
    parser.add_argument("--rounds", type=int, default=3, help="timed listings per case")
    parser.add_argument("--clients", type=int, default=4, help="concurrent verifications")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds of idle verifications")
    args = parser.parse_args()
    for tool in ("redis-server", "taskset"):
        if not shutil.which(tool):
            print(f"error: {tool} is required", file=sys.stderr)
            return 2
    cases = [Case(*map(int, c.split("x"))) for c in args.cases.split(",")]
    # This process shares Redis's core: the service's core does only the service's work.
    os.sched_setaffinity(0, {1})
    folder = tempfile.mkdtemp(prefix="bench-")
    results: dict[str, CaseResult] = {}
    try:
        for case in cases:
            results[case.name] = run_case(case, args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    report(results, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
