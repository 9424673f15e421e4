"""A password-reset sender for tests (ATLAS_PASSWORD_RESET_SENDER=tests.support.outbox:deliver).

Appends each message as a JSON line to the file named by the app config TEST_OUTBOX.
"""
from __future__ import annotations

import json

from flask import current_app


def deliver(*, email: str, url: str, token: str) -> None:
    with open(str(current_app.config["TEST_OUTBOX"]), "a", encoding="utf-8") as out:
        out.write(json.dumps({"email": email, "url": url, "token": token}) + "\n")
