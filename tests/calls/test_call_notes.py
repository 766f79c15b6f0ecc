"""The agent desk's call routes in-process: notes kept with a call (they follow a transfer: the next agent on the
call reads what the first wrote; the first still reads them in wrap-up), who may read and write them, bad
input, marking an intended customer, and click-to-dial refused beyond the dial class."""

from __future__ import annotations

from appliance.calls.call_notes import CallNotes
from appliance.calls.messages import ApiMarkIntended
from appliance.calls.models import LegRole, LegState
from appliance.clock import ManualClock
from tests.api_client import Client
from tests.calls.test_http import add_call, field_names, login_as


async def test_notes_follow_the_call_to_the_next_agent_and_stay_readable_by_their_writer(admin: Client) -> None:
    live = add_call(admin, "n1-1", agent="1001")
    first = await login_as(admin, "zhangwei", "agent", staff="1001")
    second = await login_as(admin, "wangfang", "agent", staff="1002")

    status, empty = await admin.call("GET", "/api/v1/calls/n1-1/notes", token=first)
    assert status == 200 and (empty["notes"], empty["customer_id"], empty["writers"]) == ("", "", [])
    status, saved = await admin.call("PUT", "/api/v1/calls/n1-1/notes",
                                     {"notes": "asked for a refund", "customer_id": "42"}, token=first)
    assert status == 200 and saved["updated_by"] == "1001" and saved["writers"] == ["1001"], saved
    status, _ = await admin.call("GET", "/api/v1/calls/n1-1/notes", token=second)
    assert status == 403  # not on this call (yet)

    # transferred: the first agent's leg is gone, the second's rings
    live.call.legs.pop("n1-1-b")
    live.call.agent = ""
    live.call.legs["n1-1-c"] = LegState(object(), LegRole.AGENT, "1002", 1020.0, agent_id="1002")  # type: ignore[arg-type]
    status, read = await admin.call("GET", "/api/v1/calls/n1-1/notes", token=second)
    assert status == 200 and (read["notes"], read["customer_id"]) == ("asked for a refund", "42")
    status, saved = await admin.call("PUT", "/api/v1/calls/n1-1/notes", {"notes": "refund approved"}, token=second)
    assert status == 200 and saved["customer_id"] == "42" and saved["writers"] == ["1001", "1002"]
    status, read = await admin.call("GET", "/api/v1/calls/n1-1/notes", token=first)  # in wrap-up, by its writer
    assert status == 200 and read["notes"] == "refund approved"

    status, bad = await admin.call("PUT", "/api/v1/calls/n1-1/notes", {"notes": "x" * 4001}, token=second)
    assert status == 422 and field_names(bad) == {"notes"}
    status, bad = await admin.call("PUT", "/api/v1/calls/n1-1/notes", {"customer": "1"}, token=second)
    assert status == 422 and field_names(bad) == {"customer"}
    status, _ = await admin.call("GET", "/api/v1/calls/n9-9/notes")
    assert status == 404


async def test_marking_an_intended_customer_goes_to_the_calls_inbox(admin: Client) -> None:
    mine = add_call(admin, "n2-1", agent="1001")
    theirs = add_call(admin, "n2-2", agent="1002")
    me = await login_as(admin, "zhangwei", "agent", staff="1001")
    status, _ = await admin.call("POST", "/api/v1/calls/n2-2/intended-customer", token=me)
    assert status == 403 and theirs.inbox.empty()
    status, body = await admin.call("POST", "/api/v1/calls/n2-1/intended-customer", token=me)
    assert status == 202 and body["accepted"] is True
    assert mine.inbox.get_nowait() == ApiMarkIntended("1001")


async def test_click_to_dial_beyond_the_dial_class_is_refused(admin: Client) -> None:
    status, body = await admin.call("POST", "/api/v1/calls", {"number": "0085212345678", "extension": "1001"})
    assert status == 403, body  # the demo's phones may dial internal numbers only
    assert "international" in body["message"]


def test_the_store_forgets_the_oldest_calls_first() -> None:
    notes = CallNotes(ManualClock(), limit=2)
    for call in ("a", "b", "c"):
        notes.save(call, "1001", notes=call)
    assert len(notes) == 2 and notes.get("a").notes == "" and notes.get("c").notes == "c"
    assert notes.written_by("b", "1001") and not notes.written_by("b", "1002")
