"""What every gateway rule is told: whose query it is and what that org may read."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.query_settings import MAX_VALUE_BYTES

# PostgreSQL truncates longer identifiers (NAMEDATALEN - 1); we refuse them instead,
# so two names that differ only past byte 63 never look different to us and equal to it.
MAX_IDENTIFIER_BYTES = 63
PUBLIC_SCHEMA = "public"
ORG_COLUMN = "org_id"
DIALECT = "postgres"


@dataclass(frozen=True)
class RuleContext:
    """The org a query runs for, its readable tables (in schema public), its row limit and value bound.

    `org_predicate` is False only on an org's own datasource (app/connections), whose
    whole database is the org's: every table occurrence is still wrapped in the same
    derived table (so the cross-check and the skeleton comparison read it the same
    way), only without the org filter. Every other rule applies unchanged.
    """

    org_id: uuid.UUID
    allowed_tables: frozenset[str]
    row_limit: int
    org_predicate: bool = True
    max_value_bytes: int = MAX_VALUE_BYTES


def fold_identifier(name: str, *, quoted: bool) -> str:
    """The name PostgreSQL looks up: unquoted identifiers fold ASCII letters only.

    >>> fold_identifier("Contacts", quoted=False), fold_identifier("Contacts", quoted=True)
    ('contacts', 'Contacts')
    """
    if quoted:
        return name
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
