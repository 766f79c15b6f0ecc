"""Reports and call records as .xlsx or CSV, written row by row in constant memory.

- .xlsx: openpyxl's write-only workbook, which writes each row to the sheet's part as it comes (never a tree of
  every cell): a bold, shaded header in the viewer's language, the top row frozen, numbers as numbers, times
  as local date-times and durations as time values (`datetime.timedelta`, shown `[h]:mm:ss`), ratios as
  percentages. The sheet is kept in a temporary file until the workbook is closed, so memory does not grow with
  the row count.
- CSV: UTF-8 with a byte-order mark (without it Excel reads the file in the system's ANSI code page and Chinese
  names come out garbled), produced in chunks; durations as `h:mm:ss`, times as `YYYY-MM-DD HH:MM:SS`.

A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is written as text: in .xlsx
by its cell type, in CSV behind a `'`, as the bulk export does.

Column headers come in English and Simplified Chinese (`Column.en`, `Column.zh`); a caller with a catalogue of
its own passes `labels` (column key → header) instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import IO, Any
from zoneinfo import ZoneInfo

from appliance.reports.models import Kind

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"
DURATION_FORMAT = "[h]:mm:ss"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
RATIO_FORMAT = "0.00%"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATES = ("idle", "ringing", "on_call", "wrap_up", "paused", "disconnected")
Progress = Callable[[int], None]


class Format(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"

    @property
    def content_type(self) -> str:
        return XLSX_TYPE if self is Format.XLSX else CSV_TYPE


class Cell(StrEnum):
    TEXT = "text"
    INT = "int"
    NUMBER = "number"
    RATIO = "ratio"  # 0..1, shown as a percentage
    SECONDS = "seconds"  # a duration
    TIME = "time"  # epoch seconds, shown as the box's local date and time
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the row's key; "a.b" reaches into a nested mapping (an agent's seconds per state)
    en: str
    zh: str
    cell: Cell = Cell.INT
    width: float = 12.0

    def label(self, language: str) -> str:
        return self.zh if language.startswith("zh") else self.en


def _c(key: str, en: str, zh: str, cell: Cell = Cell.INT, width: float = 12.0) -> Column:
    return Column(key, en, zh, cell, width)


PERIOD = (_c("period_start", "Period", "时段", Cell.TIME, 19),)
CALL_FIGURES = (
    _c("offered", "Offered", "振铃次数"), _c("missed", "Missed", "未接次数"), _c("answered", "Answered", "接听次数"),
    _c("answer_rate", "Answer rate", "接通率", Cell.RATIO), _c("completed", "Completed", "完成通话数"),
    _c("talk_total", "Total talk time", "总通话时长", Cell.SECONDS),
    _c("hold_total", "Total hold time", "总保持时长", Cell.SECONDS),
    _c("talk_max", "Longest talk", "最长通话时长", Cell.SECONDS),
    _c("avg_talk", "Average talk time", "平均通话时长", Cell.SECONDS),
    _c("complete_agent", "Ended by agent", "座席挂断"), _c("complete_caller", "Ended by caller", "客户挂断"),
    _c("transferred", "Transferred", "转接"),
)
REPORT_COLUMNS: dict[Kind, tuple[Column, ...]] = {
    Kind.QUEUES: (*PERIOD, _c("queue", "Queue", "队列", Cell.TEXT), _c("queue_name", "Queue name", "队列名称", Cell.TEXT, 16),
                  _c("queued", "Queued", "总排队数"), _c("short_abandoned", "Short abandoned", "短时放弃数"),
                  _c("offered", "Offered", "有效排队数"), _c("answered", "Answered", "成功服务数"),
                  _c("answered_in_sl", "Answered within target", "目标时间内接听"),
                  _c("abandoned", "Abandoned", "客户放弃数"), _c("timed_out", "Timed out", "排队超时数"),
                  _c("overflowed", "Overflowed", "溢出数"), _c("waited", "Calls that waited", "离队呼叫数"),
                  _c("wait_total", "Total wait", "总排队时长", Cell.SECONDS),
                  _c("wait_max", "Longest wait", "最长排队时长", Cell.SECONDS),
                  _c("avg_wait", "Average wait", "平均排队时长", Cell.SECONDS),
                  _c("completed", "Completed", "完成通话数"),
                  _c("talk_total", "Total talk time", "总通话时长", Cell.SECONDS),
                  _c("hold_total", "Total hold time", "总保持时长", Cell.SECONDS),
                  _c("avg_talk", "Average talk time", "平均通话时长", Cell.SECONDS),
                  _c("service_level", "Service level", "服务水平", Cell.RATIO),
                  _c("abandon_rate", "Abandon rate", "客户放弃率", Cell.RATIO),
                  _c("timeout_rate", "Time-out rate", "排队超时率", Cell.RATIO)),
    Kind.AGENT_CALLS: (*PERIOD, _c("agent", "Agent", "工号", Cell.TEXT), _c("agent_name", "Name", "姓名", Cell.TEXT, 16),
                       *CALL_FIGURES),
    Kind.GROUPS: (*PERIOD, _c("group", "Work group", "座席组", Cell.TEXT),
                  _c("group_name", "Work group name", "座席组名称", Cell.TEXT, 16), _c("agents", "Agents", "座席数"),
                  *CALL_FIGURES),
    Kind.AGENT_STATES: (*PERIOD, _c("agent", "Agent", "工号", Cell.TEXT), _c("agent_name", "Name", "姓名", Cell.TEXT, 16),
                        _c("total", "Time logged in", "签入时长", Cell.SECONDS),
                        *(_c(f"states.{s}", en, zh, Cell.SECONDS) for s, en, zh in (
                            ("idle", "Idle", "空闲时长"), ("ringing", "Ringing", "振铃时长"),
                            ("on_call", "On call", "通话时长"), ("wrap_up", "Wrap-up", "话后处理时长"),
                            ("paused", "Paused", "置忙时长"), ("disconnected", "Disconnected", "掉线时长"))),
                        *(_c(f"entered.{s}", en, zh) for s, en, zh in (
                            ("idle", "Times idle", "空闲次数"), ("ringing", "Times ringing", "振铃次数"),
                            ("on_call", "Times on call", "通话次数"), ("wrap_up", "Times in wrap-up", "话后处理次数"),
                            ("paused", "Times paused", "置忙次数"), ("disconnected", "Times disconnected", "掉线次数")))),
    Kind.IVR: (*PERIOD, _c("flow", "Flow", "IVR 流程", Cell.TEXT), _c("flow_name", "Flow name", "流程名称", Cell.TEXT, 16),
               _c("node", "Node", "节点", Cell.TEXT), _c("entries", "Entries", "IVR进线数"),
               _c("visits", "Visits", "节点进入次数"), _c("ended", "Ended", "结束数"),
               _c("duration_total", "Total time in IVR", "IVR时长", Cell.SECONDS),
               _c("avg_duration", "Average time in IVR", "平均IVR时长", Cell.SECONDS),
               _c("self_served", "Self-served", "自助服务数"), _c("to_agent", "To an agent", "转座席数"),
               _c("external", "To an outside number", "转外线数"), _c("voicemail", "To voicemail", "转留言数"),
               _c("abandoned", "Abandoned", "IVR放弃数"), _c("failed", "Failed", "失败数"),
               _c("self_served_rate", "Self-service rate", "自助服务率", Cell.RATIO),
               _c("abandon_rate", "Abandon rate", "IVR放弃率", Cell.RATIO)),
}
REPORT_COLUMNS[Kind.QUEUE_CALLS] = (
    _c("entered", "Entered the queue", "进入队列时间", Cell.TIME, 19), _c("queue", "Queue", "队列", Cell.TEXT),
    _c("queue_name", "Queue name", "队列名称", Cell.TEXT, 16), _c("caller", "Caller", "主叫号码", Cell.TEXT, 15),
    _c("outcome", "Outcome", "结果", Cell.TEXT, 14), _c("wait", "Wait", "排队时长", Cell.SECONDS),
    _c("in_service_level", "Within target", "目标时间内", Cell.BOOL), _c("agent", "Agent", "工号", Cell.TEXT),
    _c("agent_name", "Name", "姓名", Cell.TEXT, 16), _c("reason", "Reason", "原因", Cell.TEXT),
    _c("target", "Overflowed to", "溢出目标", Cell.TEXT), _c("left_at", "Left the queue", "离开队列时间", Cell.TIME, 19),
    _c("call_id", "Call ID", "呼叫标识", Cell.TEXT, 24))
REPORT_COLUMNS[Kind.AGENT_STATE_LOG] = (
    _c("since", "From", "开始时间", Cell.TIME, 19), _c("agent", "Agent", "工号", Cell.TEXT),
    _c("agent_name", "Name", "姓名", Cell.TEXT, 16), _c("state", "State", "状态", Cell.TEXT),
    _c("reason", "Reason", "原因", Cell.TEXT), _c("until", "Until", "结束时间", Cell.TIME, 19),
    _c("duration", "Duration", "时长", Cell.SECONDS), _c("by", "Changed by", "操作人", Cell.TEXT))
REPORT_COLUMNS[Kind.IVR_JOURNEYS] = (
    _c("started", "Started", "开始时间", Cell.TIME, 19), _c("entry_flow", "Flow", "IVR 流程", Cell.TEXT),
    _c("entry_flow_name", "Flow name", "流程名称", Cell.TEXT, 16), _c("caller", "Caller", "主叫号码", Cell.TEXT, 15),
    _c("did", "Access number", "接入号码", Cell.TEXT, 14), _c("duration", "Time in IVR", "IVR时长", Cell.SECONDS),
    _c("path", "Path", "路径", Cell.TEXT, 20), _c("keys", "Keys", "按键", Cell.TEXT),
    _c("outcome", "Outcome", "结果", Cell.TEXT, 14), _c("last_node", "Last node", "最后节点", Cell.TEXT),
    _c("destination", "Destination", "去向", Cell.TEXT), _c("call_id", "Call ID", "呼叫标识", Cell.TEXT, 24))
CDR_COLUMNS = (
    _c("started", "Started", "开始时间", Cell.TIME, 19), _c("direction", "Direction", "方向", Cell.TEXT),
    _c("caller", "Caller", "主叫号码", Cell.TEXT, 15), _c("callee", "Called", "被叫号码", Cell.TEXT, 15),
    _c("did", "Access number", "接入号码", Cell.TEXT, 14), _c("queue", "Queue", "队列", Cell.TEXT),
    _c("agent", "Agent", "工号", Cell.TEXT), _c("agent_name", "Name", "姓名", Cell.TEXT, 16),
    _c("duration", "Duration", "通话总时长", Cell.SECONDS), _c("wait", "Wait", "排队时长", Cell.SECONDS),
    _c("talk", "Talk time", "通话时长", Cell.SECONDS), _c("hold", "Hold time", "保持时长", Cell.SECONDS),
    _c("disposition", "Result", "结果", Cell.TEXT), _c("missed", "Missed", "漏接类型", Cell.TEXT, 16),
    _c("hangup_side", "Hung up by", "挂断方", Cell.TEXT), _c("ivr_path", "IVR path", "IVR 路径", Cell.TEXT, 18),
    _c("recording", "Recording", "录音", Cell.TEXT, 30), _c("call_id", "Call ID", "呼叫标识", Cell.TEXT, 24),
)
# Which column a name column names (filled from `names`: kind → id → name).
NAMED = {"queue_name": ("queue", "queue"), "agent_name": ("agent", "agent"), "group_name": ("group", "group"),
         "flow_name": ("flow", "flow"), "entry_flow_name": ("flow", "entry_flow")}


def headers(columns: Sequence[Column], language: str, labels: Mapping[str, str] | None = None) -> list[str]:
    return [(labels or {}).get(c.key) or c.label(language) for c in columns]


def _raw(row: Mapping[str, Any], column: Column, names: Mapping[str, Mapping[str, str]]) -> Any:
    named = NAMED.get(column.key)
    if named is not None:
        return names.get(named[0], {}).get(str(row.get(named[1]) or ""), "")
    if "." in column.key:
        outer, inner = column.key.split(".", 1)
        nested = row.get(outer)
        return nested.get(inner) if isinstance(nested, Mapping) else None
    return row.get(column.key)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


class Values:
    """A row's cells as Python values (what openpyxl stores) and as CSV text."""

    def __init__(self, columns: Sequence[Column], zone: ZoneInfo, names: Mapping[str, Mapping[str, str]]) -> None:
        self.columns = tuple(columns)
        self.zone = zone
        self.names = names

    def local(self, epoch: float) -> datetime:
        # Excel has no time zones: the box's local time, as the reports' periods are
        return datetime.fromtimestamp(epoch, self.zone).replace(tzinfo=None)

    def typed(self, row: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for column in self.columns:
            value = _raw(row, column, self.names)
            kind = column.cell
            if kind is Cell.TEXT:
                out.append(_text(value) or None)
                continue
            if kind is Cell.BOOL:
                out.append(value if isinstance(value, bool) else None)
                continue
            number = _number(value)
            if number is None:
                out.append(None)
            elif kind is Cell.SECONDS:
                out.append(timedelta(seconds=number))
            elif kind is Cell.TIME:
                out.append(self.local(number))
            elif kind is Cell.INT and number.is_integer():
                out.append(int(number))
            else:
                out.append(number)
        return out

    def text(self, row: Mapping[str, Any]) -> list[str]:
        out: list[str] = []
        for column, value in zip(self.columns, self.typed(row), strict=True):
            if value is None:
                out.append("")
            elif isinstance(value, timedelta):
                seconds = round(value.total_seconds())
                out.append(f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}")
            elif isinstance(value, datetime):
                out.append(value.strftime("%Y-%m-%d %H:%M:%S"))
            elif isinstance(value, bool):
                out.append("true" if value else "false")
            elif isinstance(value, str):
                out.append("'" + value if value.startswith(FORMULA_STARTS) else value)
            elif column.cell is Cell.RATIO:
                out.append(f"{value:.4f}")
            else:
                out.append(str(value))
        return out


def write_xlsx(out: IO[bytes] | str, columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *,
               header: Sequence[str], zone: ZoneInfo, title: str = "Report",
               names: Mapping[str, Mapping[str, str]] | None = None, progress: Progress | None = None,
               every: int = 1000) -> int:
    """Writes the workbook to `out` (a path or a binary file); the number of data rows. `progress(rows)` is called
    every `every` rows and at the end."""
    from openpyxl import Workbook  # imported here: a box that never exports never loads it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31] or "Report")
    ws.freeze_panes = "A2"
    for i, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(i)].width = max(column.width, min(40.0, len(header[i - 1]) * 2.2))
    bold, fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="305496")
    wrap = Alignment(vertical="center", wrap_text=True)

    def head(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=text)
        cell.font, cell.fill, cell.alignment = bold, fill, wrap
        return cell

    ws.append([head(h) for h in header])
    values = Values(columns, zone, names or {})
    styled = {i: (DURATION_FORMAT if c.cell is Cell.SECONDS else TIME_FORMAT if c.cell is Cell.TIME else RATIO_FORMAT)
              for i, c in enumerate(columns) if c.cell in (Cell.SECONDS, Cell.TIME, Cell.RATIO)}
    count = 0
    for row in rows:
        cells: list[Any] = values.typed(row)
        for i, value in enumerate(cells):
            if value is None:
                continue
            fmt = styled.get(i)
            if fmt is not None:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = fmt
                cells[i] = cell
            elif isinstance(value, str) and value.startswith("="):  # text, never a formula
                cell = WriteOnlyCell(ws, value=value)
                cell.data_type = "s"
                cells[i] = cell
        ws.append(cells)
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    wb.save(out)
    if progress is not None:
        progress(count)
    return count


