"""The gateway's OpenAPI description (served at /openapi.json)."""

from __future__ import annotations

from typing import Any

_TARGET: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["project", "env", "reference"],
    "properties": {
        "project": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,29}$"},
        "env": {"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"},
        "reference": {"type": "string", "description": "op://vault/<project>-<env>"},
    },
}
_SIGNED: dict[str, Any] = {
    "401": {"description": "missing, invalid, stale, replayed or out-of-scope "
                           "signature (always the same body)"},
    "413": {"description": "body larger than the gateway's limit"},
    "400": {"description": "invalid JSON, name, reference or extension"},
}


def _post(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "security": [{"httpMessageSignature": []}],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": schema}}},
        "responses": {"200": {"description": "done"}, **_SIGNED},
    }}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "vaultgate gateway", "version": "1",
             "description": "Every POST is signed with RFC 9421 HTTP Message "
                            "Signatures (hmac-sha256); see docs/signing.md."},
    "components": {"securitySchemes": {"httpMessageSignature": {
        "type": "apiKey", "in": "header", "name": "Signature"}}},
    "paths": {
        "/healthz": {"get": {"summary": "liveness",
                             "responses": {"200": {"description": "ok"}}}},
        "/v1/target": _post("the cluster's host, port and database for an env", {
            "type": "object", "required": ["env"],
            "properties": {"env": _TARGET["properties"]["env"]}}),
        "/v1/provision": _post("create or converge schema, roles, grants, "
                               "extensions", {**_TARGET, "properties": {
                                   **_TARGET["properties"],
                                   "extensions": {"type": "array",
                                                  "items": {"type": "string"}}}}),
        "/v1/password": _post("set the login role's password from the item", {
            **_TARGET, "properties": {**_TARGET["properties"], "field": {
                "enum": ["password", "password_pending"]}}}),
        "/v1/login-check": _post("try a real login with the item's password", {
            **_TARGET, "properties": {**_TARGET["properties"], "field": {
                "enum": ["password", "password_pending"]}}}),
    },
}
