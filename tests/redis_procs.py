"""Real redis-server processes for tests: a single server, and a Redis Cluster.

Each server runs on a free loopback port in its own temporary directory, keeps
nothing on disk unless asked to (`persistent=True`: an append-only file synced
on every write, so a killed server comes back with every acknowledged write),
and can be stopped, killed, paused and restarted on the same port to test
failures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def require_redis() -> None:
    """Skip when redis-server is missing; under CI=true that is a failure instead."""
    if REDIS_SERVER and REDIS_CLI:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(
            "redis-server/redis-cli are required under CI=true (apt-get install redis-server)"
        )
    pytest.skip("redis-server is not installed: tests against real Redis need it")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free loopback port (and port + 10000 free too, for a cluster bus)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if with_bus and (port + 10000 > 65535 or not _port_free(port + 10000)):
            continue
        return port
    raise RuntimeError("no free port")


class RedisProcess:
    """One redis-server on 127.0.0.1:<port>."""

    def __init__(
        self,
        port: int | None = None,
        *,
        cluster: bool = False,
        persistent: bool = False,
        password: str | None = None,
    ) -> None:
        self.port = port or free_port(with_bus=cluster)
        self.cluster = cluster
        self.persistent = persistent
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="redis-test-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", self.dir,
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.persistent:
            # "always": the reply to a write leaves only after it is on disk.
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ready()

    def cli(self, *args: str, timeout: float = 10.0) -> str:
        assert REDIS_CLI
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        out = subprocess.run(
            [REDIS_CLI, "-p", str(self.port), *auth, *args],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return out.stdout.decode()

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as s,
            ):
                if self.password:
                    s.sendall(f"AUTH {self.password}\r\n".encode())
                    if not s.recv(16).startswith(b"+OK"):
                        raise RuntimeError(f"redis-server on {self.port} refused the password")
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def stop(self) -> None:
        """Kill the server (SIGKILL) and wait for it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    kill = stop

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def flush(self) -> None:
        self.cli("FLUSHALL")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """A cluster of three masters from real redis-server processes."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [RedisProcess(cluster=True) for _ in range(masters)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        assert REDIS_CLI
        subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in self.nodes],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes):
                return
            time.sleep(0.1)
        raise RuntimeError("cluster did not become ready")

    def flush(self) -> None:
        for node in self.nodes:
            node.flush()

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@contextlib.contextmanager
def running(server: RedisProcess | RedisCluster) -> Iterator[RedisProcess | RedisCluster]:
    try:
        server.start()
        yield server
    finally:
        server.close()


class RedisSentinel:
    """A master, a replica and Sentinels watching them (service name `mymaster`)."""

    service = "mymaster"

    def __init__(self, sentinels: int = 3) -> None:
        self.master = RedisProcess()
        self.replica = RedisProcess()
        self.sentinels = [RedisProcess() for _ in range(sentinels)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self) -> None:
        assert REDIS_SERVER
        self.master.start()
        self.replica.start()
        self.replica.cli("REPLICAOF", "127.0.0.1", str(self.master.port))
        quorum = len(self.sentinels) // 2 + 1
        for s in self.sentinels:
            conf = os.path.join(s.dir, "sentinel.conf")
            with open(conf, "w") as fh:
                fh.write(
                    f"port {s.port}\nbind 127.0.0.1\ndir {s.dir}\n"
                    f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} {quorum}\n"
                    f"sentinel down-after-milliseconds {self.service} 500\n"
                    f"sentinel failover-timeout {self.service} 3000\n"
                )
            s.proc = subprocess.Popen(
                [REDIS_SERVER, conf, "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            s.wait_ready()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = self.replica.cli("INFO", "replication")
            known = all(
                "num-other-sentinels" in s.cli("SENTINEL", "master", self.service)
                for s in self.sentinels
            )
            if "master_link_status:up" in info and known:
                return
            time.sleep(0.1)
        raise RuntimeError("sentinel set-up did not become ready")

    def current_master_port(self) -> int:
        out = self.sentinels[0].cli("SENTINEL", "get-master-addr-by-name", self.service).split()
        return int(out[1])

    def flush(self) -> None:
        port = self.current_master_port()
        node = self.master if port == self.master.port else self.replica
        node.flush()

    def close(self) -> None:
        for s in self.sentinels:
            s.close()
        self.replica.close()
        self.master.close()
