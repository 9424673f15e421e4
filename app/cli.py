"""The `atlas` command (click, which Flask ships): one subcommand per operation.

Settings are read from the environment once, by `Settings.from_env` in the
group callback, and handed to each subcommand (a bad variable ends the command
with a message naming it, exit status 1); an option that stands for a variable
takes its default from the settings and says so in its help.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence

import click

from app.cli_backup import COMMANDS as BACKUP_COMMANDS
from app.cli_backup import backup
from app.config import Settings
from app.db.connect import open_connection
from app.errors import AtlasError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Atlas: a multi-tenant data backend on PostgreSQL row-level security."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Settings.from_env()


def resolve_org(settings: Settings, org: str) -> str:
    """One org resolver for every command: an id as is, or a slug looked up once."""
    from app.gateway.org_lookup import resolve_org_id

    return str(resolve_org_id(settings.database.url, org))


@cli.command()
@click.option("--status", is_flag=True, help="List pending migrations only; apply nothing.")
@click.option("--policy-form", type=click.Choice(["subquery", "citus"]), default=None,
              help="Write every policy as (SELECT app.current_org()) or, for Citus, app.current_org() "
                   "(docs/scaling.md); remembered by the database. Default: as recorded.")
@click.pass_obj
def migrate(settings: Settings, status: bool, policy_form: str | None) -> None:
    """Apply pending sql/ migrations to DATABASE_URL (an admin connection)."""
    from app.db.migrate import migrate as apply
    from app.db.migrate import pending

    if status:
        waiting = pending(settings.database.url)
        click.echo("\n".join(waiting) if waiting else "up to date")
        return
    applied = apply(settings.database.url, roles=settings.database.roles, policy_form=policy_form)
    for name in applied:
        click.echo(f"applied {name}")
    if not applied:
        click.echo("up to date")
    from app.errors.database import MigrationError
    from app.placement.locations import placed_locations, role_conninfo

    for location in placed_locations(settings.database.url):  # every dedicated database too
        try:
            done = apply(role_conninfo(settings.database.url, location), roles=settings.database.roles,
                         policy_form=policy_form)
        except MigrationError as exc:
            raise MigrationError(f"dedicated database {location}: {exc.message}") from exc
        click.echo(f"{location}: " + (", ".join(done) if done else "up to date"))


@cli.command()
@click.option("--org", help="Organization id or slug (default ATLAS_ORG_ID); required.")
@click.argument("sql")
@click.pass_obj
def query(settings: Settings, org: str | None, sql: str) -> None:
    """Run agent SQL (one SELECT) for one org through the SQL gateway, as the agent role; print JSON."""

    from app.gateway import run_query
    from app.placement.locations import org_location, role_conninfo

    if not (org or settings.cli.org_id):
        raise click.UsageError("give --org ORG (or set ATLAS_ORG_ID)")
    org_id = resolve_org(settings, org or settings.cli.org_id)
    location = org_location(settings.database.url, org_id)  # an org in a dedicated database is queried there
    agent_url = settings.database.agent_database_url if location is None else role_conninfo(settings.database.agent_database_url, location)
    result = run_query(sql, org_id=org_id, connect=lambda: open_connection("cli", agent_url, autocommit=True))
    click.echo(json.dumps(result.to_json(), indent=2))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to bind.")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes.")
@click.option("--threads", type=int, default=4, show_default=True, help="Threads per worker.")
@click.option("--access-log", is_flag=True, help="Log each request to stdout.")
@click.option("--graceful-timeout", type=int, default=30, show_default=True,
              help="Seconds a worker has on SIGTERM to finish the requests it holds.")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, workers: int, threads: int, access_log: bool,
          graceful_timeout: int) -> None:
    """Serve the API with granian (app/serving.py); each worker builds its own app (and pools) after the fork.

    Metrics are summed over workers through files in a private directory (prometheus_client's
    multiprocess mode), made here before prometheus_client is imported and removed at exit.
    """
    import os
    import shutil
    import tempfile

    from app import close_app, create_app
    from app.serving import run

    if "public_url" in settings.http.model_fields_set:
        configured = settings
    else:  # links and the default trusted origin name the address served
        configured = settings.model_copy(update={"http": settings.http.model_copy(
            update={"public_url": f"http://{host}:{port}"})})
    if "prometheus_client" in sys.modules:  # its mode is fixed at import: too late to share metrics
        raise AtlasError("internal: prometheus_client was imported before atlas serve set it up")
    if workers < 1 or threads < 1:
        raise click.BadParameter("--workers and --threads must be at least 1")
    metrics_dir = tempfile.mkdtemp(prefix="atlas-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # inherited by the forked workers, never read here
    try:
        from app.services import check  # after PROMETHEUS_MULTIPROC_DIR: the services import prometheus_client

        check(configured)  # here, not in each worker after the fork: a bad setting ends atlas serve at once
        # On SIGTERM a worker stops accepting and finishes the requests it holds for up to --graceful-timeout
        # seconds (a request may wait ATLAS_POOL_TIMEOUT_S for a connection, then run); only then is it killed.
        run(lambda: create_app(configured), close=close_app, host=host, port=port, workers=workers,
            threads=threads, graceful_timeout_s=graceful_timeout, access_log=access_log)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)  # only the master gets here: workers exit in granian


@cli.command()
@click.option("--org",
              help="Organization id or slug (default ATLAS_ORG_ID): profile its rows, write "
                   "semantic/.orgs/<org>/entities/ and import into semantic_entities.")
@click.option("--no-import", is_flag=True,
              help="With --org, write files only, for review (the server later restores the "
                   "database's layer in that directory).")
@click.option("--tables", multiple=True, metavar="TABLE", help="Profile only this table (repeatable).")
@click.argument("more_tables", nargs=-1, metavar="[TABLE]...")
@click.option("--database-url", metavar="URL", hidden=True,
              help="Refused unless DATABASE_URL names the same database: the settings are read from the environment.")
@click.pass_obj
def init(settings: Settings, org: str | None, no_import: bool, tables: tuple[str, ...],
         more_tables: tuple[str, ...], database_url: str | None) -> None:
    """Profile the datasource into semantic entity YAML (semantic/README.md)."""
    from app.semantic.initialize import run_init

    if "url" not in settings.database.model_fields_set or (database_url and database_url != settings.database.url):
        raise AtlasError("No internal database configured: set DATABASE_URL to a PostgreSQL "
                         "connection string (postgresql://user:pass@host:5432/atlas)")
    org = org or settings.cli.org_id or None
    chosen = [*tables, *more_tables] or None
    run_init(settings, org=resolve_org(settings, org) if org else None, tables=chosen,
             do_import=not no_import)


@cli.command()
@click.option("--token", "refused_token", metavar="TOKEN", hidden=True, expose_value=True,
              help="Refused: a token on the command line is visible in the process list.")
@click.option("--token-file", metavar="PATH",
              help="stdio: a file holding the session token or org-scoped API key to act with (default "
                   "ATLAS_TOKEN_FILE, else the ATLAS_TOKEN variable). Ignored with --http (every request "
                   "brings its own bearer token).")
@click.option("--http", "over_http", is_flag=True, help="Serve streamable HTTP at /mcp instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="--http: address to bind.")
@click.option("--port", type=int, default=8001, show_default=True, help="--http: port to bind.")
@click.pass_obj
def mcp(settings: Settings, refused_token: str | None, token_file: str | None, over_http: bool, host: str,
        port: int) -> None:
    """Serve the agent's tools over MCP: stdio for one token, or streamable HTTP (app/mcp/)."""
    from app import close_app, create_app
    from app.mcp import build_server
    from app.mcp.calls import authenticate
    from app.mcp.http import serve as serve_http
    from app.mcp.token_source import REFUSED_FLAG, resolve_token

    if refused_token is not None:
        raise click.UsageError(REFUSED_FLAG)
    token = None if over_http else resolve_token(
        token_file=token_file, env_token_file=settings.cli.token_file or None, env_token=settings.cli.token or None)
    if token is None and not over_http:
        raise AtlasError("no token: pass --token-file PATH, or set ATLAS_TOKEN_FILE or ATLAS_TOKEN "
                         "(a session token or an API key)")
    app = create_app(settings)
    try:
        if over_http:
            serve_http(app, host=host, port=port)
            return
        with app.app_context():
            authenticate(app, token)  # a bad token fails here, before a client waits on it
        build_server(app, token_of=lambda _ctx: token).run("stdio")
    finally:
        close_app(app)


