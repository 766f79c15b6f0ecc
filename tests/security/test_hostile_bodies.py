"""Hostile request bodies against the real `appliance run`: the unauthenticated routes first (set-up, login),
then a configuration route and the uploads. Each gets the documented 400/413/415 naming its rule, never a
500, and the process keeps serving with no traceback in its log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from appliance.security.request_limits import DEFAULT_JSON, DEFAULT_UPLOAD
from tests.e2e.harness import ADMIN_PASSWORD, RunningAppliance
from tests.security.hostile import running, send, send_json, send_raw

pytestmark = [pytest.mark.slow]

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAppliance]:
    """A box whose admin password is not set yet: `POST /api/v1/setup` is open."""
    yield from running(tmp_path_factory, set_up=False)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def refused(answer: tuple[int, Any], status: int, rule: str) -> dict[str, Any]:
    code, data = answer
    assert code == status, (code, data)
    assert isinstance(data, dict) and data["details"]["rule"] == rule, data
    assert data["message"] and data["message_zh"]
    return data


def hostile_cases(port: int, path: str, headers: dict[str, str]) -> None:
    """Every body rule on one route."""
    hdr = {**JSON, **headers}
    # thousands of nested arrays: the decoder's own recursion limit, reported as depth
    refused(send(port, "POST", path, nested(100_000), headers=hdr), 400, "max_depth")
    # deeper than the limit, though well within what the decoder could take
    data = refused(send(port, "POST", path, nested(DEFAULT_JSON.max_depth + 1), headers=hdr), 400, "max_depth")
    assert data["details"]["limit"] == DEFAULT_JSON.max_depth
    deep_ok = {"name": "x", "password": "y", "extra": json.loads(nested(DEFAULT_JSON.max_depth - 1))}
    code, _ = send(port, "POST", path, json.dumps(deep_ok).encode(), headers=hdr)
    assert code < 500 and code not in (400, 413, 415)
    # bodies over the size limit, sent or only announced
    big = json.dumps({"name": "x", "password": "p" * (DEFAULT_JSON.max_bytes + 10)}).encode()
    data = refused(send(port, "POST", path, big, headers=hdr), 413, "max_bytes")
    assert data["error_id"] == "body_too_large" and data["details"]["limit"] == DEFAULT_JSON.max_bytes
    announced = {**hdr, "Content-Length": str(10 * DEFAULT_JSON.max_bytes)}
    refused(send(port, "POST", path, b'{"name": ', headers=announced, timeout=10), 413, "max_bytes")
    # one string, one array or one object too long
    def post(doc: Any) -> tuple[int, Any]:
        return send(port, "POST", path, json.dumps(doc).encode(), headers=hdr)

    refused(post({"name": "x", "password": "p" * (DEFAULT_JSON.max_string + 1)}), 400, "max_string")
    refused(post({"name": "x", "password": "y", "n": [0] * (DEFAULT_JSON.max_items + 1)}), 400, "max_items")
    refused(post({f"k{i}": 0 for i in range(DEFAULT_JSON.max_items + 1)}), 400, "max_items")
    # not JSON at all, or JSON under another type
    refused(send(port, "POST", path, b'{"name": "x", "pass', headers=hdr), 400, "json")
    refused(send(port, "POST", path, b"\xff\xfe\x00garbage", headers=hdr), 400, "json")
    body = json.dumps({"name": "x", "password": "y"}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/xml"):
        data = refused(send(port, "POST", path, body, headers={**headers, "Content-Type": content_type}),
                       415, "content_type")
        assert data["details"]["accepted"] == ["application/json"]


def test_a_chunked_body_is_counted_as_it_arrives(box: RunningAppliance) -> None:
    """No length announced: the body is refused when what arrived passes the limit, not after all of it."""
    head = "POST /api/v1/login HTTP/1.1\nHost: box\nContent-Type: application/json\nTransfer-Encoding: chunked"
    chunk = b"[" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (DEFAULT_JSON.max_bytes // len(chunk) + 4) + [b"0\r\n\r\n"]
    refused(send_raw(box.http_port, head, parts), 413, "max_bytes")
    alive(box)


def alive(box: RunningAppliance) -> None:
    assert box.proc.poll() is None
    code, health = send(box.http_port, "GET", "/api/v1/health")
    assert code == 200 and health["status"] in ("ok", "degraded")


def test_the_setup_route_refuses_hostile_bodies_by_rule(box: RunningAppliance) -> None:
    hostile_cases(box.http_port, "/api/v1/setup", {})
    alive(box)


def test_the_login_route_refuses_hostile_bodies_by_rule(box: RunningAppliance) -> None:
    hostile_cases(box.http_port, "/api/v1/login", {})
    alive(box)


def test_the_edge_refusals_are_in_the_openapi_document(box: RunningAppliance) -> None:
    _, doc = send(box.http_port, "GET", "/api/v1/openapi.json")
    for path, method in (("/api/v1/login", "post"), ("/api/v1/setup", "post"), ("/api/v1/skills", "post"),
                         ("/api/v1/settings", "patch")):
        assert {"400", "413", "415"} <= set(doc["paths"][path][method]["responses"]), path
    upload = doc["paths"]["/api/v1/prompts/{language}/{name}"]["put"]["responses"]
    assert {"400", "413"} <= set(upload) and "415" not in upload


@pytest.fixture(scope="module")
def token(box: RunningAppliance) -> str:
    code, _ = send_json(box.http_port, "POST", "/api/v1/setup", {"token": box.setup_token,
                                                                 "password": ADMIN_PASSWORD})
    assert code == 200
    code, session = send_json(box.http_port, "POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert code == 200
    return str(session["token"])


def test_a_configuration_route_refuses_hostile_bodies_by_rule(box: RunningAppliance, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    hostile_cases(box.http_port, "/api/v1/skills", auth)
    # the same body without a session is refused before a byte of it is read
    announced = {**JSON, "Content-Length": str(10 * DEFAULT_JSON.max_bytes)}
    code, data = send(box.http_port, "POST", "/api/v1/skills", b"{", headers=announced, timeout=10)
    assert code == 401 and data["error_id"] == "unauthorized"
    # and a good body still works
    code, data = send_json(box.http_port, "POST", "/api/v1/skills", {"id": "hostile", "name": "After the storm"},
                           token=token)
    assert code == 201, data
    alive(box)


def test_uploads_refuse_broken_multipart_forms_and_oversized_files(box: RunningAppliance, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    port = box.http_port
    for path in ("/api/v1/prompts/zh-CN/welcome", "/api/v1/staff/import?dry_run=true"):
        method = "PUT" if "prompts" in path else "POST"
        cases = [
            ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--x--\r\n"),
            ("multipart/form-data; boundary=", b"--\r\n\r\n"),
            ("multipart/form-data; boundary=" + "b" * 71, b"--b\r\n"),
            ("multipart/form-data; boundary=zzz", b"no parts here at all, only bytes"),
            ("multipart/form-data; boundary=zzz", b"--zzz\r\nContent-Disposition: garbage\r\n"),
        ]
        for content_type, body in cases:
            code, data = send(port, method, path, body, headers={**auth, "Content-Type": content_type})
            assert code == 400, (path, content_type, code, data)
            assert data["error_id"] == "bad_upload" and data["details"]["rule"] == "multipart"
        # announced too big: refused at once, with only the start of it sent
        head = (f"{method} {path} HTTP/1.1\nHost: box\nAuthorization: Bearer {token}\n"
                f"Content-Type: application/octet-stream\nContent-Length: {DEFAULT_UPLOAD.max_bytes + 1}")
        data = refused(send_raw(port, head, [b"0" * 65536]), 413, "max_bytes")
        assert data["details"]["limit"] == DEFAULT_UPLOAD.max_bytes
    # a well-formed form still reaches the route (which judges the file itself)
    form = (b"--zzz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"staff.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\nemployee_no,name\r\n7001,Form Upload\r\n--zzz--\r\n")
    code, data = send(port, "POST", "/api/v1/staff/import?dry_run=true", form,
                      headers={**auth, "Content-Type": "multipart/form-data; boundary=zzz"})
    assert code == 200, data
    alive(box)
    assert "Failed when parsing form" not in box.log.read_text()
