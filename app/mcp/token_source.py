"""Where `atlas mcp` (stdio) gets the one token it acts with: a file or ATLAS_TOKEN, never its command line.

A command-line argument is readable by every local user in the process list
(/proc/<pid>/cmdline, `ps`), for as long as the server runs, so `--token` is
refused. stdin is not an option either: on the stdio transport it carries the
MCP protocol itself. A file (`--token-file PATH` or ATLAS_TOKEN_FILE; a shell's
`<(pass show atlas)` names a pipe, which is read once) or the ATLAS_TOKEN
variable keeps the secret out of the process list.
"""
from __future__ import annotations

from pathlib import Path

from app.errors import AtlasError

REFUSED_FLAG = ("--token is no longer accepted: a command-line argument is visible to every local user in the "
                "process list. Pass --token-file PATH (a file holding the token, e.g. with mode 600) or set "
                "ATLAS_TOKEN_FILE or ATLAS_TOKEN instead")
MAX_TOKEN_BYTES = 4096


def read_token_file(path: str) -> str:
    """The token in `path` (surrounding whitespace dropped); AtlasError naming the file if it has none."""
    if path == "-":
        raise AtlasError("--token-file - (stdin) cannot be used: on the stdio transport stdin carries the MCP "
                         "protocol. Name a file, a pipe such as <(command), or set ATLAS_TOKEN")
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise AtlasError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise AtlasError(f"the token file {path} is larger than {MAX_TOKEN_BYTES} bytes: it should hold one token")
    token = raw.decode("utf-8", errors="replace").strip()
    if not token or any(ch.isspace() for ch in token):
        raise AtlasError(f"the token file {path} must hold exactly one token (a session token or an API key)")
    return token


def resolve_token(*, token_file: str | None, env_token_file: str | None, env_token: str | None) -> str | None:
    """The token to act with: --token-file, else ATLAS_TOKEN_FILE, else ATLAS_TOKEN; None if none is set."""
    path = token_file or env_token_file
    if path:
        return read_token_file(path)
    return env_token or None
