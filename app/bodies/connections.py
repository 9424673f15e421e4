"""Request bodies of the connection endpoints (app/api/connection_routes.py).

The URL is only typed here; app/connections/target.py reads it strictly (one
host, no libpq parameter but sslmode). A password may come inside the URL or
as `password`, never both; it is encrypted before it is stored and is never
part of an answer or an error message.
"""
from __future__ import annotations

from typing import Annotated, ClassVar

import pydantic

from app.bodies import Body
from app.bodies.fields import Text

CONNECTION_ID = r"[a-z][a-z0-9_-]{0,39}"
ID_HINT = "1-40 characters of a-z, 0-9, _ and -, starting with a letter (not \"default\")"


class _Strict(Body):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    _subject: ClassVar[str] = "connection"


class NewConnection(_Strict):
    id: Annotated[str, Text(max_len=40, pattern=CONNECTION_ID, hint=ID_HINT)]
    url: Annotated[str, Text(max_len=2000)]
    password: Annotated[str, Text(max_len=1000, strip=False)] | None = None
    description: Annotated[str, Text(max_len=500, blank=True)] = ""


class ConnectionChange(_Strict):
    url: Annotated[str, Text(max_len=2000)] | None = None
    password: Annotated[str, Text(max_len=1000, strip=False, blank=True)] | None = None
    description: Annotated[str, Text(max_len=500, blank=True)] | None = None
