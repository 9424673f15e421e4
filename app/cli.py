"""The `atlas` command: one subcommand per operation, each a small function.

Subcommands read Settings from the environment once, here, and pass them on.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from app.config import Settings
from app.errors import AtlasError

Command = Callable[[argparse.Namespace, Settings], int]


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations in sql/ to DATABASE_URL (an admin connection)."""
    from app.migrate import migrate, pending

    if args.status:
        waiting = pending(settings.database_url)
        print("\n".join(waiting) if waiting else "up to date")
        return 0
    applied = migrate(settings.database_url, roles=settings.roles)
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas", description="Atlas multi-tenant data backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    migrate = sub.add_parser("migrate", help="apply pending sql/ migrations")
    migrate.add_argument("--status", action="store_true", help="list pending migrations only")
    migrate.set_defaults(handler=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        return args.handler(args, settings)
    except AtlasError as exc:
        print(f"atlas: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
