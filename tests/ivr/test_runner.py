"""The async runner against a real local HTTP server (self-service success, timeout, bad JSON) and real
espeak-ng speech, with call control played by a callback that finishes every prompt at once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from appliance.clock import SystemClock
from appliance.events import Event
from appliance.ivr.actions import Action, Hangup, HttpRequest, Play, TransferToExtension, TransferToQueue
from appliance.ivr.inputs import CallArrived, PromptFinished
from appliance.ivr.interpreter import IvrSession
from appliance.ivr.journey import ExitReason, StepKind
from appliance.ivr.library import FlowRepository
from appliance.ivr.models import (
    ExtensionNode,
    Flow,
    HangupNode,
    HttpHeader,
    HttpNode,
    MenuNode,
    MenuOption,
    PlayNode,
    QueueNode,
    ResultMapping,
)
from appliance.ivr.runner import IvrRunner, perform_http
from appliance.prompts.store import PromptStore
from appliance.prompts.tts import EspeakTts


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/whoami":
            if self.headers.get("Authorization") != "Bearer s3cret":
                self._send(401, b'{"error": "unauthorised"}')
                return
            self._send(200, json.dumps({"caller": self.headers.get("X-Caller")}).encode())
        elif url.path == "/balance":
            account = parse_qs(url.query)["account"][0]
            doc = {"data": {"account": account, "balance": 88.5, "owner": "张三"}}
            self._send(200, json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        elif url.path == "/slow":
            time.sleep(2.0)
            self._send(200, b'{"data": {"balance": 1}}')
        elif url.path == "/bad":
            self._send(200, b"<html><body>maintenance</body></html>", "text/html")
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        request = json.loads(self.rfile.read(length))
        self._send(200, json.dumps({"ticket": {"id": f"T-{request['account']}"}}).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The slow endpoint writes after the runner has given up and closed: expected, not a failure.
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _lookup_flow(url: str, timeout: float = 0.5, method: str = "GET", body: str = "") -> Flow:
    return Flow(
        name="selfservice",
        start="lookup",
        nodes=(
            HttpNode(
                id="lookup",
                method=method,  # type: ignore[arg-type]
                url=url,
                body=body,
                timeout_seconds=timeout,
                results=(ResultMapping(path="data.balance", variable="balance"),),
                say_tts="您的余额是${balance}元",
                next="done",
                fallback="sorry",
            ),
            HangupNode(id="done", prompt="goodbye"),
            PlayNode(id="sorry", prompt="service_unavailable", next="agent"),
            QueueNode(id="agent", queue="support"),
        ),
    )


async def _run(flow: Flow, store: PromptStore | None = None, **variables: str) -> tuple[list[Action], IvrSession,
                                                                                      list[Event]]:
    delivered: list[Action] = []
    events: list[Event] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    session = IvrSession(FlowRepository([flow]).snapshot(), SystemClock())
    async with httpx.AsyncClient() as client:
        holder: list[IvrRunner] = []

        def deliver(action: Action) -> None:
            delivered.append(action)
            if isinstance(action, Play):
                loop.call_soon(holder[0].feed, PromptFinished(play_id=action.play_id))
            if action.final:
                done.set()

        runner = IvrRunner(session, http=client, deliver=deliver, speak=store.speak if store else None,
                           publish=events.append)
        holder.append(runner)
        await runner.start(CallArrived(call_id="r1", caller="13800138000", did="8000", flow=flow.name,
                                       variables=variables))
        await asyncio.wait_for(done.wait(), 10)
        await runner.stop()
    return delivered, session, events


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return PromptStore(tmp_path / "prompts", tts=EspeakTts())


async def test_success_maps_json_and_speaks_it_with_espeak(server: str, store: PromptStore) -> None:
    delivered, session, events = await _run(_lookup_flow(server + "/balance?account=${account}"), store,
                                            account="A-1")
    assert session.variables["balance"] == "88.5"
    plays = [a for a in delivered if isinstance(a, Play)]
    spoken = plays[0].prompts[0]
    assert spoken == PromptStore.tts_key("您的余额是88.5元", "zh-CN")
    assert store.resolve(spoken, "zh-CN").stat().st_size > 1000  # real synthesized audio in the cache
    assert plays[1].prompts == ("goodbye",)
    assert isinstance(delivered[-1], Hangup)
    assert session.summary is not None and session.summary.exit_reason is ExitReason.SELF_SERVED
    assert [e.topic for e in events][-1] == "ivr.ended"
    assert any(e.topic == "ivr.step" and e.to_dict()["kind"] == "http_ok" for e in events)


async def test_timeout_takes_fallback(server: str) -> None:
    started = time.monotonic()
    delivered, session, _ = await _run(_lookup_flow(server + "/slow", timeout=0.5))
    assert time.monotonic() - started < 1.8  # the runner gave up at 0.5 s, not when the server answered
    assert [a.prompts for a in delivered if isinstance(a, Play)] == [("service_unavailable",)]
    assert isinstance(delivered[-1], TransferToQueue)
    failed = [st for st in session.journey if st.kind is StepKind.HTTP_FAILED]
    assert [st.detail for st in failed] == ["timeout"]


async def test_bad_json_takes_fallback(server: str) -> None:
    delivered, session, _ = await _run(_lookup_flow(server + "/bad"))
    assert session.variables["http_error"] == "bad_json"
    assert isinstance(delivered[-1], TransferToQueue)


async def test_unreachable_server_takes_fallback(server: str) -> None:
    # A port that was free a moment ago: connection refused.
    probe = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = probe.server_address[1]
    probe.server_close()
    delivered, session, _ = await _run(_lookup_flow(f"http://127.0.0.1:{port}/balance"))
    assert session.variables["http_error"] == "ConnectError"
    assert isinstance(delivered[-1], TransferToQueue)


async def test_post_body_template(server: str) -> None:
    flow = Flow(
        name="ticket",
        start="open",
        nodes=(
            HttpNode(id="open", method="POST", url=server + "/tickets", body='{"account": "${account}"}',
                     results=(ResultMapping(path="ticket.id", variable="ticket"),), next="bye", fallback="bye"),
            HangupNode(id="bye"),
        ),
    )
    _delivered, session, _ = await _run(flow, account='a"b')
    assert session.variables["ticket"] == 'T-a"b'


async def test_headers_are_sent_and_401_takes_fallback(server: str) -> None:
    def flow(token: str) -> Flow:
        return Flow(
            name="auth",
            start="ask",
            nodes=(
                HttpNode(id="ask", url=server + "/whoami",
                         headers=(HttpHeader(name="Authorization", value=token),
                                  HttpHeader(name="X-Caller", value="${caller}\r\nX-Evil: 1")),
                         results=(ResultMapping(path="caller", variable="seen"),), next="ok", fallback="no"),
                ExtensionNode(id="ok", extension="ok"),
                ExtensionNode(id="no", extension="no"),
            ),
        )

    delivered, session, _ = await _run(flow("Bearer ${token}"), token="s3cret")
    assert delivered[-1] == TransferToExtension(extension="ok")
    assert session.variables["seen"] == "13800138000  X-Evil: 1"  # folded into one value, not a new header
    delivered, session, _ = await _run(flow("Bearer wrong"))
    assert delivered[-1] == TransferToExtension(extension="no")
    assert session.variables["http_error"] == "status 401"


async def test_perform_http_reports_status(server: str) -> None:
    async with httpx.AsyncClient() as client:
        result = await perform_http(client, HttpRequest(request_id=7, method="GET", url=server + "/nothing",
                                                        body="", timeout=2))
    assert result.request_id == 7
    assert getattr(result, "status", None) == 404


async def test_runner_drives_menu_timeouts_on_the_event_loop() -> None:
    flow = Flow(
        name="quick",
        start="m",
        nodes=(
            MenuNode(id="m", prompt="main_menu", options=(MenuOption(digit="1", next="x"),), invalid="x",
                     timeout="x", timeout_seconds=0.2, max_retries=1),
            ExtensionNode(id="x", extension="1901"),
        ),
    )
    started = time.monotonic()
    delivered, session, _ = await _run(flow)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0  # two 0.2 s waits for a key, then the timeout path
    assert isinstance(delivered[-1], TransferToExtension)
    assert [st.kind for st in session.journey].count(StepKind.TIMEOUT) == 2
