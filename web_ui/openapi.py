"""The OpenAPI 3.1 document, built from the operations the routes registered."""

from __future__ import annotations

from typing import Any

from appliance import __version__
from appliance.http_api import ERROR_SCHEMA, Api

_STATUS_TEXT = {
    400: "Malformed request (not JSON)",
    401: "Not logged in",
    403: "Not allowed (or the admin password is not set yet)",
    404: "Not found",
    409: "Conflict (already exists, still in use, wrong state)",
    422: "Validation failed; `details.fields` names each field and rule",
    429: "Too many attempts",
}


def build_document(api: Api) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in api.operations:
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "responses": {},
        }
        if op.params:
            operation["parameters"] = [
                {"name": p.name, "in": p.where, "required": p.required or p.where == "path", "schema": p.schema,
                 **({"description": p.description} if p.description else {})}
                for p in op.params
            ]
        if op.request is not None:
            media = "application/octet-stream" if op.request.get("format") == "binary" else "application/json"
            operation["requestBody"] = {"required": True, "content": {media: {"schema": op.request}}}
        success: dict[str, Any] = {"description": "OK"}
        if op.response is not None:
            success["content"] = {media: {"schema": op.response} for media in op.content_type.split(",")}
        operation["responses"][str(op.response_status)] = success
        for status in op.errors:
            operation["responses"][str(status)] = {
                "description": _STATUS_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        if op.roles is not None:
            operation["security"] = [{"bearer": []}, {"cookie": []}]
            operation["description"] = "Roles: " + ", ".join(sorted(r.value for r in op.roles))
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Call-center appliance API",
            "version": __version__,
            "description": "Configuration, calls, agents and records of the appliance. Errors are "
            "`{error_id, message, message_zh, details}`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {**api.components, "Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "appliance_session"},
            },
        },
    }
