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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the API with gunicorn; each worker builds its own app (and pool) after the fork."""
    import dataclasses
    import os

    from gunicorn.app.base import BaseApplication

    from app import close_app, create_app

    extra = {"public_url": os.environ.get("ATLAS_PUBLIC_URL") or f"http://{args.host}:{args.port}"}
    for key, name, cast in (("session_ttl_s", "ATLAS_SESSION_TTL_S", int),):
        if os.environ.get(name):
            try:
                extra[key] = cast(os.environ[name])
            except ValueError:
                raise AtlasError(f"{name} is not a valid {cast.__name__}") from None
    configured = dataclasses.replace(settings, extra={**settings.extra, **extra})

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("threads", args.threads)
            self.cfg.set("accesslog", "-" if args.access_log else None)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25: one shared path per user
                self.cfg.set("control_socket_disable", True)

        def load(self):  # type: ignore[no-untyped-def]
            app = create_app(configured)
            self.cfg.set("worker_exit", lambda _server, _worker: close_app(app))
            return app

    Server().run()
    return 0


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    """Profile the datasource into entity YAML (semantic/README.md); see app/semantic/initialize.py."""
    import os

    from app.semantic.initialize import run_init

    if not os.environ.get("DATABASE_URL"):
        raise AtlasError("No internal database configured: set DATABASE_URL to a PostgreSQL "
                         "connection string (postgresql://user:pass@host:5432/atlas)")
    org = args.org or os.environ.get("ATLAS_ORG_ID") or None
    return run_init(settings, org=org, tables=args.tables, do_import=not args.no_import)


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """Run agent SQL for one org through the SQL gateway, as the agent role; print JSON."""
    import json

    import psycopg

    from app.gateway import run_query
    from app.gateway.org_lookup import resolve_org_id

    org_id = resolve_org_id(settings.database_url, args.org)
    result = run_query(
        args.sql, org_id=org_id,
        connect=lambda: psycopg.connect(settings.agent_database_url, autocommit=True),
    )
    print(json.dumps(result.to_json(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas", description="Atlas multi-tenant data backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    migrate = sub.add_parser("migrate", help="apply pending sql/ migrations")
    migrate.add_argument("--status", action="store_true", help="list pending migrations only")
    migrate.set_defaults(handler=cmd_migrate)

    query = sub.add_parser("query", help="run agent SQL for one org through the SQL gateway")
    query.add_argument("--org", required=True, help="organization id or slug")
    query.add_argument("sql", help="one SELECT statement")
    query.set_defaults(handler=cmd_query)

    serve = sub.add_parser("serve", help="serve the JSON API with gunicorn")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    serve.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    serve.add_argument("--access-log", action="store_true", help="log each request to stdout")
    serve.set_defaults(handler=cmd_serve)

    init = sub.add_parser("init", help="profile the datasource into semantic entity YAML")
    init.add_argument("--org", help="organization id (ATLAS_ORG_ID): profile its rows, write "
                      "semantic/.orgs/<org>/entities/ and import into semantic_entities")
    init.add_argument("--no-import", action="store_true",
                      help="with --org, write files only, for review (the server later restores "
                      "the database's layer in that directory)")
    init.add_argument("--tables", nargs="+", metavar="TABLE", help="profile only these tables")
    init.set_defaults(handler=cmd_init)
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
