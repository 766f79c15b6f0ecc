"""REST routes for configuration entities: one set per entity kind, generated from the kind catalogue.

For every kind: list (paging, exact-match filters, free-text `q`), get, create, replace (PUT), merge
(PATCH) and — except staff — delete. Staff leave and are reinstated instead. Write-only secrets have their
own routes. Every change lands in the audit log (`GET /api/v1/audit`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import READ_CONFIG, WRITE_CONFIG, DataScope
from appliance.configuration.bulk import add_routes as add_bulk_routes
from appliance.configuration.service import Actor, ConfigService
from appliance.configuration.settings import GlobalSettings
from appliance.domain.kinds import EntityKind
from appliance.domain.validation import dump
from appliance.http_api import Api, Param, body_of, int_arg, ok, page_schema, session_of, source_of
from appliance.security.request_limits import WHOLE_CONFIG

WRITE_ONLY: dict[str, tuple[str, dict[str, Any]]] = {
    "extensions": ("password", {"type": "string", "minLength": 8, "writeOnly": True,
                                "description": "SIP password; stored only as digest HA1s"}),
    "users": ("password", {"type": "string", "minLength": 8, "writeOnly": True}),
    "staff": ("pin", {"type": "string", "pattern": "^[0-9]{4,8}$", "writeOnly": True,
                      "description": "phone login PIN; stored hashed"}),
    "trunks": ("password", {"type": "string", "maxLength": 128, "writeOnly": True,
                            "description": "the carrier's digest password; never shown"}),
}
READ_ONLY_FLAGS = {"extensions": "has_password", "users": "has_password", "staff": "has_pin",
                   "trunks": "has_password"}


def actor_of(request: Request) -> Actor:
    return Actor(session_of(request).user, source_of(request))


def make_blueprint(api: Api, service: ConfigService) -> Blueprint:
    bp = Blueprint("configuration", url_prefix="")

    def scope_of(request: Request) -> DataScope:
        session = session_of(request)
        return service.scope_of(session.role, session.staff)

    for kind in service.store.kinds:
        _kind_routes(api, bp, service, kind, scope_of)
    _audit_routes(api, bp, service)
    _export_routes(api, bp, service)
    _settings_routes(api, bp, service)
    add_bulk_routes(api, bp, service)
    return bp


def _settings_routes(api: Api, bp: Blueprint, service: ConfigService) -> None:
    schema = api.schema_ref(GlobalSettings, "GlobalSettings")
    patch = {**api.components["GlobalSettings"], "required": []}
    api.components["GlobalSettingsPatch"] = patch

    async def get_settings(request: Request) -> HTTPResponse:
        return ok(dump(GlobalSettings, service.settings()))

    async def change_settings(request: Request) -> HTTPResponse:
        return ok(dump(GlobalSettings, await service.change_settings(body_of(request), actor_of(request))))

    api.route(bp, "GET", "/api/v1/settings", get_settings, summary="The box's global settings", tag="settings",
              operation_id="get_settings", roles=READ_CONFIG, response=schema, errors=(401, 403))
    api.route(bp, "PATCH", "/api/v1/settings", change_settings,
              summary="Change some global settings (CRM VIP look-up, time zone, language, SIP realm)",
              tag="settings", operation_id="change_settings", roles=WRITE_CONFIG,
              request={"$ref": "#/components/schemas/GlobalSettingsPatch"}, response=schema,
              errors=(400, 401, 403, 422))


def _kind_routes(api: Api, bp: Blueprint, service: ConfigService, kind: EntityKind,
                 scope_of: Callable[[Request], DataScope]) -> None:
    name = kind.name
    base = f"/api/v1/{name}"
    item_ref = api.schema_ref(kind.model, f"{kind.model.__name__}", drop=kind.secret_fields)
    item_schema = api.components[kind.model.__name__]
    if name in READ_ONLY_FLAGS:
        item_schema["properties"][READ_ONLY_FLAGS[name]] = {"type": "boolean", "readOnly": True}
    input_schema: dict[str, Any] = {
        **item_schema,
        "properties": {k: v for k, v in item_schema["properties"].items() if k not in READ_ONLY_FLAGS.values()},
    }
    if name in WRITE_ONLY:
        field, schema = WRITE_ONLY[name]
        input_schema["properties"] = {**input_schema["properties"], field: schema}
    if name == "staff":
        input_schema["properties"] = {
            k: v for k, v in input_schema["properties"].items() if k not in ("status", "employment")
        }
    input_name = f"{kind.model.__name__}Input"
    api.components[input_name] = input_schema
    input_ref = {"$ref": f"#/components/schemas/{input_name}"}
    patch_name = f"{kind.model.__name__}Patch"
    api.components[patch_name] = {**input_schema, "required": []}
    patch_ref = {"$ref": f"#/components/schemas/{patch_name}"}
    filters = tuple(Param(f, description=f"exact match on {f}") for f in kind.filters)

    async def list_(request: Request) -> HTTPResponse:
        page = service.list(
            name,
            offset=int_arg(request, "offset", 0, 0, 10**9),
            limit=int_arg(request, "limit", 50, 1, 1000),
            filters={f: str(request.args.get(f)) for f in kind.filters if request.args.get(f) is not None},
            q=request.args.get("q"),
            sort=request.args.get("sort"),
            scope=scope_of(request),
        )
        return ok({"items": list(page.items), "total": page.total, "offset": page.offset, "limit": page.limit})

    async def get(request: Request, key: str) -> HTTPResponse:
        return ok(service.get(name, key, scope_of(request)))

    async def create(request: Request) -> HTTPResponse:
        return ok(await service.create(name, body_of(request), actor_of(request)), status=201)

    async def put(request: Request, key: str) -> HTTPResponse:
        return ok(await service.update(name, key, body_of(request), actor_of(request), merge=False))

    async def patch(request: Request, key: str) -> HTTPResponse:
        return ok(await service.update(name, key, body_of(request), actor_of(request), merge=True))

    async def delete(request: Request, key: str) -> HTTPResponse:
        await service.delete(name, key, actor_of(request))
        return HTTPResponse(status=204)

    paging = (
        Param("offset", schema={"type": "integer", "minimum": 0}),
        Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
        Param("q", description="free-text search over every field"),
        Param("sort", description="a field to sort on; a leading - sorts descending"),
    )
    t, tz = kind.title, kind.title_zh
    api.route(bp, "GET", base, list_, summary=f"List {t}s ({tz})", tag=name, operation_id=f"list_{name}",
              roles=READ_CONFIG, response=page_schema(item_ref), params=paging + filters, errors=(401, 403, 422))
    api.route(bp, "POST", base, create, summary=f"Create a {t}", tag=name, operation_id=f"create_{name}",
              roles=WRITE_CONFIG, request=input_ref, response=item_ref, response_status=201,
              errors=(400, 401, 403, 409, 422))
    api.route(bp, "GET", f"{base}/{{key}}", get, summary=f"Get a {t}", tag=name, operation_id=f"get_{name}",
              roles=READ_CONFIG, response=item_ref, errors=(401, 403, 404))
    api.route(bp, "PUT", f"{base}/{{key}}", put, summary=f"Replace a {t}", tag=name,
              operation_id=f"replace_{name}", roles=WRITE_CONFIG, request=input_ref, response=item_ref,
              errors=(400, 401, 403, 404, 422))
    api.route(bp, "PATCH", f"{base}/{{key}}", patch, summary=f"Change some fields of a {t}", tag=name,
              operation_id=f"update_{name}", roles=WRITE_CONFIG, request=patch_ref, response=item_ref,
              errors=(400, 401, 403, 404, 422))
    api.route(bp, "DELETE", f"{base}/{{key}}", delete,
              summary=f"Delete a {t} (refused while in use)" if kind.deletable
              else f"Refused: a {t} is never deleted (use leave / reinstate)",
              tag=name, operation_id=f"delete_{name}", roles=WRITE_CONFIG, response_status=204,
              errors=(401, 403, 404, 409))
    if name in WRITE_ONLY:
        field, schema = WRITE_ONLY[name]

        async def set_secret(request: Request, key: str) -> HTTPResponse:
            body = body_of(request)
            secret = body.get(field) if isinstance(body, dict) else None
            await service.set_secret(name, key, secret, actor_of(request))
            return HTTPResponse(status=204)

        api.route(bp, "PUT", f"{base}/{{key}}/{field}", set_secret, summary=f"Set a {t}'s {field}", tag=name,
                  operation_id=f"set_{name}_{field}", roles=WRITE_CONFIG,
                  request={"type": "object", "required": [field], "properties": {field: schema}},
                  response_status=204, errors=(400, 401, 403, 404, 422))
    if name == "staff":
        async def leave(request: Request, key: str) -> HTTPResponse:
            body = body_of(request)
            reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
            return ok(await service.leave(key, reason, actor_of(request)))

        async def reinstate(request: Request, key: str) -> HTTPResponse:
            return ok(await service.reinstate(key, actor_of(request)))

        api.route(bp, "POST", f"{base}/{{key}}/leave", leave, summary="Record that a staff member left (离职)",
                  tag=name, operation_id="leave_staff", roles=WRITE_CONFIG,
                  request={"type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}}},
                  response=item_ref, errors=(401, 403, 404, 409))
        api.route(bp, "POST", f"{base}/{{key}}/reinstate", reinstate, summary="Reinstate a staff member (复职)",
                  tag=name, operation_id="reinstate_staff", roles=WRITE_CONFIG, response=item_ref,
                  errors=(401, 403, 404, 409))


def _audit_routes(api: Api, bp: Blueprint, service: ConfigService) -> None:
    entry = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "at": {"type": "number"}, "actor": {"type": "string"},
            "action": {"type": "string"}, "kind": {"type": "string"}, "key": {"type": "string"},
            "before": {"type": ["object", "null"]}, "after": {"type": ["object", "null"]},
            "source": {"type": "string"},
        },
    }

    async def audit(request: Request) -> HTTPResponse:
        page = service.records.audit(
            kind=request.args.get("kind"), key=request.args.get("key"), actor=request.args.get("actor"),
            offset=int_arg(request, "offset", 0, 0, 10**9), limit=int_arg(request, "limit", 50, 1, 1000),
        )
        items = [
            {"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "kind": e.kind, "key": e.key,
             "before": e.before, "after": e.after, "source": e.source}
            for e in page.items
        ]
        return ok({"items": items, "total": page.total, "offset": page.offset, "limit": page.limit})

    api.route(bp, "GET", "/api/v1/audit", audit, summary="The audit log: who changed what (操作日志)", tag="audit",
              operation_id="list_audit", roles=WRITE_CONFIG, response=page_schema(entry),
              params=(Param("kind"), Param("key"), Param("actor"),
                      Param("offset", schema={"type": "integer"}), Param("limit", schema={"type": "integer"})),
              errors=(401, 403, 422))


def _export_routes(api: Api, bp: Blueprint, service: ConfigService) -> None:
    async def export(request: Request) -> HTTPResponse:
        return ok(service.store.export())

    async def import_(request: Request) -> HTTPResponse:
        return ok({"imported": await service.import_config(body_of(request), actor_of(request))})

    doc = {"type": "object", "required": ["schema_version", "entities"],
           "properties": {"schema_version": {"type": "integer"}, "entities": {"type": "object"},
                          "settings": {"type": "object"}}}
    api.route(bp, "GET", "/api/v1/config/export", export, summary="Export the whole configuration", tag="config",
              operation_id="export_config", roles=WRITE_CONFIG, response=doc, errors=(401, 403))
    api.route(bp, "POST", "/api/v1/config/import", import_,
              summary="Replace the whole configuration (validated first; nothing changes on error)", tag="config",
              operation_id="import_config", roles=WRITE_CONFIG, request=doc,
              response={"type": "object", "properties": {"imported": {"type": "integer"}}},
              errors=(400, 401, 403, 422), limits=WHOLE_CONFIG)

