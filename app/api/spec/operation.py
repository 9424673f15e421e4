"""One OpenAPI operation object: summary, access, parameters, body, the success response and the error shape."""
from __future__ import annotations

from app.api.spec.schemas import Schema, ref

IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Makes a retry safe: the same key with the same body (same org and user, within "
                   "ATLAS_IDEMPOTENCY_TTL_S) returns the first response, marked Idempotent-Replayed: true, "
                   "without writing again; another body is 422 idempotency_key_reused; while the first is "
                   "still running, 409 idempotency_in_flight.",
}


def operation(summary: str, tag: str, operation_id: str, response: Schema | None, *, status: int = 200,
              body: str | None = None, parameters: list[Schema] | None = None, access: str = "member",
              idempotent: bool = False, media_type: str = "application/json") -> Schema:
    """`body` names a request-body component; access "public" also clears the document's security."""
    ok: Schema = {"description": "success"}
    if response is not None:
        ok["content"] = {media_type: {"schema": response}}
    op: Schema = {
        "summary": summary, "tags": [tag], "operationId": operation_id, "x-atlas-access": access,
        "responses": {str(status): ok, "default": {
            "description": "any error, in the one error shape", "content": {"application/json": {
                "schema": ref("Error")}}}},
    }
    if access == "public":
        op["security"] = []
    if idempotent:
        parameters = [*(parameters or []), IDEMPOTENCY_KEY]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op
