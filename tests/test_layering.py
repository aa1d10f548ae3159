"""Which modules may import which: the leaves stay leaves, even for types."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent / "service"


def imported(path: Path) -> set[str]:
    """Every module a file imports, at run time or under TYPE_CHECKING (absolute names)."""
    package = ".".join(path.relative_to(SERVICE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_request_state_is_a_leaf_of_the_web_layer() -> None:
    names = imported(SERVICE / "web" / "state.py")
    assert not {n for n in names if n.startswith(("service.web", "service.appkeys"))}, names


def test_app_keys_and_authentication_do_not_import_each_other() -> None:
    assert not {n for n in imported(SERVICE / "appkeys.py") if n.startswith("service.web.auth")}
    assert "service.appkeys" in imported(SERVICE / "web" / "auth.py")
    credentials = imported(SERVICE / "web" / "credentials.py")
    assert not {n for n in credentials if n.startswith(("service.appkeys", "service.web.auth"))}


def _imports_of(package: str) -> dict[str, set[str]]:
    return {
        path.relative_to(SERVICE.parent).as_posix(): imported(path)
        for path in sorted((SERVICE / package).rglob("*.py"))
    }


def test_nothing_below_the_web_layer_imports_aiohttp_or_a_handler() -> None:
    """The README's layout: authority, store, tokens and settings know no HTTP."""
    for package in ("authority", "store", "tokens", "settings"):
        for path, names in _imports_of(package).items():
            bad = {
                n
                for n in names
                if n.startswith(("aiohttp", "service.web", "service.api", "service.app"))
            }
            assert not bad, (path, bad)


def test_the_token_core_does_no_io() -> None:
    """tokens/ is pure: no store, no authority, no Redis, no sockets, no files of its own."""
    for path, names in _imports_of("tokens").items():
        bad = {
            n
            for n in names
            if n.startswith(("service.store", "service.authority", "redis", "socket", "asyncio"))
        }
        assert not bad, (path, bad)
