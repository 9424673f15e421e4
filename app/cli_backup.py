"""`atlas backup ...` and the org-as-a-whole commands (`atlas org restore|export|import|delete`).

Kept apart from app/cli.py and app/cli_operators.py; app/cli.py adds the
`backup` group and these `org` subcommands. The work is in app/backup and app/orgdata.
"""
from __future__ import annotations

import contextlib
import sys
import uuid
from datetime import datetime

import click

from app.config import Settings
from app.db.connect import open_connection
from app.errors.operations import RestoreError


def _say(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()  # an operator's pipe (or a test) reads progress as it happens


def existing_org(settings: Settings, org_ref: str) -> uuid.UUID:
    """The org's id; NotFoundError (naming the input) for an unknown id or slug."""

    from app.errors import NotFoundError
    from app.gateway.org_lookup import resolve_org_id

    org_id = resolve_org_id(settings.database.url, org_ref)
    with open_connection("cli_backup", settings.database.url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM organizations WHERE id = %s", (org_id,)).fetchone() is None:
            raise NotFoundError(f"no organization has id or slug {org_ref!r} (atlas org where ORG checks one)")
    return org_id


@click.group()
def backup() -> None:
    """Continuous archiving and backups with pgBackRest (docs/operations.md)."""


@backup.command("setup")
@click.option("--apply", is_flag=True, help="Also ALTER SYSTEM the archive settings and reload PostgreSQL.")
@click.pass_obj
def backup_setup(settings: Settings, apply: bool) -> None:
    """Write ATLAS_BACKUP_CONFIG, create a stanza per cluster, say (or --apply) the archive settings."""
    from app.backup.commands import setup
    from app.backup.config import BackupConfig

    setup(settings.database.url, BackupConfig.from_settings(settings), apply=apply, say=_say)


@backup.command("run")
@click.option("--type", "kind", default="full", show_default=True, help="full, diff or incr.")
@click.pass_obj
def backup_run(settings: Settings, kind: str) -> None:
    """Take a backup of every cluster (the shared database's and each dedicated database's)."""
    from app.backup.commands import run_backup
    from app.backup.config import BackupConfig

    run_backup(settings.database.url, BackupConfig.from_settings(settings), kind=kind, say=_say)


@backup.command("list")
@click.pass_obj
def backup_list(settings: Settings) -> None:
    """List each stanza's backups and the range of times it can be restored to."""
    from app.backup.commands import list_backups
    from app.backup.config import BackupConfig

    list_backups(settings.database.url, BackupConfig.from_settings(settings), say=_say)


@backup.command("check")
@click.pass_obj
def backup_check(settings: Settings) -> None:
    """Check that every cluster archives its WAL into the repository now."""
    from app.backup.commands import check
    from app.backup.config import BackupConfig

    check(settings.database.url, BackupConfig.from_settings(settings), say=_say)


def parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise RestoreError(f"--to-time {value!r} is not an ISO 8601 time: give one like 2026-12-07T09:14:00Z") \
            from None


@click.command("restore")
@click.argument("org_ref", metavar="ORG")
@click.option("--to-time", "to_time", required=True, metavar="T",
              help="ISO 8601 time with a zone, e.g. 2026-12-07T09:14:00Z.")
@click.option("--dry-run", is_flag=True, help="Print per table what would change; change nothing.")
@click.pass_obj
def org_restore(settings: Settings, org_ref: str, to_time: str, dry_run: bool) -> None:
    """Put ORG back as it was at T (from the backups); every other org is untouched."""
    from app.backup.config import BackupConfig
    from app.orgdata.restore import restore_org

    when = parse_time(to_time)
    org_id = existing_org(settings, org_ref)
    restore_org(settings, BackupConfig.from_settings(settings), org_id, when, dry_run=dry_run, say=_say)


@click.command("export")
@click.argument("org_ref", metavar="ORG")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write here instead of standard output.")
@click.pass_obj
def org_export(settings: Settings, org_ref: str, output: str | None) -> None:
    """Stream ORG's archive (every row it owns, a manifest with counts and sha256) to standard output."""
    from app.errors.operations import OrgDataError
    from app.orgdata.archive import export_org

    org_id = existing_org(settings, org_ref)
    if output is None and sys.stdout.isatty():
        raise OrgDataError("the archive is binary: redirect it (atlas org export ORG > org.tar.gz) or give --output")
    with open(output, "wb") if output else contextlib.nullcontext(sys.stdout.buffer) as out:
        manifest = export_org(settings.database.url, org_id, out, app_role=settings.database.roles.app)
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    click.echo(f"exported org {org_id}: {len(manifest['tables'])} tables, {rows} rows", err=True)


@click.command("import")
@click.argument("archive", metavar="FILE")
@click.pass_obj
def org_import(settings: Settings, archive: str) -> None:
    """Import an org archive (FILE, or - for standard input) into this Atlas, ids preserved."""
    from app.errors.operations import OrgDataError
    from app.orgdata.importing import import_org, unpacked

    try:
        stream = sys.stdin.buffer if archive == "-" else open(archive, "rb")  # noqa: SIM115  # closed below
    except OSError as exc:
        raise OrgDataError(f"cannot read {archive}: {exc.strerror}; give the path of an atlas org export file") \
            from None
    with stream, unpacked(stream, archive) as (manifest, workdir):
        counts = import_org(settings.database.url, manifest, workdir, app_role=settings.database.roles.app)
    click.echo(f"imported org {manifest['org']}: {len(counts)} tables, {sum(counts.values())} rows")


@click.command("delete")
@click.argument("org_ref", metavar="ORG")
@click.option("--cancel", is_flag=True, help="Undo a deletion still in its grace period.")
@click.pass_obj
def org_delete(settings: Settings, org_ref: str, cancel: bool) -> None:
    """Mark ORG for deletion: out of reach at once, erased by atlas org purge after ATLAS_ORG_DELETE_GRACE_S."""
    from app.orgdata import deletion

    grace_s = settings.backup.org_delete_grace_s
    org_id = existing_org(settings, org_ref)
    if cancel:
        members = deletion.cancel(settings, org_id)
        click.echo(f"deletion of org {org_id} canceled; {members} members are back")
        return
    when = deletion.mark(settings, org_id, grace_s=grace_s)
    click.echo(f"org {org_id} is marked for deletion: nobody reaches it now; atlas org purge erases it from"
               f" {when.isoformat()} (until then: atlas org delete {org_ref} --cancel)")


@click.command("purge")
@click.argument("org_ref", metavar="[ORG]", required=False)
@click.pass_obj
def org_purge(settings: Settings, org_ref: str | None) -> None:
    """Erase ORG, or every marked org whose grace period is over (run it from cron)."""
    from app.orgdata import deletion

    orgs = [existing_org(settings, org_ref)] if org_ref else deletion.due(settings)
    for org_id in orgs:
        deletion.purge(settings, org_id, say=_say)
    if not org_ref:
        waiting = deletion.pending(settings)
        click.echo(f"{len(orgs)} org(s) purged; {len(waiting)} still in their grace period"
                   + (f" (next at {waiting[0][1].isoformat()})" if waiting else ""))


COMMANDS = (org_restore, org_export, org_import, org_delete, org_purge)
