"""The services of the app handling this request (built once by app/services.py `build_services`)."""
from __future__ import annotations

from typing import cast

from flask import Flask, current_app

from app.services import KEY, AtlasServices


def services(app: Flask | None = None) -> AtlasServices:
    """The services of `app` (default: the app handling this request)."""
    return cast(AtlasServices, (app or current_app).extensions[KEY])
