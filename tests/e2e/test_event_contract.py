"""The public event contract end to end: a WebSocket client follows the stream of a running appliance while a
SIPp caller goes through IVR and queue to a SIPp agent, and every message it receives validates against the
JSON Schemas the box publishes at /api/v1/events/schemas."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from websockets.sync.client import connect

from tests.e2e.harness import RunningAppliance, sipp_available, successful
from tests.e2e.test_inbound import ALWAYS_OPEN, PCAP, call_access_number, log_in

pytestmark = [pytest.mark.interop, pytest.mark.slow,
              pytest.mark.skipif(not sipp_available(), reason="SIPp (sip-tester) is not installed")]


class StreamRecorder:
    """Reads the event stream on a thread until told to stop."""

    def __init__(self, box: RunningAppliance) -> None:
        self.messages: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._ws = connect(f"ws://127.0.0.1:{box.http_port}/api/v1/events?token={box.token}", legacy=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                raw = self._ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            except Exception:
                return
            self.messages.append(json.loads(raw))

    def topics(self) -> list[str]:
        return [m["topic"] for m in self.messages]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._ws.close()


def test_every_streamed_event_of_a_call_validates_against_the_published_schemas(box: RunningAppliance) -> None:
    status, contract = box.api("GET", "/api/v1/events/schemas")
    assert status == 200
    validators = {topic: Draft202012Validator(schema) for topic, schema in contract["events"].items()}
    assert box.api("PATCH", "/api/v1/schedules/business_hours", ALWAYS_OPEN)[0] == 200
    stream = StreamRecorder(box)
    try:
        port = log_in(box, "1002")
        agent = box.answering(port, PCAP=PCAP)
        time.sleep(0.3)
        caller = call_access_number(box, "1005", "1", wait_ms=12000)
        assert successful(caller) == 1, caller.stdout[-2000:]  # type: ignore[attr-defined]
        out, _ = agent.communicate(timeout=60)
        assert successful(out) == 1, out[-2000:]
        cdr = box.wait_for_cdr("8000")
        deadline = time.monotonic() + 10
        while "calls.ended" not in stream.topics() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stream.close()

    assert stream.messages, "nothing arrived on the stream"
    for message in stream.messages:
        assert message["topic"] in validators, f"a topic outside the contract was streamed: {message['topic']}"
        validators[message["topic"]].validate(message)
        assert message["v"] == contract["version"]
    topics = stream.topics()
    for expected in ("calls.offered", "calls.queued", "acd.call_queued", "calls.ringing", "calls.answered",
                     "calls.dequeued", "calls.bridged", "calls.ended", "acd.agent_state_changed"):
        assert expected in topics, (expected, " ".join(topics))
    assert topics.index("calls.queued") < topics.index("calls.ringing") < topics.index("calls.bridged")
    ringing = next(m for m in stream.messages if m["topic"] == "calls.ringing" and m["role"] == "agent")
    assert (ringing["agent"], ringing["caller"], ringing["queue"]) == ("1002", "1005", "sales")
    ended = [m for m in stream.messages if m["topic"] == "calls.ended" and m["call_id"] == cdr["call_id"]]
    assert len(ended) == 1 and ended[0]["cdr"] == cdr  # the CDR the journal wrote is the event's
