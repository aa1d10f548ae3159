"""The README keeps its promises: quick start, configuration reference, metrics, and a walk-through that runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from test_serve import ServiceProcess

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
QUICK_START = (
    "pip install -r requirements.lock && pip install --no-deps . && token-service serve",
    "pip install -r requirements-test.lock && pip install --no-deps -e . && python -m pytest",
)
WALKTHROUGH_URL = "http://127.0.0.1:8080"
WALKTHROUGH_PASSWORD = "walk-through-admin-password"


def section(title: str, level: int = 2) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    lines: list[str] | None = None
    fenced = False
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"(#+) (.*)", line) if not fenced else None
        if lines is None:
            if heading and len(heading.group(1)) == level and heading.group(2).strip() == title:
                lines = []
            continue
        if heading and len(heading.group(1)) <= level:
            break
        lines.append(line)
    assert lines is not None, f"README has no section {title!r}"
    return "".join(lines)


def code_blocks(text: str, language: str = "sh") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in `text`, as stripped cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a TOML document; an array of tables becomes `name[].key`."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for entry in value:
                for sub in entry:
                    out[f"{prefix}{key}[].{sub}"] = None
        else:
            out[prefix + key] = value
    return out


def test_quick_start_is_the_two_commands() -> None:
    blocks = [b.strip() for b in code_blocks(section("Quick start"))]
    assert blocks == list(QUICK_START)


def test_configuration_reference_matches_default_toml() -> None:
    defaults = flatten(tomllib.loads((ROOT / "config" / "default.toml").read_text()))
    rows = {
        row[0].strip("`"): row
        for row in table_rows(section("Reference", level=3))
        if row[0].startswith("`")
    }
    assert set(rows) == set(defaults), set(rows) ^ set(defaults)
    for key, (_, default, env, meaning) in rows.items():
        assert meaning, key
        if "[]" in key:
            assert env == "config file only", key
            continue
        assert default.startswith("`") and default.endswith("`"), key
        assert tomllib.loads("v = " + default.strip("`"))["v"] == defaults[key], key
        expected_env = "TOKEN_SERVICE_" + key.upper().replace(".", "_")
        assert env == f"`{expected_env}`", key


def test_every_metric_is_documented() -> None:
    source = (ROOT / "service" / "metrics.py").read_text()
    declared = set(re.findall(r'(?:Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', source))
    documented = {
        row[0].strip("`")
        for row in table_rows(section("Metrics", level=3))
        if row[0].startswith("`")
    }
    assert declared == documented, declared ^ documented


def _logical_lines(script: str) -> list[str]:
    return script.replace("\\\n", " ").splitlines()


def _expected_statuses(script: str) -> list[str]:
    """Per curl call, in order: the status in an `# expect NNN` comment, or "2xx"."""
    expected = []
    for line in _logical_lines(script):
        if line.lstrip().startswith("#"):
            continue
        marked = re.search(r"# expect (\d{3})", line)
        expected += [marked.group(1) if marked else "2xx"] * len(re.findall(r"\bcurl ", line))
    return expected


def _require(tool: str) -> None:
    if shutil.which(tool):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{tool} is required under CI=true (apt-get install {tool})")
    pytest.skip(f"{tool} is not installed: the README walk-through uses it")


def test_walkthrough_runs_against_a_real_service(redis_url: str) -> None:
    _require("curl")
    _require("jq")
    script = "\n".join(code_blocks(section("Walk-through")))
    assert f"TS={WALKTHROUGH_URL}" in script
    env = {
        "TOKEN_SERVICE_REDIS_URL": redis_url,
        "TOKEN_SERVICE_SERVER_LOG_LEVEL": "warning",
    }
    with (
        ServiceProcess(env={**env, "TOKEN_SERVICE_ADMIN_PASSWORD": WALKTHROUGH_PASSWORD}) as svc,
        tempfile.NamedTemporaryFile("r", suffix=".status") as statuses,
    ):
        prelude = (
            "set -euo pipefail\n"
            'token-service() { "$PYTHON" -m service "$@"; }\n'
            # Every curl reports its status on a line of its own, out of the way.
            'curl() { command curl -w \'%{stderr}%{http_code}\\n\' "$@" 2>>"$STATUS_FILE"; }\n'
        )
        out = subprocess.run(
            ["bash", "-c", prelude + script.replace(f"TS={WALKTHROUGH_URL}", f"TS={svc.url}")],
            env={
                **os.environ,
                **env,
                "PASSWORD": WALKTHROUGH_PASSWORD,
                "PYTHON": sys.executable,
                "STATUS_FILE": statuses.name,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        seen = statuses.read().split()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    expected = _expected_statuses(script)
    assert len(seen) == len(expected), (seen, expected)
    for i, (got, want) in enumerate(zip(seen, expected, strict=True)):
        assert got == want or (want == "2xx" and got.startswith("2")), (i, got, want, seen)
    text = out.stdout
    assert "Deprecation: @1561939200" in text
    assert text.count('"tokenRevoked"') == 2
    assert "token revoked" in text
    assert "format: onezone" in text or "location: onezone" in text
    assert "X-Auth-Namespace: team-a" in text and "X-Auth-App: orders" in text
    assert "added alice" in text
    assert '{"revoked":false}' in text and '{"revoked":true}' in text
    assert '"notAnInviteToken"' in text and '"forbidden"' in text
