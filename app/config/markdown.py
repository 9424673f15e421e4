"""docs/configuration.md, generated from the settings tree: every variable, its type, default, bounds and meaning."""
from __future__ import annotations

import os
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from app.config.base import Group
from app.config.tree import Settings

HEADER = """# Configuration

<!-- Generated from the settings tree (app/config/) by `atlas settings --markdown`; edit the fields, not this file. -->

Atlas reads `DATABASE_URL` and the `ATLAS_*` variables below once, at start-up (`Settings.from_env`,
app/config/). A malformed or out-of-range value stops `atlas serve`, `atlas worker`, `atlas mcp` and every
other command with a `configuration_error` naming the variable, before anything opens. Tests pass the same
settings as a mapping: the variable without `ATLAS_`, lower-cased (`create_app({"cache_ttl_s": 5})`).
"""

_REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def markdown() -> str:
    """The whole page; tests/test_settings.py compares it with docs/configuration.md."""
    parts = [HEADER]
    for group in Settings.groups().values():
        parts.append(f"\n## {group.title}\n\n{(group.__doc__ or '').strip()}\n\n"
                     "| variable | type | default | meaning |\n|---|---|---|---|\n")
        parts.extend(_row(variable, info) for _, variable, info in group.variables())
    return "".join(parts)


def _row(variable: str, info: FieldInfo) -> str:
    meaning = (info.description or "").replace("|", "\\|")
    return f"| `{variable}` | {_type(info)} | {_default(info)} | {meaning} |\n"


def _type(info: FieldInfo) -> str:
    annotation: Any = info.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if args and typing.get_origin(args[0]) is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(args[0]))
    if annotation is tuple[str, ...] or typing.get_origin(annotation) is tuple:
        return "comma-separated list"
    kind = args[0] if args else annotation
    name = {bool: "boolean (`true`/`false`)", int: "integer", float: "number", str: "text"}.get(kind, str(kind))
    bounds = [f"{sign} {getattr(m, attr):g}" for m in info.metadata
              for kind_, sign, attr in ((Ge, ">=", "ge"), (Gt, ">", "gt"), (Le, "<=", "le"), (Lt, "<", "lt"))
              if isinstance(m, kind_)]
    return f"{name}, {' and '.join(bounds)}" if bounds else name


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "random at each start"
    value = info.default
    if value is PydanticUndefined or value in (None, "", ()):
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str) and value.startswith(_REPOSITORY + os.sep):
        return f"`{os.path.relpath(value, _REPOSITORY)}/` in the repository"  # the same page on every checkout
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def variables() -> dict[str, tuple[type[Group], str]]:
    """Every variable Atlas reads, with its group and field; a variable declared twice is an error."""
    found: dict[str, tuple[type[Group], str]] = {}
    for group in Settings.groups().values():
        for name, variable, _ in group.variables():
            if variable in found:
                raise AssertionError(f"{variable} is declared by {found[variable][0].__name__} and {group.__name__}")
            found[variable] = (group, name)
    return found
