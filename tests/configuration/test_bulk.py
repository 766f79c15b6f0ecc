"""Bulk import and export of staff, extensions, the VIP list and the blacklist, through the REST API."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from appliance.configuration.bulk import MAX_BYTES, MAX_ROWS, MAX_UNPACKED, XLSX_TYPE
from appliance.domain.kinds import all_kinds
from appliance.store.config_store import ConfigStore
from tests.api_client import Client

STAFF_HEADER = "employee_no,name,role,department,work_group,skills,level,extension,pin\n"


async def _post(client: Client, path: str, data: bytes, content_type: str = "text/csv",
                token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token or client.token}", "Content-Type": content_type}
    _, response = await client.appliance.http_app.asgi_client.post(path, content=data, headers=headers)
    return response.status, response.json


async def _staff(client: Client) -> dict[str, dict[str, Any]]:
    status, data = await client.call("GET", "/api/v1/staff?limit=1000")
    assert status == 200
    return {s["employee_no"]: s for s in data["items"]}


async def _imports(client: Client) -> list[dict[str, Any]]:
    _, data = await client.call("GET", "/api/v1/audit?kind=staff")
    return [e for e in data["items"] if e["action"] == "import"]


async def test_a_staff_csv_with_one_bad_row_is_refused_naming_the_row_and_nothing_is_imported(admin: Client) -> None:
    before = await _staff(admin)
    text = (STAFF_HEADER
            + "2001,张三,agent,service,sales-team,sales:7;support,5,,1234\n"
            + "2002,李四,agent,service,sales-team,,12,,\n"  # level 12: the rule is 0 to 9
            + "2003,王五,agent,service,no-such-team,,3,,\n")  # a work group that does not exist
    status, data = await _post(admin, "/api/v1/staff/import", text.encode())
    assert status == 422, data
    assert data["error_id"] == "import_refused"
    rows = data["details"]["rows"]
    assert [(r["row"], r["field"]) for r in rows] == [(3, "level"), (4, "work_group")]
    assert all(r["message"] and r["message_zh"] for r in rows)
    assert "3" in data["message"] and "第 3, 4 行" in data["message_zh"]
    assert await _staff(admin) == before  # not even the good row 2
    assert await _imports(admin) == []


async def test_a_good_staff_csv_creates_new_staff_and_updates_existing_ones(admin: Client) -> None:
    before = await _staff(admin)
    text = (STAFF_HEADER
            + "2001,张三,agent,service,sales-team,sales:7;support,5,,1234\n"
            + "\n"  # blank lines between blocks are skipped
            + "1001,改名的座席,agent,service,sales-team,sales:9,6,1001,\n")
    status, data = await _post(admin, "/api/v1/staff/import?dry_run=true", text.encode())
    assert status == 200, data
    assert (data["created"], data["updated"], data["dry_run"]) == (1, 1, True)
    assert "2001" not in await _staff(admin)  # a dry run changes nothing
    status, data = await _post(admin, "/api/v1/staff/import", text.encode())
    assert status == 200, data
    assert data["keys"] == {"created": ["2001"], "updated": ["1001"]}
    staff = await _staff(admin)
    new = staff["2001"]
    assert new["name"] == "张三" and new["status"] == "active" and new["has_pin"] is True
    assert new["skills"] == [{"skill": "sales", "level": 7}, {"skill": "support", "level": 5}]
    assert len(new["employment"]) == 1
    old = staff["1001"]
    assert old["name"] == "改名的座席" and old["skills"] == [{"skill": "sales", "level": 9}]
    assert old["has_pin"] is True  # an empty PIN cell keeps the PIN
    assert old["locality"] == before["1001"]["locality"] != ""  # a column not in the file is kept as it was
    entry = (await _imports(admin))[0]
    assert entry["actor"] == "admin" and entry["after"]["created"] == 1 and entry["after"]["updated"] == 1
    # the store on disk holds it too (the write was the one atomic replacement)
    on_disk = ConfigStore.open(admin.appliance.run.data_dir, all_kinds(), read_only=True)
    assert on_disk.get("staff", "2001").name == "张三" and on_disk.get("staff", "1001").name == "改名的座席"


async def test_columns_not_of_the_kind_are_named_in_the_error(admin: Client) -> None:
    status, data = await _post(admin, "/api/v1/staff/import", b"employee_no,name,colour\n2001,x,red\n")
    assert status == 422 and data["error_id"] == "bad_columns"
    assert data["details"]["rows"][0]["row"] == 1 and data["details"]["rows"][0]["field"] == "colour"
    assert data["details"]["columns"]["unknown"] == ["colour"]
    status, data = await _post(admin, "/api/v1/staff/import", b"name\nx\n")
    assert status == 422 and data["details"]["rows"][0]["field"] == "employee_no"
    # status and employment change only through leave/reinstate; hashes are never columns
    status, data = await _post(admin, "/api/v1/staff/import", b"employee_no,pin_hash\n1001,x\n")
    assert status == 422 and data["details"]["columns"]["unknown"] == ["pin_hash"]


async def test_duplicate_keys_in_one_file_are_refused(admin: Client) -> None:
    text = "number,name\n3001,A\n3001,B\n"
    status, data = await _post(admin, "/api/v1/extensions/import", text.encode())
    assert status == 422
    assert data["details"]["rows"][0]["row"] == 3 and "row 2" in data["details"]["rows"][0]["message"]


async def test_a_gb18030_csv_from_chinese_excel_is_read(admin: Client) -> None:
    text = "employee_no,name,department\r\n2101,欧阳娜娜,service\r\n2102,司马𠀀,service\r\n"
    status, data = await _post(admin, "/api/v1/staff/import", text.encode("gb18030"))
    assert status == 200, data
    staff = await _staff(admin)
    assert staff["2101"]["name"] == "欧阳娜娜" and staff["2102"]["name"] == "司马𠀀"
    # UTF-8 with Excel's BOM too
    status, data = await _post(admin, "/api/v1/staff/import", ("\ufeff" + text.replace("2101", "2103")).encode())
    assert status == 200, data
    assert (await _staff(admin))["2103"]["name"] == "欧阳娜娜"


async def test_hostile_input_is_refused_with_a_4xx(admin: Client) -> None:
    status, data = await _post(admin, "/api/v1/staff/import", b"employee_no,name\n2001,\xff\xff\n")
    assert status == 400 and data["error_id"] == "bad_encoding"
    status, data = await _post(admin, "/api/v1/staff/import", "employee_no,name\n".encode("utf-16"))
    assert status == 400 and data["error_id"] == "bad_encoding"
    big = b"employee_no,name\n" + b"2001,x\n" * (MAX_BYTES // 7 + 1)
    status, data = await _post(admin, "/api/v1/staff/import", big)
    assert status == 413 and data["error_id"] == "too_large"
    many = b"employee_no\n" + b"1\n" * (MAX_ROWS + 1)  # small in bytes, too long in rows
    status, data = await _post(admin, "/api/v1/staff/import", many)
    assert status == 413 and "10000" in data["message"]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (MAX_UNPACKED + 1))  # ~64 KB packed
    assert len(bomb.getvalue()) < MAX_BYTES
    status, data = await _post(admin, "/api/v1/staff/import", bomb.getvalue(), XLSX_TYPE)
    assert status == 413 and data["error_id"] == "too_large"
    status, data = await _post(admin, "/api/v1/staff/import", b"PK\x03\x04 not really a zip", XLSX_TYPE)
    assert status == 400 and data["error_id"] == "bad_file"
    status, data = await _post(admin, "/api/v1/staff/import", b"")
    assert status == 422
    status, data = await _post(admin, "/api/v1/queues/import", b"id,name\nq,Q\n")
    assert status in (404, 405)  # not a bulk kind: no such route
    status, data = await admin.call("GET", "/api/v1/staff/export?format=pdf")
    assert status == 422 and data["details"]["fields"][0]["field"] == "format"


async def test_only_admins_import_and_export(admin: Client) -> None:
    await admin.call("POST", "/api/v1/users", {"name": "sup2", "role": "supervisor", "password": "super-password"})
    _, sup = await admin.call("POST", "/api/v1/login", {"name": "sup2", "password": "super-password"})
    status, _ = await _post(admin, "/api/v1/staff/import", STAFF_HEADER.encode(), token=sup["token"])
    assert status == 403
    status, _ = await admin.call("GET", "/api/v1/staff/export", token=sup["token"])
    assert status == 403


async def test_export_guards_against_formulas_and_round_trips(admin: Client) -> None:
    await admin.call("POST", "/api/v1/vip_list", {"number": "+8613800138000", "name": "=HYPERLINK(\"x\")",
                                                  "queues": ["sales", "support"], "note": "@SUM(A1)"})
    response = await admin.fetch("/api/v1/vip_list/export?format=csv")
    assert response.status == 200
    assert response.headers["content-disposition"] == 'attachment; filename="vip_list.csv"'
    text = response.body.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["number", "name", "queues", "note"]
    assert rows[1] == ["'+8613800138000", "'=HYPERLINK(\"x\")", "sales;support", "'@SUM(A1)"]
    status, data = await _post(admin, "/api/v1/vip_list/import", response.body)
    assert status == 200 and data["updated"] == 1, data
    _, entry = await admin.call("GET", "/api/v1/vip_list/+8613800138000")
    assert entry["name"] == "=HYPERLINK(\"x\")" and entry["queues"] == ["sales", "support"]


async def test_an_xlsx_export_imports_back_and_an_edited_sheet_updates(admin: Client) -> None:
    before = await _staff(admin)
    response = await admin.fetch("/api/v1/staff/export?format=xlsx")
    assert response.status == 200 and response.headers["content-type"] == XLSX_TYPE
    sheet = load_workbook(io.BytesIO(response.body)).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert header[0] == "employee_no" and "pin" not in header and "pin_hash" not in header
    assert "status" not in header and len(rows) == 1 + len(before)
    status, data = await _post(admin, "/api/v1/staff/import", response.body, XLSX_TYPE)
    assert status == 200 and data["updated"] == len(before) and data["created"] == 0, data
    assert await _staff(admin) == before  # an export imported back changes nothing
    # a sheet written by another program: numbers as numbers, a new row, the name edited
    book = Workbook()
    ws = book.active
    ws.append(["employee_no", "name", "level", "skills"])
    ws.append([1002, "新名字", 8, "support:3"])
    ws.append([2201, "新员工", 2, None])
    buffer = io.BytesIO()
    book.save(buffer)
    _, response2 = await admin.appliance.http_app.asgi_client.post(
        "/api/v1/staff/import", headers={"Authorization": f"Bearer {admin.token}"},
        files={"file": ("staff.xlsx", buffer.getvalue(), XLSX_TYPE)})
    assert response2.status == 200, response2.json
    staff = await _staff(admin)
    assert staff["1002"]["name"] == "新名字" and staff["1002"]["level"] == 8
    assert staff["1002"]["department"] == before["1002"]["department"]  # not a column here: kept
    assert staff["2201"]["name"] == "新员工" and staff["2201"]["skills"] == []


@pytest.mark.parametrize("kind", ["extensions", "blacklist"])
async def test_every_bulk_kind_round_trips_through_csv(admin: Client, kind: str) -> None:
    if kind == "blacklist":
        await admin.call("POST", "/api/v1/blacklist", {"number": "4001234567", "match": "prefix", "note": "spam"})
    response = await admin.fetch(f"/api/v1/{kind}/export?format=csv")
    assert response.status == 200
    _, listing = await admin.call("GET", f"/api/v1/{kind}?limit=1000")
    status, data = await _post(admin, f"/api/v1/{kind}/import", response.body)
    assert status == 200 and data["updated"] == listing["total"], data
    _, after = await admin.call("GET", f"/api/v1/{kind}?limit=1000")
    assert after["items"] == listing["items"]


async def test_extension_passwords_are_write_only_and_checked(admin: Client) -> None:
    text = "number,name,password\n3101,Desk,short\n3102,Desk 2,a-good-passw0rd\n"
    status, data = await _post(admin, "/api/v1/extensions/import", text.encode())
    assert status == 422 and data["details"]["rows"][0]["row"] == 2
    assert data["details"]["rows"][0]["field"] == "password"
    status, data = await _post(admin, "/api/v1/extensions/import", text.replace("short", "").encode())
    assert status == 200, data
    _, ext = await admin.call("GET", "/api/v1/extensions/3102")
    assert ext["has_password"] is True
    response = await admin.fetch("/api/v1/extensions/export")
    assert b"password" not in response.body.split(b"\n")[0] and b"a-good-passw0rd" not in response.body


async def test_a_crash_in_the_middle_of_the_write_leaves_the_store_as_it_was(
        admin: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    path = admin.appliance.run.data_dir / "config.json"
    before_file = path.read_bytes()
    before = await _staff(admin)

    def power_cut(src: object, dst: object) -> None:
        raise OSError("power cut before the rename")

    # the new file is written and fsync'd in full; the crash comes before it replaces the old one
    monkeypatch.setattr("appliance.store.atomic.os.replace", power_cut)
    text = STAFF_HEADER + "2001,张三,agent,service,sales-team,,5,,\n1001,改名,agent,service,sales-team,,5,,\n"
    status, _ = await _post(admin, "/api/v1/staff/import", text.encode())
    assert status >= 500
    monkeypatch.undo()
    assert path.read_bytes() == before_file
    assert await _staff(admin) == before  # memory did not move ahead of the disk either
    ConfigStore.open(admin.appliance.run.data_dir, all_kinds(), read_only=True)  # and it still opens
    assert await _imports(admin) == []
    status, data = await _post(admin, "/api/v1/staff/import", text.encode())
    assert status == 200 and data["created"] == 1, data
