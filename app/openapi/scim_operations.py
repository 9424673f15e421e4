"""The SCIM token endpoints. SCIM itself (/scim/v2, app/api/scim_routes.py) is its own protocol and describes
itself (ServiceProviderConfig, Schemas, ResourceTypes: RFC 7644), so it is not in this document."""
from __future__ import annotations

from app.bodies import requests as r
from app.openapi.op import Op
from app.openapi.schemas import STAMP, UUID, obj

_TOKEN = obj(("id", "name", "start"), id=UUID, name={"type": "string"}, start={"type": "string"},
             createdBy={"type": "string", "nullable": True}, createdAt=STAMP,
             lastUsedAt={**STAMP, "nullable": True}, revokedAt={**STAMP, "nullable": True})


SCIM_OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/api/v1/admin/scim-tokens"): Op(
        "The org's SCIM tokens (never their secret)", "scim:read", "scim",
        response=obj(("data",), data={"type": "array", "items": _TOKEN})),
    ("POST", "/api/v1/admin/scim-tokens"): Op(
        "Create a SCIM token for an identity provider; its text is answered once; audited", "scim:create", "scim",
        r.NewScimToken, {"allOf": [_TOKEN, obj(("token",), token={"type": "string"})]}, status=201),
    ("DELETE", "/api/v1/admin/scim-tokens/{token_id}"): Op(
        "Revoke a SCIM token at once; audited", "scim:delete", "scim", status=204),
}
