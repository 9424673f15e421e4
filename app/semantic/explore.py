"""ls, cat and grep over one semantic layer directory, and nothing outside it.

Paths are checked twice. First as text, against a whitelist: relative, ASCII
letters, digits, ``_ - .``, no component starting with a dot (so ``..``,
``.orgs`` and hidden files are out), no NUL, backslash or ``%``. Then on the
filesystem: the walk opens one component at a time relative to the directory
opened before it (``dir_fd``) with ``O_NOFOLLOW``, so a symlink anywhere on the
path is refused at the moment it is opened, with no window between a check and
the use; on Linux the opened descriptor's real path is also compared with the
layer's.

grep runs on RE2 (google-re2): matching is linear in the input, whatever the
pattern, so no pattern can make it backtrack for minutes. Pattern length,
RE2's memory, file size, line length, files scanned and matches returned are
all capped, which bounds the whole call without needing a timeout.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from contextlib import contextmanager
from typing import Any, Iterator

import re2

from app.errors import NotFoundError, ValidationError

COMMANDS = ("ls", "cat", "grep")
MAX_PATH_CHARS = 512
MAX_PATTERN_CHARS = 200
MAX_FILE_BYTES = 1_000_000
MAX_LINE_CHARS = 2_000
MAX_MATCHES = 200
MAX_FILES = 2_000
MAX_DEPTH = 8
RE2_MAX_MEM_BYTES = 8 << 20

_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def refuse(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field} refused: {reason}", details={"fields": {field: reason}})


def parse_path(path: object) -> tuple[str, ...]:
    """The path's components, or ValidationError saying why it is refused."""
    if path is None:
        return ()
    if not isinstance(path, str):
        raise refuse("path", "must be a string")
    if len(path) > MAX_PATH_CHARS:
        raise refuse("path", f"is longer than {MAX_PATH_CHARS} characters")
    for bad, reason in (("\x00", "NUL bytes are not allowed"), ("\\", "backslashes are not allowed"),
                        ("%", "percent-encoded paths are not accepted")):
        if bad in path:
            raise refuse("path", reason)
    if path.startswith(("/", "~")):
        raise refuse("path", "absolute paths are not allowed; paths are relative to the layer")
    if path.startswith("./"):
        path = path[2:]
    if path in ("", "."):
        return ()
    parts = path[:-1].split("/") if path.endswith("/") else path.split("/")
    for part in parts:
        if part == "..":
            raise refuse("path", "'..' is not allowed")
        if part == "":
            raise refuse("path", "empty path components ('//') are not allowed")
        if part.startswith("."):
            raise refuse("path", "hidden entries (starting with '.') are not accessible")
        if not _COMPONENT.fullmatch(part):
            raise refuse("path", "names may use only ASCII letters, digits, '_', '-' and '.'")
    return tuple(parts)


def explore(root: os.PathLike[str] | str, command: object, path: object = "", pattern: object = "",
            *, within: tuple[str, ...] = (), regex: bool = False) -> dict[str, Any]:
    """Run one command in the layer at root/within/... . Raises ValidationError or NotFoundError.

    ``within`` (e.g. ``(".orgs", orgId)``) is ours, not the caller's: it is walked
    with O_NOFOLLOW like the user's path but may name the hidden .orgs directory.
    """
    if command not in COMMANDS:
        raise refuse("command", f"must be one of {', '.join(COMMANDS)}")
    parts = parse_path(path)
    shown = "/".join(parts) or "."
    base = os.path.join(os.path.realpath(os.fspath(root)), *within)
    with _layer(root, within) as root_fd, _walk_open(root_fd, parts, base) as (fd, mode):
        if command == "ls":
            entries = _list(fd) if stat.S_ISDIR(mode) else [_file_entry(parts[-1], fd)]
            return {"command": "ls", "path": shown, "entries": entries,
                    "output": "\n".join(e["name"] + ("/" if e["type"] == "dir" else "") for e in entries)}
        if command == "cat":
            if stat.S_ISDIR(mode):
                raise refuse("path", f"{shown} is a directory; use ls")
            content = _read(fd)
            if content is None:
                raise refuse("path", f"{shown} is larger than {MAX_FILE_BYTES} bytes")
            return {"command": "cat", "path": shown, "content": content, "output": content}
        matcher = _matcher(pattern, regex=regex)
        matches, truncated = _grep(fd, mode, parts, matcher)
        return {"command": "grep", "path": shown, "pattern": pattern, "regex": regex,
                "matches": matches, "truncated": truncated,
                "output": "\n".join(f"{m['path']}:{m['line']}:{m['text']}" for m in matches)}


