"""The on-disk copy of an org's layer: ``{root}/.orgs/{orgId}/entities/{name}.yml``.

The database is the truth; these files exist so the explore tool can read
them. Each file is written to a temporary file in the same directory, fsynced,
renamed over the old one with ``os.replace`` and the directory fsynced, so a
reader sees the old file or the new one, never a part. Beside the files a
manifest records which version of each entity they hold; it is written last,
under an exclusive lock on the org's directory, so it never claims more than
the files hold. Comparing it with the database (see layer.py) is how a
missing directory, a failed sync or another process's change is noticed.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from app.db import as_org_id

ORGS_DIR = ".orgs"
ENTITIES_DIR = "entities"
SUFFIX = ".yml"
_MANIFEST = ".manifest.json"
_LOCK = ".lock"


def org_layer_dir(root: Path, org_id: object) -> Path:
    """The org's directory; the id is parsed as a UUID first (MissingOrgError otherwise)."""
    org: uuid.UUID = as_org_id(org_id)
    return Path(root) / ORGS_DIR / str(org)


def atomic_write(directory: Path, filename: str, data: bytes) -> None:
    """Replace directory/filename in one rename; readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / filename)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink durable (the directory entry is what changed)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def real_dir(path: Path) -> Path:
    """Create the directory if needed; refuse a symlink or a file in its place."""
    try:
        path.mkdir(mode=0o755, exist_ok=True)
    except FileExistsError:
        pass
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a real directory (symlink or file)", str(path))
    return path


class OrgFiles:
    """One org's synced copy. Mutating methods must run inside ``locked()``."""

    def __init__(self, root: Path, org_id: object) -> None:
        self.root = Path(root)
        self.dir = org_layer_dir(self.root, org_id)
        self.entities = self.dir / ENTITIES_DIR

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive flock: serializes syncs across threads and processes."""
        real_dir(self.root)
        real_dir(self.root / ORGS_DIR)
        real_dir(self.dir)
        fd = os.open(self.dir / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def read_manifest(self) -> dict[str, str] | None:
        try:
            data = json.loads((self.dir / _MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def file_names(self) -> set[str]:
        try:
            names = os.listdir(self.entities)
        except OSError:
            return set()
        return {n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX) and not n.startswith(".")}

    def is_current(self, expected: Mapping[str, str]) -> bool:
        """True when the files hold exactly the database's entities at their versions."""
        return self.read_manifest() == dict(expected) and self.file_names() == set(expected)

    def write_entity(self, name: str, content: str, entity_stamp: str) -> None:
        real_dir(self.entities)
        atomic_write(self.entities, name + SUFFIX, content.encode("utf-8"))
        manifest = self.read_manifest() or {}
        manifest[name] = entity_stamp
        self._write_manifest(manifest)

    def remove_entity(self, name: str) -> None:
        try:
            os.unlink(self.entities / (name + SUFFIX))
            fsync_dir(self.entities)
        except FileNotFoundError:
            pass
        manifest = self.read_manifest() or {}
        manifest.pop(name, None)
        self._write_manifest(manifest)

    def rebuild(self, entities: Iterable[tuple[str, str, str]]) -> None:
        """Make the files exactly (name, content, stamp)...; anything else in entities/ goes."""
        real_dir(self.entities)
        self._write_manifest({})  # claims nothing while the files change
        kept: dict[str, str] = {}
        for name, content, entity_stamp in entities:
            atomic_write(self.entities, name + SUFFIX, content.encode("utf-8"))
            kept[name] = entity_stamp
        for stray in os.listdir(self.entities):
            if stray[: -len(SUFFIX)] not in kept or not stray.endswith(SUFFIX):
                path = self.entities / stray
                if os.path.isdir(path) and not os.path.islink(path):
                    continue  # never delete a directory someone put here by hand
                os.unlink(path)
        fsync_dir(self.entities)
        self._write_manifest(kept)

    def _write_manifest(self, manifest: Mapping[str, str]) -> None:
        data = json.dumps(dict(sorted(manifest.items())), indent=0).encode("utf-8")
        atomic_write(self.dir, _MANIFEST, data)
