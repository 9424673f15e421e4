"""Operators' command groups: where an org's data lives (`atlas org`) and org connections' keys.

Kept apart from app/cli.py so each file stays one screenful of concerns;
app/cli.py adds these groups to `atlas`.
"""
from __future__ import annotations

import json
import sys

import click

from app.config import Settings


def resolve_org(settings: Settings, org_ref: str) -> str:
    from app.cli import resolve_org as resolve

    return resolve(settings, org_ref)


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
    import psycopg

    org_id = resolve_org(settings, org_ref)
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
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
    from app.connections.crypto import CredentialBox
    from app.connections.rotate import rotate_keys

    counts = rotate_keys(settings, CredentialBox(settings.connections.keys))
    click.echo(json.dumps(counts))
