"""Import and export through the API: CSV (UTF-8 with BOM, and GB18030 as Excel saves it) and .xlsx round trips,
a bad row reported by row and field while the good rows go in."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook, load_workbook

from appliance.customers.events import CustomersImported
from appliance.events import Event
from tests.api_client import Client


async def test_csv_round_trip_with_a_bad_row(api: Client) -> None:
    status, _ = await api.call("PUT", "/api/v1/customer-fields/joined", {"label": "Joined", "label_zh": "入会日期",
                                                                        "type": "date"})
    assert status == 200
    status, _ = await api.call("POST", "/api/v1/customers", {"name": "Existing", "numbers": ["13900139000"]})
    assert status == 201
    text = ("姓名,号码,客户经理,VIP,入会日期,ignored\n"
            "张三,138 0013 8000;010-8888-6666,1001,是,2024-03-01,x\n"
            "李四,13900139000,,否,,\n"  # the number is Existing's
            ",13700137000,,,,\n"  # no name
            "王五,13600136000,9999,maybe,03/01/2024,\n"  # three bad fields
            "\n"
            "赵六,13500135000,,0,,\n")
    status, dry = await api.call("POST", "/api/v1/customers/import?dry_run=true", raw=text.encode("utf-8-sig"))
    assert status == 200, dry
    assert (dry["rows"], dry["created"], dry["failed"], dry["dry_run"]) == (5, 2, 3, True)
    status, count = await api.call("GET", "/api/v1/customers")
    assert count["total"] == 1  # a dry run writes nothing
    seen: list[Event] = []
    api.appliance.core.bus.subscribe(seen.append, {"customers.imported"})
    status, result = await api.call("POST", "/api/v1/customers/import?format=csv", raw=text.encode("gb18030"))
    assert status == 200, result
    assert [(e.created, e.failed, e.by) for e in seen if isinstance(e, CustomersImported)] == [(2, 3, "admin")]
    assert (result["rows"], result["created"], result["updated"], result["failed"]) == (5, 2, 0, 3)
    problems = {(e["row"], e["field"]) for e in result["errors"]}
    assert problems == {(3, "numbers"), (4, "name"), (5, "account_manager"), (5, "vip"), (5, "joined")}
    assert any("Existing" in e["message"] or "belongs to customer" in e["message"] for e in result["errors"])
    status, pop = await api.call("GET", "/api/v1/customers/lookup?number=01088886666")
    zhang = pop["customer"]
    assert (zhang["name"], zhang["account_manager"], zhang["vip"], zhang["fields"]) == (
        "张三", "1001", True, {"joined": "2024-03-01"})

    response = await api.fetch("/api/v1/customers/export?format=csv&lang=zh")
    assert response.status == 200 and response.body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    rows = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "姓名", "号码"] and rows[0][-1] == "入会日期"
    assert {r[1] for r in rows[1:]} == {"Existing", "张三", "赵六"}
    # the export, edited and imported again, changes the customers it names by id
    edited = [rows[0]] + [[*r[:7], r[7] + " (edited)", *r[8:]] for r in rows[1:]]
    out = io.StringIO()
    csv.writer(out).writerows(edited)
    status, again = await api.call("POST", "/api/v1/customers/import", raw=out.getvalue().encode("utf-8-sig"))
    assert status == 200 and (again["created"], again["updated"], again["failed"]) == (0, 3, 0), again
    status, pop = await api.call("GET", "/api/v1/customers/lookup?number=13500135000")
    assert pop["customer"]["note"] == "(edited)"  # stripped, as the API strips text


async def test_xlsx_round_trip(api: Client) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "numbers", "area", "blacklisted", "note"])
    for i in range(300):
        sheet.append([f"Customer {i}", f"1380000{i:04d}", "010", i % 100 == 0, None])
    sheet.append(["Bad number", "12", None, None, None])
    data = io.BytesIO()
    book.save(data)
    status, result = await api.call("POST", "/api/v1/customers/import", raw=data.getvalue())
    assert status == 200, result
    assert (result["created"], result["failed"]) == (300, 1)
    assert result["errors"] == [{"row": 302, "field": "numbers", "message": result["errors"][0]["message"],
                                 "message_zh": result["errors"][0]["message_zh"]}]
    status, found = await api.call("GET", "/api/v1/customers?blacklisted=true")
    assert found["total"] == 3
    response = await api.fetch("/api/v1/customers/export?format=xlsx")
    assert response.status == 200
    exported = load_workbook(io.BytesIO(response.body), read_only=True)
    rows = list(exported.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "name", "numbers") and len(rows) == 301
    assert {(r[1], r[2]) for r in rows[1:]} == {(f"Customer {i}", f"1380000{i:04d}") for i in range(300)}
