"""Voicemail: off hours the demo flow leaves the caller in box `general`; # ends the message, so does the
length limit; the message is indexed with its duration and named in the CDR."""

from __future__ import annotations

from appliance.legs.causes import Cause
from tests.calls.harness import Harness, Phone, control_test
from tests.calls.harness.box import CUSTOMER


async def off_hours_caller(h: Harness) -> Phone:
    """The access number's schedule is closed: the caller hears the opening hours, then the beep."""
    await h.change("schedules", "business_hours", work_days=())
    caller = await h.incoming(CUSTOMER, "8000")
    assert await h.play_through(caller) == ["off_hours", "beep"]  # the flow spoke: no second greeting
    assert h.call().phase == "voicemail" and len(h.media.recordings) == 1
    return caller


@control_test
async def test_an_off_hours_caller_leaves_a_message_and_ends_it_with_hash(h: Harness) -> None:
    caller = await off_hours_caller(h)
    await h.advance(7)
    caller.press("#")
    await h.settle()
    assert caller.leg.commands[-1] == ("hangup", Cause.NORMAL_CLEARING)  # the box hangs up after #

    [message] = h.voicemail.list(box="general").items
    assert (message.caller, message.duration_s) == (CUSTOMER, 7.0)
    assert (h.data_dir / message.file).is_file()
    cdr = h.cdr()
    assert (cdr["disposition"], cdr["voicemail"], cdr["flow"]) == ("voicemail", message.id, "off_hours")
    assert cdr["hangup_cause"] == "voicemail_done"


@control_test
async def test_a_message_ends_at_the_length_limit(h: Harness) -> None:
    caller = await off_hours_caller(h)
    await h.advance(119)
    assert not caller.leg.ended
    await h.advance(1)
    assert caller.leg.ended
    [message] = h.voicemail.list(box="general").items
    assert message.duration_s == 120.0


@control_test
async def test_a_caller_who_hangs_up_at_once_leaves_no_message(h: Harness) -> None:
    caller = await off_hours_caller(h)
    caller.hang_up()  # nothing was recorded
    await h.settle()
    assert h.voicemail.list(box="general").items == ()
    assert h.cdr()["voicemail"] == ""
