"""Request bodies declared once: the model that validates a body is the schema the document publishes."""
from __future__ import annotations

import inspect
from typing import Any

import pytest

from app.api.spec import build_document
from app.bodies import Body, requests, validated
from app.bodies.crm import CREATE, UPDATE
from app.errors import ValidationError

DOCUMENT = build_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
RANGES = {"ranges": dict.fromkeys(requests.SettingsChange.model_fields, (1, 10))}


def fields_of(model: type[Body], data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validated(model, data, context=RANGES)
    return caught.value.details["fields"]


def test_the_password_minimum_is_one_declaration_for_the_check_and_the_document() -> None:
    assert fields_of(requests.SignUp, {"email": "a@b.co", "password": "x" * 7, "name": "A"}) == {
        "password": "must be at least 8 characters"}
    assert SCHEMAS["SignUp"]["properties"]["password"]["minLength"] == requests.PASSWORD_MIN == 8


def test_every_body_model_is_a_component_and_some_operation_takes_it() -> None:
    models = [m for _, m in inspect.getmembers(requests, inspect.isclass)
              if issubclass(m, Body) and m.model_fields and m.__module__ == requests.__name__]
    taken = {op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
             for item in DOCUMENT["paths"].values() for op in item.values()
             if isinstance(op, dict) and "requestBody" in op}
    nested = {"OrganizationChanges"}
    names = {m.__name__ for m in [*models, *CREATE.values(), *UPDATE.values()]}
    assert names <= set(SCHEMAS) and names - nested <= taken


@pytest.mark.parametrize(("model", "data", "fields"), [
    (requests.SignUp, {"email": " Bad "}, {"email": "must be an email address", "password": "is required",
                                           "name": "is required"}),
    (requests.SignIn, {"email": "a@b.co", "password": ""}, {"password": "must not be empty"}),
    (requests.NewOrganization, {"name": "N", "slug": "Not A Slug", "metadata": [1]},
     {"slug": "must be 1-63 characters of a-z, 0-9 and -, starting with a letter or digit",
      "metadata": "must be an object"}),
    (requests.UpdateOrganization, {"data": 5}, {"data": "must be an object"}),
    (requests.UpdateOrganization, {"name": None, "slug": None}, {"name": "must not be null", "slug": "must not be null"}),
    (requests.InviteMember, {"email": "a@b.co", "role": "boss"}, {"role": "must be one of: member, admin, owner"}),
    (requests.AcceptInvitation, {"invitationId": "nope"}, {"invitationId": "must be an id (a UUID)"}),
    (requests.NewMessage, {"content": "hi", "x": 1}, {"x": "is not a field of this request"}),
    (requests.SettingsChange, {"queryRowLimit": True, "workMem": 1}, {
        "queryRowLimit": "must be an integer from 1 to 10, or null for the platform default",
        "workMem": "unknown setting; known: queryRowLimit, queryStatementTimeoutMs, queryRatePerMinute, "
                   "queryMaxInFlight"}),
    (requests.Explore, {"command": "ls", "regex": "yes"}, {"regex": "must be a boolean"}),
    (CREATE["opportunities"], {"name": "A", "amount": "NaN", "probability": 101, "close_date": 5},
     {"amount": "must be a finite number", "probability": "must be at most 100",
      "close_date": "must be a date (YYYY-MM-DD)"}),
    (CREATE["activities"], {"subject": "S", "due_at": "2026-01-01T10:00:00"}, {"due_at": "must include a time zone offset"}),
    (UPDATE["contacts"], {"first_name": None, "size": 1}, {"first_name": "must not be null",
                                                          "size": "is not a field of contacts"}),
])
def test_each_bad_field_is_named_with_a_message(model: type[Body], data: dict[str, Any],
                                                fields: dict[str, str]) -> None:
    assert fields_of(model, data) == fields


def test_valid_bodies_are_normalised_as_the_columns_expect() -> None:
    contact = validated(CREATE["contacts"], {"first_name": " Ann ", "email": " ANN@Example.COM ",
                                             "lifecycle_stage": " lead "})
    assert contact.given() == {"email": "ann@example.com", "first_name": " Ann ", "lifecycle_stage": "lead"}
    assert validated(requests.UpdateOrganization, {"slug": "acme-2"}).data.given() == {"slug": "acme-2"}
    assert validated(requests.SignIn, {"email": "A@B.co", "password": " p ", "callbackURL": "/"}).password == " p "
