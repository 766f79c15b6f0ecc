"""Admin console speed on a box configured like a large site: 2,000 staff, 500 extensions, 100 queues, 50 IVR flows.

Starts the real `appliance run`, loads that configuration through the configuration import (one atomic
write), then:

- asks for every list page (plain, searched, sorted, a later page, the htmx rows fragment) and every form
  (new and edit) `--rounds` times each, one at a time over loopback, and reports each page's p95 — the time
  the server takes plus a loopback round trip, so a little above the server's own time;
- opens the admin home in Chromium (the system's, through Playwright) and reads its first contentful
  paint from the Paint Timing API, best of `--paints` cold loads;
- sums the compressed size of the assets the home page loads.

    python bench/web_pages.py                     # default sizes, about a minute
    python bench/web_pages.py --staff 500 --rounds 10

The last line is one JSON object: {"staff": ..., "page_p95_ms": ..., "first_paint_ms": ..., ...}.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import ADMIN_PASSWORD, RunningAppliance, start_appliance  # noqa: E402
from tests.web.conftest import CHROMIUM_ARGS, _real_chromium  # noqa: E402
from web_ui.labels import KIND_TITLES  # noqa: E402

KEYS = {"staff": "employee_no", "extensions": "number", "dids": "number", "vip_list": "number",
        "blacklist": "number", "users": "name", "schedules": "name", "ivr_flows": "name", "pause_reasons": "code"}


def big_configuration(base: dict[str, Any], staff: int, extensions: int, queues: int, flows: int) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    ents = doc["entities"]
    groups = [f"g{i:02d}" for i in range(20)]
    ents["work_groups"] += [{"id": g, "name": f"Group {g}"} for g in groups]
    ents["extensions"] += [{"number": str(3000 + i), "name": f"Desk {i}"} for i in range(extensions)]
    ents["staff"] += [
        {"employee_no": str(100000 + i), "name": f"坐席 {i}", "role": "agent", "work_group": groups[i % 20],
         "extension": str(3000 + i) if i < extensions else None, "level": i % 10}
        for i in range(staff)
    ]
    ents["queues"] += [
        {"id": f"q{i:03d}", "name": f"Queue {i}", "members": [str(100000 + j) for j in range(i, staff, 100)][:20]}
        for i in range(queues)
    ]
    template = next(f for f in ents["ivr_flows"] if f["name"] == "main")
    for i in range(flows):
        flow = copy.deepcopy(template)
        flow["name"] = f"flow{i:02d}"
        ents["ivr_flows"].append(flow)
    return doc


def request(port: int, path: str, cookie: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie, "Accept": "text/html", **(headers or {})})
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    conn.close()
    return response.status, body, elapsed


def page_paths(box: RunningAppliance) -> list[str]:
    paths = ["/", "/admin/settings", "/admin/audit", "/system/health", "/system/about"]
    for kind in KIND_TITLES:
        base = f"/admin/{kind}"
        paths += [base, f"{base}/rows?q=1", f"{base}/rows?sort=-name" if kind not in ("blacklist",) else f"{base}/rows",
                  f"{base}/rows?offset=1000", f"{base}/new"]
        status, listing = box.api("GET", f"/api/v1/{kind}?limit=1&offset=10")
        if status == 200 and listing["items"]:
            paths.append(f"{base}/item/{listing['items'][0][KEYS.get(kind, 'id')]}")
    return paths


def first_paint(base: str, cookie_value: str, attempts: int) -> float:
    from playwright.sync_api import sync_playwright

    best = float("inf")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_real_chromium(), headless=True, args=CHROMIUM_ARGS)
        for _ in range(attempts):
            context = browser.new_context(base_url=base, locale="zh-CN")
            context.add_cookies([{"name": "appliance_session", "value": cookie_value, "url": base}])
            page = context.new_page()
            page.goto("/")
            page.wait_for_load_state("load")
            fcp = page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
            if fcp:
                best = min(best, float(fcp))
            context.close()
        browser.close()
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--extensions", type=int, default=500)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--flows", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--paints", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        box = start_appliance(Path(tmp))
        try:
            _, base = box.api("GET", "/api/v1/config/export")
            doc = big_configuration(base, args.staff, args.extensions, args.queues, args.flows)
            started = time.perf_counter()
            status, result = box.api("POST", "/api/v1/config/import", doc)
            assert status == 200, result
            print(f"imported {args.staff} staff, {args.extensions} extensions, {args.queues} queues, "
                  f"{args.flows} flows in {time.perf_counter() - started:.1f} s")
            _, session = box.api("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
            cookie = f"appliance_session={session['token']}"
            timings: dict[str, list[float]] = {}
            for path in page_paths(box):
                for _ in range(args.rounds):
                    code, body, ms = request(box.http_port, path, cookie)
                    assert code == 200, (path, code, body[:300])
                    timings.setdefault(path, []).append(ms)
            p95 = {path: statistics.quantiles(ms, n=20)[-1] for path, ms in timings.items()}
            worst = sorted(p95.items(), key=lambda kv: -kv[1])
            for path, ms in worst[:8]:
                print(f"  p95 {ms:7.1f} ms  {path}")
            print(f"{len(p95)} pages, {sum(len(v) for v in timings.values())} requests; worst p95 {worst[0][1]:.1f} ms")
            _, home, _ = request(box.http_port, "/", cookie)
            assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', home)
            total = 0
            for asset in assets:
                _, packed, _ = request(box.http_port, asset.decode(), cookie, {"Accept-Encoding": "gzip"})
                total += len(packed)
            print(f"home page assets: {len(assets)} files, {total / 1024:.0f} KB compressed")
            paint = first_paint(f"http://127.0.0.1:{box.http_port}", session["token"], args.paints)
            print(f"admin home first contentful paint: {paint:.0f} ms (best of {args.paints} cold loads)")
        finally:
            box.stop()
    print(json.dumps({"staff": args.staff, "extensions": args.extensions, "queues": args.queues, "flows": args.flows,
                      "pages": len(p95), "page_p95_ms": round(worst[0][1], 1),
                      "page_p95_median_ms": round(statistics.median(p95.values()), 1),
                      "first_paint_ms": round(paint, 1), "home_assets_kb": round(total / 1024, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
