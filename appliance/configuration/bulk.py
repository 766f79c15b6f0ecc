"""Bulk import and export of staff, extensions, the VIP list and the blacklist, as CSV or .xlsx.

Columns are the kind's API input fields (lists joined with `;`, a staff member's skills as `skill:level`);
the write-only secret (an extension's SIP password, a staff member's phone PIN) is accepted on import and never
exported. Every row goes through the API's own validation (`ConfigService`, then the kind catalogue's
references and checks against the configuration as it would be); only when every row passes is the file
written, in one atomic replacement of the store (`ConfigStore.replace_all`), so nothing is ever half-imported.
A row whose key exists updates that entity with the file's columns (others are kept; an empty secret cell
keeps the secret); a new key creates one. Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import types
import typing
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, Union

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from appliance.auth.models import WRITE_CONFIG
from appliance.configuration.service import WRITE_ONLY_INPUT, Actor, ConfigService
from appliance.domain.kinds import EntityKind
from appliance.errors import ApplianceError, Conflict, FieldError, RowError, ValidationFailed
from appliance.http_api import Api, Param, ok, session_of, source_of
from appliance.records.models import AuditEntry

BULK_KINDS = ("staff", "extensions", "vip_list", "blacklist")
MAX_BYTES = 5 * 1024 * 1024  # a 10,000-row staff sheet is well under 2 MB
MAX_ROWS = 10_000
MAX_UNPACKED = 64 * 1024 * 1024  # an .xlsx is a zip: refuse one that would inflate past this
MAX_CELL = 2000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SEP = ";"
# Spreadsheets run a cell starting with these as a formula (CSV injection): exported cells get a leading '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Never columns: what changes only through its own route (a staff member's leave and reinstatement).
NOT_COLUMNS = {"staff": frozenset({"status", "employment"})}
TRUE = frozenset({"true", "yes", "y", "1", "on", "是", "t"})
FALSE = frozenset({"false", "no", "n", "0", "off", "否", "f"})

Format = Literal["csv", "xlsx"]


class ImportRefused(ApplianceError):
    """The file was refused as a whole; `details.rows` names each bad row and field."""

    def __init__(self, problems: list[RowError], error_id: str = "import_refused", status: int = 422,
                 extra: dict[str, Any] | None = None) -> None:
        rows = sorted({p.row for p in problems})
        shown = ", ".join(str(r) for r in rows[:20]) + (" …" if len(rows) > 20 else "")
        if rows == [0]:
            message, message_zh = problems[0].message, problems[0].message_zh
        else:
            message = f"Nothing was imported: {len(problems)} problem(s) in row(s) {shown}"
            message_zh = f"未导入任何数据:第 {shown} 行有 {len(problems)} 处错误"
        super().__init__(message, message_zh, {"rows": [p.to_dict() for p in problems], **(extra or {})},
                         error_id=error_id, http_status=status)


def _refuse(message: str, message_zh: str, error_id: str, status: int = 400, field: str = "file") -> ImportRefused:
    return ImportRefused([RowError(0, field, message, message_zh)], error_id, status)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    shape: str  # "text" | "int" | "float" | "bool" | "list" | "pairs" (a list of `a:b`)
    nullable: bool = False
    default: Any = None
    required: bool = False
    pair: tuple[str, str] = ("", "")  # the two fields of a "pairs" item
    secret: bool = False
    choices: tuple[str, ...] = ()  # the values an enumerated field takes


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    created: tuple[str, ...]
    updated: tuple[str, ...]
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": len(self.created), "updated": len(self.updated),
                "dry_run": self.dry_run, "keys": {"created": list(self.created[:1000]),
                                                   "updated": list(self.updated[:1000])}}


def _unwrap(hint: Any) -> tuple[Any, bool]:
    nullable = False
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        hint = args[0]
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
    return hint, nullable


def _shape(hint: Any) -> tuple[str, tuple[str, str]]:
    if typing.get_origin(hint) is tuple:
        item, _ = _unwrap(typing.get_args(hint)[0])
        if dataclasses.is_dataclass(item):
            names = [f.name for f in dataclasses.fields(item)]
            return "pairs", (names[0], names[1])
        return "list", ("", "")
    if hint is bool:
        return "bool", ("", "")
    if hint is int:
        return "int", ("", "")
    if hint is float:
        return "float", ("", "")
    return "text", ("", "")  # str, a StrEnum, a Literal: the validator checks the value


def _choices(hint: Any) -> tuple[str, ...]:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return tuple(str(m.value) for m in hint)
    if typing.get_origin(hint) is Literal:
        return tuple(str(a) for a in typing.get_args(hint))
    return ()


def columns_of(kind: EntityKind) -> tuple[Column, ...]:
    """The file's columns for `kind`: its input fields in model order, then its write-only secret."""
    hints = typing.get_type_hints(kind.model, include_extras=True)
    out: list[Column] = []
    for f in dataclasses.fields(kind.model):
        if f.name in kind.secret_fields or f.name in NOT_COLUMNS.get(kind.name, ()):
            continue
        hint, nullable = _unwrap(hints[f.name])
        shape, pair = _shape(hint)
        if f.default is not dataclasses.MISSING:
            default, required = f.default, False
        elif f.default_factory is not dataclasses.MISSING:
            default, required = f.default_factory(), False
        else:
            default, required = None, True
        if isinstance(default, tuple):
            default = [dataclasses.asdict(d) if dataclasses.is_dataclass(d) else d for d in default]  # type: ignore[arg-type]
        if isinstance(default, Enum):
            default = default.value
        out.append(Column(f.name, shape, nullable, default, required, pair, choices=_choices(hint)))
    secret = WRITE_ONLY_INPUT.get(kind.name)
    if secret:
        out.append(Column(secret, "text", secret=True))
    return tuple(out)


