"""`token-service serve`: one process, or N workers sharing the port; drain on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from service import logs
from service.cli.common import load_settings
from service.settings import Settings, SettingsError

log = logging.getLogger("service")

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter

# A request sent just before SIGTERM may still be on its way into an idle
# keep-alive connection; closing those at once would drop it. So the old
# connections are served a little longer, each response closing its own.
MAX_LINGER = 1.0
# Connections the kernel may hold before they are accepted. aiohttp's 128 is
# overrun when hundreds of clients connect at once, and a dropped SYN costs
# the client a one-second retransmission.
LISTEN_BACKLOG = 1024
LINGER_POLL = 0.02

# The youngest generation is collected when the tracked objects allocated
# since the last collection outnumber those freed by this much. Under load that
# count is mostly requests still in flight, not garbage: at CPython's default
# threshold, concurrent requests alone set off collections with nothing to
# free, a cost every request pays. This threshold leaves collections to real
# garbage (cycles).
GC_GEN0_THRESHOLD = 10_000


def settle_heap() -> None:
    """Tune the collector once the app is built, before the first request."""
    # Everything built so far (modules, the app, the routes) lives as long as the
    # process: out of the collector's sight, full collections stay short and
    # do not show up as tail latency.
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


async def serve(settings: Settings, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then drain within `server.shutdown_grace` and close."""
    from aiohttp import web

    from service.app import create_app
    from service.appkeys import SHUTTING_DOWN

    grace = settings.server.shutdown_grace
    linger = min(MAX_LINGER, grace / 2)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace - linger)
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.server.host,
        settings.server.port,
        reuse_port=reuse_port or None,
        backlog=LISTEN_BACKLOG,
    )
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise SettingsError(
            f"server.port: cannot listen on {settings.server.host}:{settings.server.port}: "
            f"{e.strerror}"
        ) from e

    settle_heap()
    log.info("process %d listening", os.getpid())

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()

    # Not ready from now on, and every response closes its connection.
    app[SHUTTING_DOWN][0] = True
    await site.stop()
    server = runner.server
    log.info("shutting down: listener closed, draining within %.1f s", grace)
    # aiohttp signals no "last connection closed": poll, for at most `linger`.
    for _ in range(math.ceil(linger / LINGER_POLL)):
        if server is None or not server.connections:
            break
        await asyncio.sleep(LINGER_POLL)
    # Closes idle connections, waits for handlers in progress (up to the rest of
    # the grace period), runs on_shutdown and on_cleanup: the store closes last.
    await runner.cleanup()
    log.info("stopped")


def _return_large_blocks_to_the_system() -> None:
    """Keep glibc from holding on to scrypt's large buffers.

    Password checks run in worker threads; after the first large block is
    freed, glibc raises its mmap threshold and every thread arena keeps a
    heap of a hash's size for good. A fixed threshold, below that size,
    returns them.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    _return_large_blocks_to_the_system()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    logs.configure(settings.server.log_level)
    asyncio.run(serve(settings, reuse_port=reuse_port))


def _worker_main(settings: Settings) -> None:
    """A worker process of `serve --workers N`: its exit code says how it ended."""
    # multiprocessing prints a failing child's traceback as plain text: log it instead.
    logs.configure(settings.server.log_level)
    try:
        _run_worker(settings, reuse_port=True)
    except SettingsError as e:
        log.error("%s", e)
        sys.exit(2)
    except Exception:
        log.critical("worker failed", exc_info=True)
        sys.exit(1)


def warn_if_keys_file_is_open(settings: Settings) -> None:
    """A WARNING when `keys.file` can be read (or written) by its group or by others."""
    path = settings.keys.file
    if not path:
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # loading the keys reports it, naming the setting
    if mode & 0o077:
        log.warning(
            "keys.file %s is open to its group or others (mode %03o): anyone who can read it "
            "can mint tokens; make it readable by this service's user only (chmod 600)",
            path,
            mode & 0o777,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """`serve`: exit status 2 on a bad setting, logged as JSON like every other line."""
    # Every line of the service's output is JSON, a bad setting at start included.
    logs.configure("info")
    try:
        settings = load_settings(args)
        logs.configure(settings.server.log_level)
        return _serve(settings)
    except SettingsError as e:
        log.error("%s", e)
        return 2


def _serve(settings: Settings) -> int:
    warn_if_keys_file_is_open(settings)
    log.info(
        "serving on http://%s:%d with %d worker(s)",
        settings.server.host,
        settings.server.port,
        settings.server.workers,
    )
    if settings.server.workers == 1:
        _run_worker(settings, reuse_port=False)
        return 0
    if settings.redis.embedded:
        raise SettingsError("server.workers: several workers need a shared Redis, not memory://")
    return _serve_workers(settings)


def _metrics_dir() -> tuple[Path, bool]:
    """Where the workers write their metrics, without an earlier run's files; True if made here."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        made = tempfile.mkdtemp(prefix="token-service-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        return Path(made), True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    # Files of dead processes would be summed into /metrics (or break it): start clean.
    for stale in path.glob("*.db"):
        stale.unlink()
    return path, False


def _serve_workers(settings: Settings) -> int:
    """Run N workers on one port (SO_REUSEPORT); forward signals; stop all if one dies."""
    from prometheus_client import multiprocess

    # Each worker writes its metrics here; /metrics in any worker sums them.
    metrics_dir, made = _metrics_dir()
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(settings,), name=f"worker-{i}")
        for i in range(settings.server.workers)
    ]
    for p in procs:
        p.start()
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    try:
        running = list(procs)
        while running:
            multiprocessing.connection.wait([p.sentinel for p in running])
            for p in [p for p in running if p.exitcode is not None]:
                running.remove(p)
                if p.pid is not None:
                    multiprocess.mark_process_dead(p.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
                if p.exitcode:
                    code = max(code, p.exitcode if p.exitcode > 0 else 1)
                if not stopping:
                    # Half a service behind a passing readiness probe is worse than a restart.
                    log.error(
                        "%s (pid %s) exited with %s: stopping the others", p.name, p.pid, p.exitcode
                    )
                    code = code or 1
                    forward(signal.SIGTERM, None)
    finally:
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return code


def add_parser(sub: Any) -> None:
    """`serve [--host H] [--port P] [--workers N] [--config FILE]`."""
    serve_parser = sub.add_parser("serve", help="run the HTTP service")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=int)
    serve_parser.add_argument("--workers", type=int)
    serve_parser.add_argument("--config", default=argparse.SUPPRESS, help="a TOML config file")
    serve_parser.set_defaults(func=cmd_serve)
