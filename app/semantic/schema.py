"""Validation of entity YAML: every write goes through ``validate_entity_yaml``.

The YAML is composed into a node tree first (app/semantic/plain_yaml.py: the
safe loader, bounded depth, no explicit tags), so each message names the field
path *and* the line it sits on; only a document that passes is turned into
data, by the same safe loader (what ``yaml.safe_load`` does, without parsing
twice), and every scalar whose construction can fail was constructed while
checking. Anchors and aliases are refused: an entity never needs them, and
refusing them keeps "billion laughs" documents linear to check. The schema is
documented in semantic/README.md; a test keeps the two in step.
"""
from __future__ import annotations

import re
from typing import Any, Callable, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.errors import ValidationError
from app.semantic.plain_yaml import SAFE_LOADER, PlainYamlError, compose, construct_scalar

ENTITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?")
CONNECTION_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MAX_YAML_CHARS = 1_000_000  # the semantic_entities.yaml_content CHECK
MAX_TEXT_CHARS = 20_000
MAX_ITEMS = 1_000
MAX_COUNT = 2**63 - 1  # counts are bigint-sized

DIMENSION_TYPES = ("string", "number", "integer", "boolean", "date", "timestamp", "uuid", "json")
MEASURE_TYPES = ("count", "count_distinct", "sum", "avg", "min", "max")
RELATIONSHIPS = ("many_to_one", "one_to_many", "one_to_one", "many_to_many")

_T = "tag:yaml.org,2002:"
_SCALAR_SAMPLE_TAGS = {_T + t for t in ("str", "int", "float", "bool", "timestamp")}

Check = Callable[["_Checker", str, Node], None]


def validate_entity_name(name: object) -> str:
    """Entity names become file names: a strict pattern, checked before any path or SQL."""
    if not isinstance(name, str) or not ENTITY_NAME.fullmatch(name):
        raise ValidationError(
            "entity name must match ^[a-z][a-z0-9_]{0,62}$",
            details={"fields": {"name": "must match ^[a-z][a-z0-9_]{0,62}$"}},
        )
    return name


def validate_entity_yaml(text: object) -> dict[str, Any]:
    """The entity as data, or ValidationError whose details map each bad field to a message."""
    if not isinstance(text, str):
        _raise({"yaml": "must be a string of YAML"}, [])
    if len(text) > MAX_YAML_CHARS:
        _raise({"yaml": f"is longer than {MAX_YAML_CHARS} characters"}, [])
    loader = SAFE_LOADER(text)
    try:
        try:
            root = compose(text, loader)
        except PlainYamlError as exc:
            _raise({"yaml": exc.message}, [{"field": "yaml", "line": exc.line, "message": exc.message}])
        checker = _Checker()
        if root is None:
            checker.fail("", None, "the document is empty; an entity needs at least table and dimensions")
        else:
            checker.object(root, "", _ENTITY)
        if checker.errors:
            _raise(checker.errors, checker.located)
        try:
            entity = loader.construct_document(root)
        except (ValueError, yaml.YAMLError) as exc:  # the checker constructs every risky scalar first
            _raise({"yaml": f"cannot be read: {exc}"}, [])
        if not isinstance(entity, dict):
            _raise({"entity": "must be a mapping of field: value"}, [])
        return entity
    finally:
        loader.dispose()


