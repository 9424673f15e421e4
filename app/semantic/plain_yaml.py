"""Untrusted YAML into a node tree of plain kinds only: bounded depth, no tags, no crash.

Entity YAML is written by org admins and read by every agent query of the
org, so it is composed with the safe loader (libyaml's when installed: about
50x faster; never a full Loader), and a flat pass over the event stream first
refuses what would make later steps misbehave: nesting past MAX_DEPTH
(libyaml's composer recurses in C and crashes the process on very deep
input) and any explicit tag (``!!set``, ``!!omap``, ``!foo``), which would
construct other types than the mapping, list, string, number, boolean or
date the schema checks (a ``--- !!set`` root is a Python set, not an entity).
"""
from __future__ import annotations

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import CollectionEndEvent, CollectionStartEvent
from yaml.nodes import Node, ScalarNode

from app.errors.query import PlainYamlError

MAX_DEPTH = 32
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(text: str, loader: yaml.SafeLoader) -> Node | None:
    """The document's node tree (None when empty); PlainYamlError for bad, deep or tagged input."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=SAFE_LOADER):
            tag = getattr(event, "tag", None)
            if tag is not None:
                line = event.start_mark.line + 1
                raise PlainYamlError(f"uses the tag {tag[:100]} (line {line}); entity YAML takes no tags", line)
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise PlainYamlError(f"nests deeper than {MAX_DEPTH} levels", event.start_mark.line + 1)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise PlainYamlError(f"is not valid YAML: {exc.problem or exc}{where}",
                             mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise PlainYamlError(f"is not valid YAML: {exc}") from None


def construct_scalar(node: ScalarNode) -> object:
    """The scalar's value, or None when it cannot be built (a 5,000-digit int, a 13th month)."""
    try:
        return SafeConstructor().construct_object(node)
    except (ValueError, OverflowError, yaml.YAMLError):
        return None
