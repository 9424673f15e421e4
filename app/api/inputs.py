"""Field-level input checks for the auth and organization endpoints.

Problems are collected per field and raised once, so a client learns every
bad field from one 400.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from app.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Input:
    """Reads typed fields from a JSON body, remembering what was wrong."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, str] = {}

    def _get(self, name: str, required: bool) -> Any:
        value = self.body.get(name)
        if value is None and required:
            self.errors[name] = "is required"
        return value

    def text(self, name: str, *, required: bool = True, max_len: int = 200, strip: bool = True) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.errors[name] = "must be a string"
            return None
        value = value.strip() if strip else value
        if required and not value:
            self.errors[name] = "must not be empty"
        elif len(value) > max_len:
            self.errors[name] = f"must be at most {max_len} characters"
        return value

    def email(self, name: str = "email") -> str | None:
        value = self.text(name, max_len=254)
        if value is not None and name not in self.errors:
            value = value.lower()
            if not _EMAIL.match(value):
                self.errors[name] = "must be an email address"
        return value

    def password(self, name: str = "password", *, min_len: int = 8, max_len: int = 128) -> str | None:
        value = self.text(name, strip=False, max_len=max_len)
        if value is not None and name not in self.errors and len(value) < min_len:
            self.errors[name] = f"must be at least {min_len} characters"
        return value

    def slug(self, name: str = "slug", *, required: bool = True) -> str | None:
        value = self.text(name, required=required, max_len=63)
        if value is not None and name not in self.errors and not SLUG.match(value):
            self.errors[name] = "must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit"
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = True) -> str | None:
        value = self._get(name, required)
        if value is not None and value not in choices:
            self.errors[name] = f"must be one of: {', '.join(choices)}"
            return None
        return value

    def uuid(self, name: str, *, required: bool = True) -> uuid.UUID | None:
        value = self._get(name, required)
        if value is None:
            return None
        try:
            return uuid.UUID(str(value))
        except ValueError:
            self.errors[name] = "must be an id (a UUID)"
            return None

    def done(self) -> None:
        if self.errors:
            raise ValidationError("some fields are invalid", details={"fields": dict(self.errors)})


def as_uuid(value: object) -> uuid.UUID | None:
    """A UUID or None, for ids that may also be something else (an email)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
