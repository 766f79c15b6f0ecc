"""Export routes: a report or the call records as .xlsx or CSV, streamed, or as a job with progress.

- `GET /api/v1/reports/{kind}/export?format=xlsx|csv&<the report's query>` and
  `GET /api/v1/cdr/export?format=xlsx|csv&<the call-record list's filters>` answer the file itself: CSV is
  sent chunk by chunk as it is produced on a worker thread; .xlsx is written on a worker thread to a file under
  the exports folder (openpyxl's write-only sheet) and then sent in chunks and removed.
- `POST /api/v1/exports` {source, format, params} starts a job (202 with its id) for an export too long to
  wait for; `GET /api/v1/exports/{id}` tells its progress (rows done of rows total); `GET
  /api/v1/exports/{id}/file` downloads it. Only the user who started a job sees it.

Each export sees what the viewer sees in the report or the list (the report's data scope; agents their own
call records; a supervisor the call records of the agents they see and the calls no agent answered). Headers
are in the viewer's language: `lang`, else the account's, else the browser's last choice, else the box's.
A bad parameter is a 400 naming it (`params.<name>` for a job's).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.auth.models import ANY_ROLE, DataScope
from appliance.configuration.service import ConfigService
from appliance.configuration.settings import current
from appliance.domain.models import Role
from appliance.errors import FieldError, Forbidden, ValidationFailed
from appliance.http_api import LANG_COOKIE, Api, Param, body_of, ok, send_file, session_of
from appliance.records.sqlite_store import RecordStore
from appliance.reports import export
from appliance.reports.errors import BadParameter
from appliance.reports.export import CDR_COLUMNS, REPORT_COLUMNS, Column, Format
from appliance.reports.jobs import ExportJobs, Work
from appliance.reports.models import Kind, ReportQuery
from appliance.reports.service import ReportService

LANGUAGES = ("zh_CN", "en")
DIRECTIONS = ("inbound", "outbound", "internal")
CDR_EXACT = ("caller", "callee", "did", "queue", "agent", "disposition")
SOURCES = (*(k.value for k in Kind), "cdr")
CHUNK = 64 * 1024
QueryOf = Callable[[Request, str, ZoneInfo], ReportQuery]
Scoped = Callable[[ReportQuery, Role, DataScope, dict[str, str]], ReportQuery]


def _bad(name: str, rule: str, message: str, message_zh: str) -> BadParameter:
    return BadParameter(name, rule, message, message_zh)


def format_of(args: Mapping[str, Any]) -> Format:
    raw = args.get("format")
    try:
        return Format(raw or "xlsx")
    except ValueError:
        raise _bad("format", "choice", "xlsx or csv", "应为 xlsx 或 csv") from None


def _number(args: Mapping[str, Any], name: str) -> float | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise _bad(name, "number", "seconds since the epoch, a number", "应为以秒计的时间戳数字") from None


def cdr_filters(args: Mapping[str, Any]) -> dict[str, Any]:
    """The filters of `GET /api/v1/cdr`, checked the same way: exact matches, direction, time range, missed."""
    where: dict[str, str] = {}
    for name in CDR_EXACT:
        value = args.get(name)
        if value is not None and value != "":
            if len(str(value)) > 128:
                raise _bad(name, "maxLength", "at most 128 characters", "不超过 128 个字符")
            where[name] = str(value)
    direction = args.get("direction")
    if direction:
        if direction not in DIRECTIONS:
            raise _bad("direction", "enum", f"one of {', '.join(DIRECTIONS)}", f"应为 {', '.join(DIRECTIONS)} 之一")
        where["direction"] = str(direction)
    return {"where": where, "since": _number(args, "since"), "until": _number(args, "until"),
            "missed": _boolean(args, "missed"), "intended": _boolean(args, "intended")}


def _boolean(args: Mapping[str, Any], name: str) -> bool | None:
    raw = str(args.get(name) or "").lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    if raw:
        raise _bad(name, "boolean", "true or false", "应为 true 或 false")
    return None


def _args(request: Request) -> dict[str, str]:
    return {name: str(values[0]) for name, values in request.args.items() if values}


def _prefixed(exc: ValidationFailed, prefix: str) -> BadParameter:
    first = exc.errors[0] if exc.errors else FieldError("", "invalid", exc.message, exc.message_zh)
    return BadParameter(f"{prefix}{first.field}", first.rule, first.message, first.message_zh)


def staff_groups_of(config: ConfigService) -> dict[str, str]:
    return {str(s.employee_no): str(s.work_group or "") for s in config.store.list("staff")}


def names_of(config: ConfigService) -> dict[str, dict[str, str]]:
    """Names beside ids in exports: agents, queues, work groups, IVR flows."""
    out: dict[str, dict[str, str]] = {
        "agent": {str(s.employee_no): str(s.name) for s in config.store.list("staff")},
        "queue": {str(q.id): str(q.name) for q in config.store.list("queues")},
        "group": {str(g.id): str(g.name) for g in config.store.list("work_groups")}}
    with contextlib.suppress(KeyError, AttributeError):
        out["flow"] = {str(f.id): str(getattr(f, "name", f.id)) for f in config.store.list("ivr_flows")}
    return out


def add_routes(api: Api, bp: Blueprint, service: ReportService, config: ConfigService, jobs: ExportJobs,
               query_of: QueryOf, scoped: Scoped) -> None:
    def staff_groups() -> dict[str, str]:
        return staff_groups_of(config)

    def names() -> dict[str, dict[str, str]]:
        return names_of(config)

    def language(request: Request, asked: str | None) -> str:
        if asked:
            if asked not in LANGUAGES:
                raise _bad("lang", "choice", "zh_CN or en", "应为 zh_CN 或 en")
            return asked
        user = config.store.find("users", session_of(request).user)
        account = str(getattr(user, "language", "") or "")
        if account in LANGUAGES:
            return account
        cookie = request.cookies.get(LANG_COOKIE)
        if cookie in LANGUAGES:
            return str(cookie)
        return str(current(dict(config.store.settings)).language)

    def stamp(epoch: float, zone: ZoneInfo) -> str:
        return datetime.fromtimestamp(epoch, zone).strftime("%Y%m%d-%H%M")

    def report_work(request: Request, args: Mapping[str, str], kind: str, fmt: Format, lang: str
                    ) -> tuple[str, Callable[[], tuple[list[Column], list[dict[str, Any]]]], Work]:
        """What to run for a report's export: its file name, and the work (on a worker thread)."""
        zone = service.zone()
        query = query_of(cast(Request, SimpleNamespace(args=args)), kind, zone)
        session = session_of(request)
        groups = staff_groups()
        query = scoped(query, session.role, config.scope_of(session.role, session.staff), groups)
        staff = groups if query.kind in (Kind.GROUPS, Kind.AGENT_STATE_LOG) else None
        columns = list(REPORT_COLUMNS[query.kind])
        header = export.headers(columns, lang)
        named = names()
        filename = f"{query.kind.value}-{stamp(query.start, zone)}-{stamp(query.end, zone)}.{fmt.value}"

        def rows() -> tuple[list[Column], list[dict[str, Any]]]:
            return columns, list(service.run_sync(query, staff).rows)

        def work(out: IO[bytes], progress: export.Progress) -> int:
            _, data = rows()
            return export.write(fmt, out, columns, data, header=header, zone=zone, title=query.kind.value,
                                names=named, progress=progress)

        return filename, rows, work

    def cdr_rows(request: Request, filters: dict[str, Any]) -> Callable[[RecordStore], Iterator[dict[str, Any]]]:
        session = session_of(request)
        where = dict(filters["where"])
        visible: set[str] | None = None
        if session.role == Role.AGENT:
            if not session.staff:
                raise Forbidden("this login is not linked to an agent (staff number)", "该账号未关联座席工号")
            if where.get("agent", session.staff) != session.staff:
                raise Forbidden("agents may read only their own records", "座席只能查看自己的记录")
            where["agent"] = session.staff
        elif session.role == Role.SUPERVISOR:
            scope = config.scope_of(session.role, session.staff)
            if not scope.everyone:
                visible = {a for a, g in staff_groups().items() if scope.sees_staff(a, g or None)}
                if scope.staff:
                    visible.add(scope.staff)

        def iterate(store: RecordStore) -> Iterator[dict[str, Any]]:
            for cdr in store.iter_cdrs(where=where, since=filters["since"], until=filters["until"],
                                       missed=filters["missed"], intended=filters["intended"]):
                if visible is None or not cdr.get("agent") or cdr.get("agent") in visible:
                    yield cdr

        return iterate

    def cdr_work(request: Request, args: Mapping[str, str], fmt: Format, lang: str) -> tuple[str, Work, dict[str, Any]]:
        filters = cdr_filters(args)
        iterate = cdr_rows(request, filters)
        zone, named = service.zone(), names()
        header = export.headers(CDR_COLUMNS, lang)
        filename = f"call-records-{datetime.now(zone):%Y%m%d-%H%M%S}.{fmt.value}"

        def work(out: IO[bytes], progress: export.Progress) -> int:
            store = RecordStore.open_reader(service.records_path)
            try:
                return export.write(fmt, out, CDR_COLUMNS, iterate(store), header=header, zone=zone,
                                    title="call records", names=named, progress=progress)
            finally:
                store.close()

        return filename, work, filters

    async def stream(request: Request, fmt: Format, filename: str, work: Work) -> HTTPResponse:
        """Writes the export on a worker thread into a file of the exports folder, then sends it in chunks."""
        jobs.folder.mkdir(parents=True, exist_ok=True)
        path = jobs.folder / f"direct-{id(request):x}-{datetime.now().timestamp():.6f}.{fmt.value}"
        try:
            def produce() -> None:
                with path.open("wb") as out:
                    work(out, lambda _rows: None)

            await asyncio.to_thread(produce)
            response: Any = await request.respond(content_type=fmt.content_type, headers={
                "Content-Disposition": f'attachment; filename="{filename}"'})
            handle = await asyncio.to_thread(path.open, "rb")
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    await response.send(chunk)
            finally:
                await asyncio.to_thread(handle.close)
            await response.eof()
            return None  # type: ignore[return-value]  # answered through `request.respond`
        finally:
            await asyncio.to_thread(_unlink, path)

    async def stream_csv(request: Request, filename: str, chunks: Iterator[bytes],
                         close: Callable[[], None]) -> HTTPResponse:
        """CSV sent as it is produced: each chunk made on a worker thread."""
        try:
            first = await asyncio.to_thread(next, chunks, None)
            response: Any = await request.respond(content_type=Format.CSV.content_type, headers={
                "Content-Disposition": f'attachment; filename="{filename}"'})
            chunk = first
            while chunk is not None:
                await response.send(chunk)
                chunk = await asyncio.to_thread(next, chunks, None)
            await response.eof()
            return None  # type: ignore[return-value]  # answered through `request.respond`
        finally:
            await asyncio.to_thread(close)

    async def export_report(request: Request, kind: str) -> HTTPResponse:
        args = _args(request)
        fmt = format_of(args)
        lang = language(request, args.get("lang"))
        filename, rows, work = report_work(request, args, kind, fmt, lang)
        if fmt is Format.XLSX:
            return await stream(request, fmt, filename, work)
        columns, data = await asyncio.to_thread(rows)
        zone = service.zone()
        chunks = export.csv_chunks(columns, data, header=export.headers(columns, lang), zone=zone, names=names())
        return await stream_csv(request, filename, chunks, lambda: None)

    async def export_cdrs(request: Request) -> HTTPResponse:
        args = _args(request)
        fmt = format_of(args)
        lang = language(request, args.get("lang"))
        filename, work, filters = cdr_work(request, args, fmt, lang)
        if fmt is Format.XLSX:
            return await stream(request, fmt, filename, work)
        store = await asyncio.to_thread(RecordStore.open_reader, service.records_path)
        iterate = cdr_rows(request, filters)
        chunks = export.csv_chunks(CDR_COLUMNS, iterate(store), header=export.headers(CDR_COLUMNS, lang),
                                   zone=service.zone(), names=names())
        return await stream_csv(request, filename, chunks, store.close)

    async def start_job(request: Request) -> HTTPResponse:
        body = body_of(request)
        if not isinstance(body, dict):
            raise _bad("(body)", "type", "a JSON object", "应为 JSON 对象")
        source = body.get("source")
        if source not in SOURCES:
            raise _bad("source", "choice", f"one of {', '.join(SOURCES)}", f"应为 {', '.join(SOURCES)} 之一")
        params = body.get("params", {})
        if not isinstance(params, dict) or not all(isinstance(v, str | int | float) and not isinstance(v, bool)
                                                   for v in params.values()):
            raise _bad("params", "type", "an object of the export's query parameters (strings or numbers)",
                       "应为导出查询参数的对象(字符串或数字)")
        args = {str(k): str(v) for k, v in params.items()}
        fmt = format_of({"format": body.get("format")})
        try:
            lang = language(request, args.get("lang"))
            if source == "cdr":
                filename, work, filters = cdr_work(request, args, fmt, lang)
                total = None
            else:
                filename, _rows, work = report_work(request, args, str(source), fmt, lang)
                total = None
        except ValidationFailed as exc:
            raise _prefixed(exc, "params.") from None
        job = jobs.submit(session_of(request).user, str(source), fmt, filename, total, work)
        if source == "cdr":  # the count runs beside the export; progress shows once it is known
            asyncio.get_running_loop().run_in_executor(None, _count_into, job, service.records_path, filters)
        return ok(job.to_dict(), status=202)

    async def list_jobs(request: Request) -> HTTPResponse:
        items = [j.to_dict() for j in jobs.of(session_of(request).user)]
        return ok({"items": items, "total": len(items), "offset": 0, "limit": len(items)})

    async def get_job(request: Request, job_id: str) -> HTTPResponse:
        return ok(jobs.get(job_id, session_of(request).user).to_dict())

    async def job_file(request: Request, job_id: str) -> HTTPResponse:
        job = jobs.file(job_id, session_of(request).user)
        return await send_file(request, job.path, job.format.content_type, job.filename)

    _document(api, bp, export_report, export_cdrs, start_job, list_jobs, get_job, job_file)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _count_into(job: Any, path: Path, filters: dict[str, Any]) -> None:
    store = RecordStore.open_reader(path)
    try:
        job.rows_total = store.count_cdrs(where=filters["where"], since=filters["since"], until=filters["until"],
                                          missed=filters["missed"], intended=filters["intended"])
    finally:
        store.close()


