"""Entity YAML validation: every problem names its field and line; the docs match the code."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.errors import ValidationError
from app.semantic.schema import SCHEMA_FIELDS, validate_entity_yaml

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
table: accounts
description: Companies
dimensions:
  - name: id
    sql: id
    type: uuid
    primary_key: true
  - name: industry
    sql: industry
    type: string
    sample_values: [Software, 2024-01-01, 3, true]
measures:
  - name: account_count
    sql: id
    type: count_distinct
joins:
  - target_entity: contacts
    relationship: one_to_many
    join_columns: {from: id, to: account_id}
query_patterns:
  - description: Accounts by industry
    sql: SELECT industry, count(*) FROM accounts GROUP BY 1
"""


def errors_of(text: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_entity_yaml(text)
    return caught.value.details["fields"]


def test_a_complete_entity_validates_to_data():
    entity = validate_entity_yaml(GOOD)
    assert entity["table"] == "accounts"
    assert entity["joins"][0]["join_columns"] == {"from": "id", "to": "account_id"}


@pytest.mark.parametrize(
    ("mutation", "field", "line"),
    [
        (("type: uuid", "type: guid"), "dimensions[0].type", 6),
        (("    sql: industry\n", ""), "dimensions[1].sql", 8),
        (("table: accounts", "table: 'drop table;'"), "table", 1),
        (("type: count_distinct", "type: median"), "measures[0].type", 15),
        (("relationship: one_to_many", "relationship: several"), "joins[0].relationship", 18),
        (("{from: id, to: account_id}", "{from: id}"), "joins[0].join_columns.to", 19),
        (("target_entity: contacts", "target_entity: Contacts"), "joins[0].target_entity", 17),
        (("    sql: SELECT industry", "    sqll: SELECT industry"), "query_patterns[0].sqll", 22),
        (("primary_key: true", "primary_key: maybe"), "dimensions[0].primary_key", 7),
        (("[Software, 2024-01-01, 3, true]", "[{a: b}]"), "dimensions[1].sample_values[0]", 11),
        (("  - name: industry", "  - name: id"), "dimensions[1].name", 8),
        (("description: Companies", "description: [a, b]"), "description", 2),
        (("description: Companies", "descripton: Companies"), "descripton", 2),
    ],
)
def test_errors_name_the_field_path_and_line(mutation, field, line):
    old, new = mutation
    assert old in GOOD
    errors = errors_of(GOOD.replace(old, new, 1))
    assert field in errors, errors
    assert f"(line {line})" in errors[field]


def test_missing_required_fields_are_each_reported():
    errors = errors_of("description: nothing else\n")
    assert set(errors) == {"table", "dimensions"}


def test_the_message_carries_the_first_problem_and_counts_the_rest():
    with pytest.raises(ValidationError) as caught:
        validate_entity_yaml(GOOD.replace("type: uuid", "type: guid").replace("type: median", "x"))
    assert caught.value.message.startswith("invalid entity YAML: dimensions[0].type:")
    assert caught.value.details["errors"][0] == {
        "field": "dimensions[0].type", "line": 6,
        "message": "'guid' is not one of string, number, integer, boolean, date, timestamp, uuid, json",
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "table: [",
        "just a string",
        "- a\n- b\n",
        "a: b\n---\nc: d\n",
        "!!python/object/apply:os.system ['true']",
        "table: !!python/name:os.system\ndimensions: []\n",
        "table: x\ndimensions:\n  - &d {name: a, sql: a, type: uuid}\n  - *d\n",
        "[" * 100_000,
        "table: " + "x" * 1_000_001,
        "table: accounts\ntable: leads\ndimensions: [{name: id, sql: id, type: uuid}]\n",
    ],
    ids=["empty", "syntax", "scalar", "list", "two-docs", "python-tag", "python-name", "alias",
         "deep", "huge", "duplicate-key"],
)
def test_malformed_or_hostile_documents_are_refused(text):
    assert errors_of(text)


def test_every_shipped_default_entity_is_valid_and_covers_the_crm():
    files = sorted((REPO / "semantic" / "entities").glob("*.yml"))
    tables = {validate_entity_yaml(f.read_text())["table"] for f in files}
    assert tables == {"accounts", "contacts", "leads", "opportunities", "activities", "notes",
                      "projects", "sites", "knowledge_files"}


def test_every_schema_field_is_documented():
    readme = (REPO / "semantic" / "README.md").read_text()
    documented = set(re.findall(r"^\s*-?\s*([a-z_]+):", readme, flags=re.M))
    for section, fields in SCHEMA_FIELDS.items():
        missing = set(fields) - documented
        assert not missing, f"{section} fields missing from semantic/README.md: {missing}"