# ---- cells ------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _unescape(text: str) -> str:
    """Undo our own export's guard, so a `+86…` number exported as `'+86…` comes back as it was."""
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_STARTS else text


def _export_value(column: Column, value: Any) -> Any:
    if value is None:
        return ""
    if column.shape == "pairs":
        return SEP.join(f"{v.get(column.pair[0], '')}:{v.get(column.pair[1], '')}" for v in value)
    if column.shape == "list":
        return _escape(SEP.join(str(v) for v in value))
    if column.shape == "bool":
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    return _escape(str(value))


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # Excel keeps 1001 as 1001.0
    return _unescape(str(cell).strip())


def _cell_value(column: Column, text: str) -> Any:
    """The JSON value the API takes for one cell; ValueError carries (English, Chinese) when it cannot be."""
    if text == "":
        if column.nullable:
            return None
        return [] if column.shape in ("list", "pairs") else column.default
    if len(text) > MAX_CELL:
        raise ValueError(f"longer than {MAX_CELL} characters", f"超过 {MAX_CELL} 个字符")
    if column.shape == "bool":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError("true or false (yes/no, 1/0, 是/否)", "应为 true 或 false(是/否、1/0)")
    if column.shape == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError("a whole number", "应为整数") from None
    if column.shape == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number", "应为数字") from None
    if column.shape == "list":
        return [p.strip() for p in text.split(SEP) if p.strip()]
    if column.shape == "pairs":
        items: list[dict[str, Any]] = []
        for part in (p.strip() for p in text.split(SEP)):
            if not part:
                continue
            name, _, second = part.partition(":")
            item: dict[str, Any] = {column.pair[0]: name.strip()}
            if second.strip():
                try:
                    item[column.pair[1]] = int(second)
                except ValueError:
                    raise ValueError(f"{part!r}: write name:number, e.g. sales:5",
                                     f"{part!r}: 应写成 名称:数字,例如 sales:5") from None
            items.append(item)
        return items
    return text


# ---- reading files ----------------------------------------------------------------------------------


def _decode(data: bytes, charset: str | None) -> str:
    """UTF-8 (with or without the BOM Excel writes), or GB18030, which Chinese Excel's "CSV" writes."""
    if b"\x00" in data:
        raise _refuse("the file is not text (it contains NUL bytes; UTF-16 is not accepted: save as CSV UTF-8)",
                      "文件不是文本(含 NUL 字节;不支持 UTF-16,请另存为 CSV UTF-8)", "bad_encoding")
    tries = [charset] if charset and charset.lower() not in ("utf-8", "utf8") else []
    tries += ["utf-8-sig", "gb18030"]
    for encoding in tries:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    raise _refuse("the file is neither UTF-8 nor GB18030 text", "文件既不是 UTF-8 也不是 GB18030 编码的文本",
                  "bad_encoding")


