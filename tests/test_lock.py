"""The lock files keep their promises: every dependency pinned, hashed, inside pyproject's ranges, and used by every install path."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# The lock is for CPython 3.11; markers are judged as on Linux.
ENV = {**default_environment(), "python_version": "3.11", "sys_platform": "linux"}


def entries(name: str) -> list[str]:
    """The lock's requirement entries, each with its continuation lines joined."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if line and not line.lstrip().startswith("#")]


def pins(name: str) -> dict[str, str]:
    found = {}
    for entry in entries(name):
        m = _PIN.match(entry)
        assert m, f"{name}: not an exact pin: {entry[:80]}"
        found[canonicalize_name(m.group(1))] = m.group(2)
    return found


def requirements(*, test: bool) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if test:
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(ENV)]


def test_every_locked_entry_is_pinned_and_hashed() -> None:
    for name in ("requirements.lock", "requirements-test.lock"):
        for entry in entries(name):
            assert "--hash=sha256:" in entry, f"{name}: no hash for {entry[:60]}"


def test_every_direct_dependency_is_locked_within_its_range() -> None:
    for name, test in (("requirements.lock", False), ("requirements-test.lock", True)):
        locked = pins(name)
        for req in requirements(test=test):
            version = locked.get(canonicalize_name(req.name))
            assert version is not None, f"{req.name} is not in {name}"
            assert req.specifier.contains(version, prereleases=True), (name, req, version)


def test_the_test_lock_agrees_with_the_service_lock() -> None:
    service, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {k: test.get(k) for k in service} == service


def test_major_versions_that_break_us_are_bounded() -> None:
    bounded = {"aiohttp", "redis", "marshmallow", "webargs", "apispec", "schemathesis", "pytest"}
    for req in requirements(test=True):
        if req.name in bounded:
            assert any(s.operator in ("<", "<=", "==") for s in req.specifier), req
    pinned = [r for r in requirements(test=False) if r.name == "aiohttp-apispec"]
    assert [str(r.specifier) for r in pinned] == ["==3.0.0b2"]


def test_every_install_path_uses_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = (
        "pip install -r requirements-test.lock && pip install --no-deps -e . && python -m pytest"
    )
    assert test_command in readme and test_command in ci
    # CI runs it in a virtual environment of its own, made fresh.
    assert "python3 -m venv" in ci and ci.index("python3 -m venv") < ci.index(test_command)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "-r requirements.lock" in dockerfile
    assert "--no-deps" in dockerfile