def _raise(errors: dict[str, str], located: list[dict]) -> NoReturn:
    first_field, first = next(iter(errors.items()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise ValidationError(
        f"invalid entity YAML: {first_field}: {first}{more}",
        details={"fields": errors, "errors": located},
    )


class _Checker:
    """Walks the node tree once, collecting every problem with its line."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.located: list[dict] = []
        self._seen: set[int] = set()

    def fail(self, path: str, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        text = f"{message} (line {line})" if line else message
        path = path or "entity"
        if path not in self.errors:
            self.errors[path] = text
            self.located.append({"field": path, "line": line, "message": message})

    def visit(self, path: str, node: Node) -> bool:
        """False for a node reached twice: that only happens through an alias."""
        if id(node) in self._seen:
            self.fail(path, node, "anchors and aliases are not supported")
            return False
        self._seen.add(id(node))
        return True

    def object(self, node: Node, path: str, spec: dict[str, tuple[bool, Check]]) -> None:
        if not self.visit(path, node):
            return
        if not isinstance(node, MappingNode):
            self.fail(path, node, "must be a mapping of field: value")
            return
        present: dict[str, Node] = {}
        for key, value in node.value:
            if not (isinstance(key, ScalarNode) and key.tag == _T + "str"):
                self.fail(path, key, "keys must be plain strings")
                continue
            where = _join(path, key.value)
            if key.value in present:
                self.fail(where, key, "is given twice")
            elif key.value not in spec:
                self.fail(where, key, f"is not a known field (known: {', '.join(spec)})")
            else:
                present[key.value] = value
        for name, (required, check) in spec.items():
            if name in present:
                check(self, _join(path, name), present[name])
            elif required:
                self.fail(_join(path, name), node, "is required")

    def items(self, node: Node, path: str, check: Check, *, unique_by: str | None = None) -> None:
        if not self.visit(path, node):
            return
        if not isinstance(node, SequenceNode):
            self.fail(path, node, "must be a list")
            return
        if len(node.value) > MAX_ITEMS:
            self.fail(path, node, f"has more than {MAX_ITEMS} items")
            return
        names: set[str] = set()
        for index, item in enumerate(node.value):
            check(self, f"{path}[{index}]", item)
            if unique_by and isinstance(item, MappingNode):
                for key, value in item.value:
                    if key.value == unique_by and isinstance(value, ScalarNode):
                        if value.value in names:
                            self.fail(f"{path}[{index}].{unique_by}", value, f"{value.value!r} is used twice")
                        names.add(value.value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _scalar(self: _Checker, path: str, node: Node, tag: str, what: str) -> ScalarNode | None:
    if not self.visit(path, node):
        return None
    if not isinstance(node, ScalarNode) or node.tag != _T + tag:
        self.fail(path, node, f"must be {what}")
        return None
    return node


def text(*, required_nonempty: bool = True, pattern: re.Pattern[str] | None = None,
         hint: str = "", max_chars: int = MAX_TEXT_CHARS) -> Check:
    def check(self: _Checker, path: str, node: Node) -> None:
        scalar = _scalar(self, path, node, "str", "a string")
        if scalar is None:
            return
        value = scalar.value
        if required_nonempty and not value.strip():
            self.fail(path, node, "must not be empty")
        elif len(value) > max_chars:
            self.fail(path, node, f"is longer than {max_chars} characters")
        elif pattern is not None and not pattern.fullmatch(value):
            self.fail(path, node, f"{value!r} {hint or 'has an invalid format'}")
    return check


def choice(options: tuple[str, ...]) -> Check:
    def check(self: _Checker, path: str, node: Node) -> None:
        scalar = _scalar(self, path, node, "str", f"one of {', '.join(options)}")
        if scalar is not None and scalar.value not in options:
            self.fail(path, node, f"{scalar.value!r} is not one of {', '.join(options)}")
    return check


def boolean(self: _Checker, path: str, node: Node) -> None:
    _scalar(self, path, node, "bool", "true or false")


def count(self: _Checker, path: str, node: Node) -> None:
    scalar = _scalar(self, path, node, "int", "a whole number")
    if scalar is None:
        return
    value = construct_scalar(scalar) if len(scalar.value) <= 64 else None
    if not isinstance(value, int) or value > MAX_COUNT:
        self.fail(path, node, f"must be a whole number up to {MAX_COUNT}")
    elif value < 0:
        self.fail(path, node, "must be zero or more")


def list_of(item: Check, *, unique_by: str | None = None, nonempty: bool = False) -> Check:
    def check(self: _Checker, path: str, node: Node) -> None:
        if nonempty and isinstance(node, SequenceNode) and not node.value:
            self.fail(path, node, "must have at least one item")
            return
        self.items(node, path, item, unique_by=unique_by)
    return check


def mapping(spec: dict[str, tuple[bool, Check]]) -> Check:
    def check(self: _Checker, path: str, node: Node) -> None:
        self.object(node, path, spec)
    return check


def sample_value(self: _Checker, path: str, node: Node) -> None:
    if not self.visit(path, node):
        return
    if not (isinstance(node, ScalarNode) and node.tag in _SCALAR_SAMPLE_TAGS):
        self.fail(path, node, "must be a string, number, boolean or date")
    elif len(node.value) > MAX_TEXT_CHARS:
        self.fail(path, node, f"is longer than {MAX_TEXT_CHARS} characters")
    elif node.tag != _T + "str" and construct_scalar(node) is None:
        self.fail(path, node, f"{node.value[:40]!r} is not a valid {node.tag.removeprefix(_T)}")


_IDENT = text(pattern=FIELD_NAME, hint="must be a letter or _ then letters, digits or _")
_SQL = text()
_DESCRIPTION = text(required_nonempty=False)

_DIMENSION = {
    "name": (True, _IDENT),
    "sql": (True, _SQL),
    "type": (True, choice(DIMENSION_TYPES)),
    "description": (False, _DESCRIPTION),
    "primary_key": (False, boolean),
    "sample_values": (False, list_of(sample_value)),
    "unique_count": (False, count),
    "null_count": (False, count),
}
_MEASURE = {
    "name": (True, _IDENT),
    "sql": (True, _SQL),
    "type": (True, choice(MEASURE_TYPES)),
    "description": (False, _DESCRIPTION),
}
_JOIN = {
    "target_entity": (True, text(pattern=ENTITY_NAME, hint="must be an entity name (^[a-z][a-z0-9_]{0,62}$)")),
    "relationship": (True, choice(RELATIONSHIPS)),
    "join_columns": (True, mapping({"from": (True, _IDENT), "to": (True, _IDENT)})),
    "description": (False, _DESCRIPTION),
}
_QUERY_PATTERN = {
    "description": (True, _SQL),
    "sql": (True, _SQL),
}
_ENTITY: dict[str, tuple[bool, Check]] = {
    "table": (True, text(pattern=TABLE_NAME, hint="must be a table name like accounts or schema.accounts")),
    # The org connection (app/connections) whose database holds the table; absent: Atlas's own data.
    "connection": (False, text(pattern=CONNECTION_NAME, hint="must be a connection id (^[a-z][a-z0-9_-]{0,39}$)")),
    "name": (False, _DESCRIPTION),
    "description": (False, _DESCRIPTION),
    "grain": (False, _DESCRIPTION),
    "row_count": (False, count),
    "dimensions": (True, list_of(mapping(_DIMENSION), unique_by="name", nonempty=True)),
    "measures": (False, list_of(mapping(_MEASURE), unique_by="name")),
    "joins": (False, list_of(mapping(_JOIN))),
    "query_patterns": (False, list_of(mapping(_QUERY_PATTERN))),
    "use_cases": (False, list_of(_DESCRIPTION)),
}

#: The documented fields, by section (tests compare these with semantic/README.md).
SCHEMA_FIELDS: dict[str, tuple[str, ...]] = {
    "entity": tuple(_ENTITY),
    "dimensions": tuple(_DIMENSION),
    "measures": tuple(_MEASURE),
    "joins": tuple(_JOIN),
    "query_patterns": tuple(_QUERY_PATTERN),
}