@contextmanager
def _layer(root: os.PathLike[str] | str, within: tuple[str, ...]) -> Iterator[int]:
    """The layer directory's descriptor; the configured root may itself be a symlink."""
    fd = -1
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for part in within:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        if isinstance(exc, FileNotFoundError):
            raise NotFoundError("this semantic layer has no files yet") from None
        raise refuse("path", "the semantic layer directory is not a real directory") from None
    try:
        yield fd
    finally:
        os.close(fd)


def _open_at(dir_fd: int, name: str) -> tuple[int, int]:
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise NotFoundError(f"no such file or directory: {name}") from None
    except OSError as exc:  # ELOOP: the component is a symlink
        raise refuse("path", "symbolic links are not followed" if exc.errno == errno.ELOOP else "cannot be opened") from None
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        os.close(fd)
        raise refuse("path", "only regular files and directories can be read")
    return fd, mode


@contextmanager
def _walk_open(root_fd: int, parts: tuple[str, ...], base: str) -> Iterator[tuple[int, int]]:
    fd = os.dup(root_fd)
    mode = os.fstat(fd).st_mode
    try:
        for index, part in enumerate(parts):
            if not stat.S_ISDIR(mode):
                raise NotFoundError(f"{'/'.join(parts[:index])} is not a directory")
            child, mode = _open_at(fd, part)
            os.close(fd)
            fd = child
        _check_inside(fd, base)
        yield fd, mode
    finally:
        os.close(fd)


def _check_inside(fd: int, base: str) -> None:
    """Belt and braces on Linux: where the descriptor really points must be inside the layer."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return
    if real != base and not real.startswith(base + os.sep):
        raise refuse("path", "resolves outside the semantic layer")


def _list(dir_fd: int) -> list[dict[str, Any]]:
    entries = []
    with os.scandir(dir_fd) as it:
        for entry in it:
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                entries.append({"name": entry.name, "type": "dir"})
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                entries.append({"name": entry.name, "type": "file", "size_bytes": size})  # type: ignore[dict-item]  # the one int field of a listing
    return sorted(entries, key=lambda e: (e["type"] != "dir", e["name"]))


def _file_entry(name: str, fd: int) -> dict[str, Any]:
    return {"name": name, "type": "file", "size_bytes": os.fstat(fd).st_size}


def _read(fd: int) -> str | None:
    """The file's text, or None when it is over the size cap."""
    chunks, total = [], 0
    while total <= MAX_FILE_BYTES:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_FILE_BYTES:
        return None
    return b"".join(chunks).decode("utf-8", errors="replace")


def _matcher(pattern: object, *, regex: bool) -> Any:
    if not isinstance(pattern, str) or not pattern:
        raise refuse("pattern", "grep needs a non-empty pattern")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise refuse("pattern", f"is longer than {MAX_PATTERN_CHARS} characters")
    if "\x00" in pattern or "\n" in pattern:
        raise refuse("pattern", "NUL bytes and newlines are not allowed")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = RE2_MAX_MEM_BYTES
    options.literal = not regex
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise refuse("pattern", f"is not a valid RE2 regular expression: {detail}") from None


def _grep(fd: int, mode: int, parts: tuple[str, ...], matcher: Any) -> tuple[list[dict], bool]:
    matches: list[dict] = []
    budget = {"files": MAX_FILES}
    if stat.S_ISREG(mode):
        return _grep_file(fd, "/".join(parts), matcher, matches), len(matches) >= MAX_MATCHES
    _grep_dir(fd, "/".join(parts), matcher, matches, budget, depth=0)
    return matches, len(matches) >= MAX_MATCHES or budget["files"] <= 0


def _grep_dir(dir_fd: int, prefix: str, matcher: Any, matches: list, budget: dict, *, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    with os.scandir(dir_fd) as it:
        names = sorted(e.name for e in it if not e.name.startswith(".") and not e.is_symlink())
    for name in names:
        if len(matches) >= MAX_MATCHES or budget["files"] <= 0:
            return
        try:
            child, mode = _open_at(dir_fd, name)
        except (ValidationError, NotFoundError):
            continue  # raced with a rename or became a symlink: skip it
        try:
            path = f"{prefix}/{name}" if prefix else name
            if stat.S_ISDIR(mode):
                _grep_dir(child, path, matcher, matches, budget, depth=depth + 1)
            else:
                budget["files"] -= 1
                _grep_file(child, path, matcher, matches)
        finally:
            os.close(child)


def _grep_file(fd: int, path: str, matcher: Any, matches: list) -> list:
    content = _read(fd)
    if content is None:
        return matches  # over the size cap: not scanned
    for number, line in enumerate(content.splitlines(), start=1):
        line = line[:MAX_LINE_CHARS]
        if matcher.search(line):
            matches.append({"path": path, "line": number, "text": line})
            if len(matches) >= MAX_MATCHES:
                break
    return matches
