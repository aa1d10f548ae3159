"""Run the reliability tests and rewrite bench/RELIABILITY.md from the figures they print.

Every test in tests/reliability prints what it measured as `FIGURE: {json}`
lines; this runs them with `-s`, collects those lines, and writes them out as
tables, with the machine they were measured on and the tests' outcomes.

    python bench/reliability.py [extra pytest arguments]
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "RELIABILITY.md"

SECTIONS = {
    "outage.kill": "Redis killed under load (SIGKILL, 3 s down, restarted on the same port)",
    "outage.pause": "Redis frozen under load (SIGSTOP for 3 s, socket timeout 0.5 s, then SIGCONT)",
    "exactness": "Exact mint limit across two processes on one Redis",
    "revocation": "Revocation through one process, refusal by the other (verification cache on)",
    "fuzz": "Fuzzing: parsers and every route",
    "abuse": "Abuse: bodies, headers, tokens, slow and idle connections, password guessing",
    "secrets": "No secret in logs or error bodies",
    "wire": "Malformed HTTP on the wire, with real credentials: no 5xx, no secret in the log",
    "location": "An unsigned location is never trusted",
    "restart": "Restarts: same Redis and keys, then key rotation and retirement",
    "lockout": "Basic-auth lockout under concurrency (in-process app, real Redis)",
    "f5 limits": "generate_token limits under concurrency (in-process app, real Redis)",
    "role revocation": "Removing a role binding while its user mints (real Redis)",
    "forged flood": "Forged-token flood at /auth/check (real service process, real Redis)",
}


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[tuple[str, str]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    redis = shutil.which("redis-server")
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("Memory", _memory()),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        (
            "aiohttp / redis-py / uvloop",
            " / ".join(_version(p) for p in ("aiohttp", "redis", "uvloop")),
        ),
        ("hypothesis", _version("hypothesis")),
        ("redis-server", _run([redis, "--version"]) if redis else "not installed"),
        ("RLIMIT_NOFILE (soft / hard)", f"{soft} / {hard}"),
    ]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def render(stdout: str, exit_code: int, wall: float) -> str:
    figures: dict[str, list[dict[str, object]]] = {}
    durations: list[tuple[str, str]] = []
    xfails: list[str] = []
    summary = ""
    for line in stdout.splitlines():
        if "FIGURE: " in line:
            record = json.loads(line.split("FIGURE: ", 1)[1])
            figures.setdefault(str(record["test"]), []).append(record)
        elif m := re.match(r"\s*([\d.]+)s (call|setup|teardown)\s+(tests/reliability/\S+)", line):
            if m.group(2) == "call" or float(m.group(1)) >= 1.0:
                durations.append((f"{m.group(1)} s", f"{m.group(3)} ({m.group(2)})"))
        elif line.startswith(("XFAIL ", "XPASS ")):
            xfails.append(line)
        elif re.search(r"\b(passed|failed|error)\b.* in [\d.]+s", line):
            summary = line.strip("= ")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Reliability and security figures",
        "",
        "Written by `python bench/reliability.py` from the `FIGURE:` lines that the tests in",
        "`tests/reliability` print; rerun it to refresh. Every load targets 127.0.0.1 only.",
        "",
        f"Latest run: {now}; pytest exit code {exit_code}; {summary or 'no summary'};"
        f" wall time {wall:.0f} s.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {_cell(v)} |" for k, v in machine()),
        "",
    ]
    for key in [*SECTIONS, *(k for k in figures if k not in SECTIONS)]:
        records = figures.get(key)
        if not records:
            continue
        out += [f"## {SECTIONS.get(key, key)}", "", "| figure | value | unit |", "|---|---|---|"]
        out += [
            f"| {_cell(r['name'])} | {_cell(r['value'])} | {_cell(r['unit'])} |" for r in records
        ]
        out.append("")
    if xfails:
        out += ["## Known bugs (strict xfail)", "", *(f"- {_cell(x)}" for x in xfails), ""]
    if durations:
        out += ["## Test durations", "", "| time | test |", "|---|---|"]
        out += [f"| {t} | {_cell(name)} |" for t, name in durations]
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/reliability",
        "-s",
        "-q",
        "-rxX",
        "--durations=0",
        *argv,
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    REPORT.write_text(render(done.stdout, done.returncode, wall), encoding="utf-8")
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