def _csv_rows(data: bytes, charset: str | None) -> Iterator[list[Any]]:
    text = _decode(data, charset)
    # Comma, as Excel writes it in China; a tab-separated file (pasted from a sheet) when the header has no
    # comma but tabs. Not csv.Sniffer: `;` inside cells (our list separator) fools it.
    first = text.split("\n", 1)[0]
    dialect: Any = csv.excel_tab if "," not in first and "\t" in first else csv.excel
    try:
        yield from csv.reader(io.StringIO(text, newline=""), dialect)
    except csv.Error as exc:
        raise _refuse(f"the CSV cannot be read: {exc}", f"无法读取 CSV:{exc}", "bad_file") from None


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook  # defusedxml, when installed, guards its XML parsing

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile:
        raise _refuse("the file is not an .xlsx workbook", "文件不是 .xlsx 工作簿", "bad_file") from None
    if unpacked > MAX_UNPACKED:
        raise _refuse(f"the workbook unpacks to more than {MAX_UNPACKED // 2**20} MB",
                      f"工作簿解压后超过 {MAX_UNPACKED // 2**20} MB", "too_large", 413)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file; each means the same to a user
        raise _refuse(f"the workbook cannot be read: {exc}", f"无法读取工作簿:{exc}", "bad_file") from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[Any]] = []
        for values in sheet.iter_rows(min_row=1, values_only=True):
            rows.append(list(values))
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def detect_format(content_type: str, filename: str, data: bytes, asked: str | None) -> Format:
    if asked in ("csv", "xlsx"):
        return typing.cast(Format, asked)
    if XLSX_TYPE in content_type or filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return "xlsx"
    return "csv"


# ---- the work ---------------------------------------------------------------------------------------


