"""`token-service serve | users | namespaces | keys | token inspect`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.cli import keys, namespaces, serve, token, users
from service.cli.serve import GC_GEN0_THRESHOLD, settle_heap
from service.settings import SettingsError

COMMAND_GROUPS = (serve, users, namespaces, keys, token)


def build_parser() -> argparse.ArgumentParser:
    """The command line: a global --config, then one sub-command per command group."""
    parser = argparse.ArgumentParser(prog="token-service", description=__doc__)
    parser.add_argument("--config", help="a TOML config file (also TOKEN_SERVICE_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point: run one command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


__all__ = ["GC_GEN0_THRESHOLD", "build_parser", "main", "settle_heap"]