def _document(api: Api, bp: Blueprint, export_report: Any, export_cdrs: Any, start_job: Any, list_jobs: Any,
              get_job: Any, job_file: Any) -> None:
    binary = {"type": "string", "format": "binary"}
    types = f"text/csv,{export.XLSX_TYPE}"
    fmt = Param("format", schema={"type": "string", "enum": [f.value for f in Format]},
                description="xlsx (default) or csv (UTF-8 with a byte-order mark)")
    lang = Param("lang", schema={"type": "string", "enum": list(LANGUAGES)},
                 description="the headers' language (default: the viewer's)")
    when = "epoch seconds or a local ISO date/time (the box's time zone), on a half-hour"
    api.route(bp, "GET", "/api/v1/reports/{kind}/export", export_report,
              summary="A report (as GET /api/v1/reports/{kind}) as .xlsx or CSV, streamed; headers in the viewer's "
                      "language, durations as time values", tag="reports", operation_id="export_report",
              roles=ANY_ROLE, content_type=types, response=binary, errors=(400,),
              params=(fmt, lang, Param("from", description=f"start: {when}", required=True),
                      Param("to", description=f"end (excluded): {when}", required=True),
                      Param("period", schema={"type": "string", "enum": ["half_hour", "hour", "day", "week", "month"]}),
                      *(Param(n, description="a comma-separated list") for n in ("queue", "agent", "group", "flow"))))
    api.route(bp, "GET", "/api/v1/cdr/export", export_cdrs,
              summary="Call detail records (as GET /api/v1/cdr, every page) as .xlsx or CSV, newest first, streamed",
              tag="records", operation_id="export_cdrs", roles=ANY_ROLE, content_type=types, response=binary,
              errors=(400,),
              params=(fmt, lang, Param("direction", schema={"type": "string", "enum": list(DIRECTIONS)}),
                      *(Param(n, description=f"exact match on {n}") for n in CDR_EXACT),
                      Param("since", schema={"type": "number"}, description="started at or after (epoch s)"),
                      Param("until", schema={"type": "number"}, description="started before (epoch s)"),
                      Param("missed", schema={"type": "boolean"}, description="only missed (true) or not (false)"),
                      Param("intended", schema={"type": "boolean"},
                            description="only intended customers' calls (true) or the others (false)")))
    job = {"type": "object", "required": ["id", "state", "rows_done"], "properties": {
        "id": {"type": "string"}, "source": {"type": "string"}, "format": {"type": "string"},
        "filename": {"type": "string"}, "state": {"type": "string", "enum": ["running", "done", "failed"]},
        "rows_done": {"type": "integer"}, "rows_total": {"type": ["integer", "null"]},
        "progress": {"type": ["number", "null"]}, "created": {"type": "number"},
        "finished": {"type": ["number", "null"]}, "size": {"type": "integer"}, "error": {"type": "string"}}}
    api.route(bp, "POST", "/api/v1/exports", start_job,
              summary="Start an export job (a report kind or cdr) that runs off the event loop; poll its progress",
              tag="reports", operation_id="start_export", roles=ANY_ROLE, response_status=202, response=job,
              request={"type": "object", "required": ["source"], "properties": {
                  "source": {"type": "string", "enum": list(SOURCES)},
                  "format": {"type": "string", "enum": [f.value for f in Format]},
                  "params": {"type": "object", "description": "the export's query parameters",
                             "additionalProperties": {"type": ["string", "number"]}}}},
              errors=(400, 409, 422))
    api.route(bp, "GET", "/api/v1/exports", list_jobs, summary="My export jobs, newest first", tag="reports",
              operation_id="list_exports", roles=ANY_ROLE,
              response={"type": "object", "properties": {"items": {"type": "array", "items": job},
                                                         "total": {"type": "integer"}}})
    api.route(bp, "GET", "/api/v1/exports/{job_id}", get_job, summary="An export job's progress", tag="reports",
              operation_id="get_export", roles=ANY_ROLE, response=job, errors=(404,))
    api.route(bp, "GET", "/api/v1/exports/{job_id}/file", job_file, summary="Download a finished export",
              tag="reports", operation_id="get_export_file", roles=ANY_ROLE, content_type=types, response=binary,
              errors=(404, 409))