@dataclass
class BulkTransfer:
    """Export and import of one kind through the configuration service."""

    service: ConfigService

    def kind(self, name: str) -> EntityKind:
        kind = self.service.store.kind(name)
        if kind.name not in BULK_KINDS:
            raise _refuse(f"{kind.title} cannot be imported or exported in bulk", f"{kind.title_zh}不支持批量导入导出",
                          "not_bulk", 404, "kind")
        return kind

    # ---- export

    def export(self, kind_name: str, fmt: Format) -> bytes:
        kind = self.kind(kind_name)
        columns = [c for c in columns_of(kind) if not c.secret]
        rows: list[list[Any]] = [[c.name for c in columns]]
        for entity in self.service.store.list(kind.name):
            data = self.service.public(kind, entity)
            rows.append([_export_value(c, data.get(c.name)) for c in columns])
        if fmt == "csv":
            out = io.StringIO(newline="")
            csv.writer(out).writerows(rows)
            return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM tells Excel it is UTF-8
        from openpyxl import Workbook
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = Workbook(write_only=True)
        sheet = book.create_sheet(kind.name[:31])
        for row in rows:
            # XML cannot carry most control characters: a value stored with one must not make the export fail.
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    # ---- import

    def read(self, data: bytes, fmt: Format, charset: str | None = None) -> list[list[Any]]:
        if len(data) > MAX_BYTES:
            raise _refuse(f"the file is larger than {MAX_BYTES // 2**20} MB", f"文件超过 {MAX_BYTES // 2**20} MB",
                          "too_large", 413)
        if not data.strip():
            raise _refuse("the file is empty", "文件为空", "empty_file", 422)
        rows = _xlsx_rows(data) if fmt == "xlsx" else list(_limited(_csv_rows(data, charset)))
        if len(rows) > MAX_ROWS + 1:
            raise _refuse(f"more than {MAX_ROWS} rows; split the file", f"超过 {MAX_ROWS} 行,请拆分文件",
                          "too_large", 413)
        return rows

    def _header(self, kind: EntityKind, header: list[Any]) -> list[Column | None]:
        by_name = {c.name: c for c in columns_of(kind)}
        problems: list[RowError] = []
        seen: set[str] = set()
        out: list[Column | None] = []
        names = [_text(h).lower() for h in header]
        while names and names[-1] == "":
            names.pop()  # trailing empty cells are not columns
        for name in names:
            column = by_name.get(name)
            if column is None:
                problems.append(RowError(1, name or "?", f"unknown column {name!r}; the columns are: "
                                         f"{', '.join(by_name)}",
                                         f"未知的列 {name!r};可用的列为:{', '.join(by_name)}"))
            elif name in seen:
                problems.append(RowError(1, name, f"column {name!r} appears twice", f"列 {name!r} 重复出现"))
            seen.add(name)
            out.append(column)
        if kind.key not in seen:
            problems.append(RowError(1, kind.key, f"the key column {kind.key!r} is missing",
                                     f"缺少主键列 {kind.key!r}"))
        if problems:
            raise ImportRefused(problems, "bad_columns",
                                extra={"columns": {"expected": list(by_name),
                                                   "unknown": [n for n in names if n not in by_name]}})
        return out

    def validate(self, kind_name: str, rows: list[list[Any]]) -> tuple[list[Any], list[str], list[str], dict[str, Any]]:
        """Every row checked against the configuration as it would be after the import.

        Returns the entities, the keys created and updated, and the entities they replace (for the
        write to check nothing changed meanwhile). Raises `ImportRefused` naming every bad row and field."""
        kind = self.kind(kind_name)
        store = self.service.store
        if not rows or not any(_text(c) for c in rows[0]):
            raise ImportRefused([RowError(1, "", "the first row must name the columns", "第一行应为列名")],
                                "bad_columns")
        columns = self._header(kind, rows[0])
        problems: list[RowError] = []
        parsed: dict[str, tuple[int, Any]] = {}
        created: list[str] = []
        updated: list[str] = []
        seen_before: dict[str, Any] = {}
        for number, cells in enumerate(rows[1:], start=2):
            texts = [_text(c) for c in cells]
            if not any(texts):
                continue  # blank lines between blocks are common in sheets
            extra = [t for t in texts[len(columns):] if t]
            if extra:
                problems.append(RowError(number, "", f"{len(extra)} cell(s) beyond the last column",
                                         f"有 {len(extra)} 个单元格超出最后一列"))
                continue
            body: dict[str, Any] = {}
            bad = False
            for column, text in zip(columns, texts, strict=False):
                assert column is not None
                if column.secret and text == "":
                    continue  # write-only: empty keeps what is stored
                if column.required and text == "":
                    continue  # the validator names the missing field (or, on update, it is kept)
                try:
                    body[column.name] = _cell_value(column, text)
                except ValueError as exc:
                    en, zh = exc.args
                    problems.append(RowError(number, column.name, f"{column.name}: {en}", f"{column.name}: {zh}"))
                    bad = True
            if bad:
                continue
            key = str(body.get(kind.key, "") or "")
            if key in parsed:
                problems.append(RowError(number, kind.key, f"{kind.key}: {key!r} is already in row {parsed[key][0]}",
                                         f"{kind.key}: {key!r} 与第 {parsed[key][0]} 行重复"))
                continue
            before = store.find(kind.name, key) if key else None
            try:
                if before is None:
                    entity = self.service._from_input(kind, body, before=None)
                else:
                    current = self.service.public(kind, before)
                    for ro in ("has_password", "has_pin"):
                        current.pop(ro, None)
                    entity = self.service._from_input(kind, {**current, **body}, before=before)
            except ValidationFailed as exc:
                problems += [RowError(number, e.field, e.message, e.message_zh) for e in exc.errors]
                continue
            key = kind.key_of(entity)
            parsed[key] = (number, entity)
            seen_before[key] = before
            (updated if before is not None else created).append(key)
        snapshot = {k.name: {k.key_of(e): e for e in store.list(k.name)} for k in store.kinds}
        snapshot[kind.name] = {**snapshot[kind.name], **{key: e for key, (_, e) in parsed.items()}}
        for number, entity in parsed.values():
            problems += [RowError(number, e.field, e.message, e.message_zh)
                         for e in _whole_problems(store.kinds, kind, entity, snapshot)]
        if problems:
            problems.sort(key=lambda p: p.row)
            raise ImportRefused(problems)
        return [e for _, e in parsed.values()], created, updated, seen_before

    async def import_file(self, kind_name: str, rows: list[list[Any]], actor: Actor, *,
                          dry_run: bool) -> ImportResult:
        kind = self.kind(kind_name)
        # PINs are scrypt-hashed per row: the whole check runs off the event loop.
        entities, created, updated, before = await asyncio.to_thread(self.validate, kind.name, rows)
        result = ImportResult(sum(1 for r in rows[1:] if any(_text(c) for c in r)), tuple(created),
                              tuple(updated), dry_run)
        if dry_run:
            return result
        store = self.service.store
        if any(store.find(kind.name, key) is not was for key, was in before.items()):
            raise Conflict("some of these entries changed while the file was checked; import it again",
                           "检查文件期间部分条目已被修改,请重新导入")
        revision = store.revision  # the state `whole` is built from; a write in between makes this a 409
        whole = {k.name: store.list(k.name) for k in store.kinds}
        merged = {kind.key_of(e): e for e in whole[kind.name]}
        merged.update({kind.key_of(e): e for e in entities})
        whole[kind.name] = list(merged.values())
        await store.replace_all(whole, if_revision=revision)
        self.service.records.append_audit(AuditEntry(
            at=self.service.clock.wall(), actor=actor.name, action="import", kind=kind.name, key="*",
            before=None, after=result.to_dict(), source=actor.source))
        return result