@cli.command()
@click.option("--concurrency", type=int, default=None,
              help="Jobs run at once by this worker, one thread each (default ATLAS_WORKER_CONCURRENCY, 1).")
@click.option("--once", is_flag=True, help="Run at most one due job, then exit (for cron or a check).")
@click.pass_obj
def worker(settings: Settings, concurrency: int | None, once: bool) -> None:
    """Run background jobs (app/jobs) until SIGTERM or SIGINT; each finishes the job it holds first.

    Logs in twice: as the worker role, which may only ask app.due_jobs() for due job ids, and
    as the application role, through which every job runs in its own org's transactions.
    """
    import signal
    import threading

    from app import close_app, create_app
    from app.http.context import services
    from app.jobs import Worker

    config = settings.jobs
    if concurrency is not None:
        if concurrency < 1:
            raise click.BadParameter("must be at least 1", param_hint="--concurrency")
        config = config.model_copy(update={"concurrency": concurrency})
    app = create_app(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runner = Worker(services(app), config)
        if once:
            try:
                click.echo("ran one job" if runner.run_once() else "no job was due")
            finally:
                runner.close()
        else:
            click.echo(f"atlas worker: running up to {config.concurrency} job(s) at once", err=True)
            runner.run(stop)
    finally:
        close_app(app)


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print docs/configuration.md (every variable) instead.")
@click.pass_obj
def settings_command(settings: Settings, markdown: bool) -> None:
    """Print the settings in effect as JSON, secrets masked; or, with --markdown, the page of every variable."""
    if markdown:
        from app.config.markdown import markdown as page

        click.echo(page(), nl=False)
        return
    click.echo(json.dumps(settings.masked(), indent=2, default=str))


# Operators' command groups: where an org's data lives (`atlas org`) and org connections' keys.

@click.group()
def org() -> None:
    """Where an organization's data lives (README "Dedicated databases")."""


@org.command("move")
@click.argument("org_ref", metavar="ORG")
@click.option("--to", "to_url", metavar="URL",
              help="Admin URL of the dedicated database (created beforehand, empty or Atlas-migrated).")
@click.option("--back", is_flag=True, help="Move the org home to the shared database.")
@click.option("--abort", is_flag=True, help="Drop an unfinished move's copy; the org stays where it is.")
@click.option("--copy", "by_copy", is_flag=True,
              help="Copy under a snapshot and catch up row by row instead of logical replication"
                   " (a source whose wal_level is not logical; writes are held longer).")
@click.pass_obj
def org_move(settings: Settings, org_ref: str, to_url: str | None, back: bool, abort: bool, by_copy: bool) -> None:
    """Move ORG's rows to a dedicated database (--to URL) or home (--back); rerun to resume."""
    import time
    import uuid

    from app.placement import move

    if sum((bool(to_url), back, abort)) != 1:
        raise click.UsageError("give exactly one of --to URL, --back and --abort")
    org_id = uuid.UUID(resolve_org(settings, org_ref))
    pause_at = settings.placement.move_pause_at

    def say(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()  # a test (or an operator's pipe) reads progress as it happens

    def pause(step: str) -> None:
        if step == pause_at:  # ATLAS_MOVE_PAUSE_AT: tests stop (kill) the move here
            say(f"paused at {step}")
            time.sleep(3600)

    if abort:
        move.abort(move.pending_plan(settings.database.url, settings.database.roles, org_id), say=say)
        return
    plan = move.plan_move(settings.database.url, settings.database.roles, org_id, to_url=None if back else to_url,
                          method="copy" if by_copy else "logical")
    move.run(plan, cache_s=settings.placement.cache_s, say=say, pause=pause)


@org.command("where")
@click.argument("org_ref", metavar="ORG")
@click.pass_obj
def org_where(settings: Settings, org_ref: str) -> None:
    """Print ORG's database (shared, or a dedicated location) and any unfinished move."""

    org_id = resolve_org(settings, org_ref)
    with open_connection("cli", settings.database.url, autocommit=True) as conn:
        placed = conn.execute("SELECT location FROM org_placements WHERE organization_id = %s", (org_id,)).fetchone()
        moving = conn.execute("SELECT step, target FROM atlas_meta.org_moves WHERE organization_id = %s",
                              (org_id,)).fetchone()
    click.echo(f"database: {placed[0] if placed else 'shared'}")
    if moving:
        click.echo(f"unfinished move to {moving[1] or 'shared'}: last step {moving[0]}")


@click.group()
def connections() -> None:
    """Org connections (datasources): see docs/connections.md."""


@connections.command("rotate-key")
@click.pass_obj
def rotate_key(settings: Settings) -> None:
    """Re-encrypt every stored connection password under the first key of ATLAS_CONNECTION_KEYS."""
    from app.connections.rotate import rotate_keys
    from app.credentials import CredentialBox

    counts = rotate_keys(settings, CredentialBox(settings.connections.keys))
    click.echo(json.dumps(counts))


cli.add_command(org)
cli.add_command(connections)
cli.add_command(backup)
for _command in BACKUP_COMMANDS:  # atlas org restore|export|import|delete
    org.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 on success, 1 on an AtlasError (its message on stderr), 2 on usage errors."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="atlas", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except AtlasError as exc:
        click.echo(f"atlas: {exc.message}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
