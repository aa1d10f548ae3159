"""Drift check: the newest versions pyproject.toml allows, against the lock.

Installs the project with its test extra into a throw-away virtual
environment *without* the lock (what `pip install token-service[test]` would
give a user today), prints every package whose version differs from
requirements-test.lock, then runs the test suite there. It shows the next
breakage before a user meets it; it is not part of `.ci/run`'s pass or fail.

    python bench/drift.py                 # the whole suite
    python bench/drift.py -- tests/tokens # pytest arguments after --
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-test.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str], *, conditional: bool = True) -> dict[str, str]:
    """Package -> version from lock or `pip freeze` lines (without those under a marker)."""
    found: dict[str, str] = {}
    for line in lines:
        m = _PIN.match(line.strip())
        if m and (conditional or ";" not in line):
            found[_canonical(m.group(1))] = m.group(2)
    return found


def compare(locked: dict[str, str], fresh: dict[str, str], optional: set[str]) -> list[str]:
    """One line per package that differs between the lock and the fresh install.

    `optional` are locked only under a marker (another Python or platform): their
    absence here is no drift.
    """
    out = []
    for name in sorted(set(locked) | set(fresh)):
        if name == "token-service" or (name in optional and name not in fresh):
            continue
        old, new = locked.get(name), fresh.get(name)
        if old != new:
            out.append(f"  {name:28} {old or '-':>14} -> {new or '-'}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PYTHONPATH", None)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "--upgrade", "-e", f"{ROOT}[test]"],
            check=True,
            env=env,
        )
        freeze = subprocess.run(
            [python, "-m", "pip", "freeze"], check=True, env=env, capture_output=True, text=True
        ).stdout.splitlines()
        lock = LOCK.read_text().splitlines()
        locked = pins(lock)
        optional = set(locked) - set(pins(lock, conditional=False))
        changed = compare(locked, pins(freeze), optional)
        print("drift: newest allowed by pyproject.toml against requirements-test.lock")
        print("\n".join(changed) if changed else "  (none: the lock is the newest allowed)")
        sys.stdout.flush()
        tests = subprocess.run(
            [python, "-m", "pytest", "-q", *args.pytest_args], cwd=ROOT, env=env, check=False
        )
        verdict = "pass" if tests.returncode == 0 else f"FAIL (pytest exit {tests.returncode})"
        print(f"drift: tests on the newest allowed versions: {verdict}")
        return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