def _limited(rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
    for i, row in enumerate(rows):
        if i > MAX_ROWS + 1:
            return
        yield row


def _whole_problems(kinds: Iterable[EntityKind], kind: EntityKind, entity: Any,
                    snapshot: dict[str, dict[str, Any]]) -> list[FieldError]:
    """What the store checks on a write (references, the kind's own rules), against the imported whole."""
    titles = {k.name: k for k in kinds}
    problems: list[FieldError] = []
    for ref in kind.references:
        if not ref.report:
            continue
        target = titles[ref.target]
        for key in ref.keys(entity):
            if key not in snapshot.get(ref.target, {}):
                problems.append(FieldError(ref.field, "reference", f"{ref.field}: no {target.title} {key!r}",
                                           f"{ref.field}: 不存在的{target.title_zh} {key!r}"))
    if kind.check is not None:
        problems += kind.check(entity, snapshot)
    return problems


# ---- routes -----------------------------------------------------------------------------------------


def _flag(value: Any) -> bool:
    return str(value or "").strip().lower() in TRUE


def add_routes(api: Api, bp: Blueprint, service: ConfigService) -> None:
    bulk = BulkTransfer(service)
    result_schema = {"type": "object", "properties": {
        "rows": {"type": "integer"}, "created": {"type": "integer"}, "updated": {"type": "integer"},
        "dry_run": {"type": "boolean"}, "keys": {"type": "object"}}}
    for name in BULK_KINDS:
        kind = service.store.kind(name)
        _kind_routes(api, bp, bulk, kind, result_schema)


def _kind_routes(api: Api, bp: Blueprint, bulk: BulkTransfer, kind: EntityKind,
                 result_schema: dict[str, Any]) -> None:
    name = kind.name

    async def export(request: Request) -> HTTPResponse:
        fmt = request.args.get("format", "csv")
        if fmt not in ("csv", "xlsx"):
            raise ValidationFailed([FieldError("format", "choice", "format: csv or xlsx", "format: 应为 csv 或 xlsx")])
        data = await asyncio.to_thread(bulk.export, name, typing.cast(Format, fmt))
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
        return raw(data, content_type=content_type,
                   headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})

    async def import_(request: Request) -> HTTPResponse:
        content_type = request.headers.get("content-type", "")
        dry_run = _flag(request.args.get("dry_run"))
        if request.files and "file" in request.files:
            upload = request.files["file"][0]
            data, filename, part_type = bytes(upload.body), upload.name or "", upload.type or ""
            dry_run = dry_run or _flag(request.form.get("dry_run") if request.form else None)
        else:
            data, filename, part_type = bytes(request.body or b""), "", content_type
        if not data:
            raise _refuse("no file was uploaded", "未上传文件", "empty_file", 422)
        charset = None
        if "charset=" in part_type:
            charset = part_type.split("charset=", 1)[1].split(";")[0].strip().strip('"') or None
        fmt = detect_format(part_type, filename, data, request.args.get("format"))
        rows = await asyncio.to_thread(bulk.read, data, fmt, charset)
        actor = Actor(session_of(request).user, source_of(request))
        result = await bulk.import_file(name, rows, actor, dry_run=dry_run)
        return ok(result.to_dict())

    t = kind.title
    api.route(bp, "GET", f"/api/v1/{name}/export", export, summary=f"Export every {t} as CSV or .xlsx",
              tag=name, operation_id=f"export_{name}", roles=WRITE_CONFIG, content_type=f"text/csv,{XLSX_TYPE}",
              params=(Param("format", schema={"type": "string", "enum": ["csv", "xlsx"]}),),
              response={"type": "string", "format": "binary"}, errors=(401, 403, 422))
    api.route(bp, "POST", f"/api/v1/{name}/import", import_,
              summary=f"Import {t}s from CSV or .xlsx (all rows checked first; nothing changes on error)",
              tag=name, operation_id=f"import_{name}", roles=WRITE_CONFIG,
              request={"type": "string", "format": "binary"}, response=result_schema,
              params=(Param("format", schema={"type": "string", "enum": ["csv", "xlsx"]}),
                      Param("dry_run", schema={"type": "boolean"}, description="check only; change nothing")),
              errors=(400, 401, 403, 409, 413, 422))