def csv_chunks(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, header: Sequence[str],
               zone: ZoneInfo, names: Mapping[str, Mapping[str, str]] | None = None, progress: Progress | None = None,
               chunk_rows: int = 500) -> Iterator[bytes]:
    """The CSV file in pieces of `chunk_rows` rows, the first starting with the byte-order mark."""
    values = Values(columns, zone, names or {})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(values.text(row))
        count += 1
        if count % chunk_rows == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
            if progress is not None:
                progress(count)
    yield buf.getvalue().encode("utf-8")
    if progress is not None:
        progress(count)


def write_csv(out: IO[bytes], columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, header: Sequence[str],
              zone: ZoneInfo, names: Mapping[str, Mapping[str, str]] | None = None,
              progress: Progress | None = None) -> int:
    count = 0

    def counted(n: int) -> None:
        nonlocal count
        count = n
        if progress is not None:
            progress(n)

    for chunk in csv_chunks(columns, rows, header=header, zone=zone, names=names, progress=counted):
        out.write(chunk)
    return count


def write(fmt: Format, out: IO[bytes], columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *,
          header: Sequence[str], zone: ZoneInfo, title: str = "Report",
          names: Mapping[str, Mapping[str, str]] | None = None, progress: Progress | None = None) -> int:
    if fmt is Format.XLSX:
        return write_xlsx(out, columns, rows, header=header, zone=zone, title=title, names=names, progress=progress)
    return write_csv(out, columns, rows, header=header, zone=zone, names=names, progress=progress)
