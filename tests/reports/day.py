"""A known day of a call centre, driven through the real call control, ACD, IVR and record journal (the call
harness, in virtual time), its rows and roll-ups written into a given record store.

Calls, a few minutes to half an hour apart: answered (the caller hangs up; the agent hangs up after a hold),
abandoned after 3 s (short) and 40 s, timed out (agents logged in but paused: the queue's 300 s limit),
overflowed (no agent of the queue logged in: 30 s), transferred from one queue's agent to another queue,
an offer that rings out before the next agent answers, a caller who hangs up in the IVR menu and one call
out of work hours. Agents log in, pause with reasons, come back and log out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.clock import ManualClock
from appliance.ivr.demo import DEMO_DID
from appliance.records.journal import JournalConfig, RecordJournal
from appliance.reports.models import ReportPolicy
from appliance.reports.rollups import writer_opener
from appliance.routing.models import SpecialWorkday, TimeRange
from tests.calls.harness import Harness, Phone
from tests.calls.harness.box import CUSTOMER
from tests.calls.harness.loop import VirtualTimeLoop

AGENTS = ("1001", "1002", "1003", "1004")
SALES = ("1001", "1002", "1003")


async def ringing(h: Harness) -> Phone:
    """The one agent phone ringing now."""
    await h.settle()
    live = [leg for leg in h.board.history if leg.outbound and not leg.ended and leg.state == "ringing"]
    assert len(live) == 1, [leg.party for leg in live]
    return Phone(live[0])


async def answered_call(h: Harness, key: str, *, ring: float, talk: float) -> tuple[Phone, Phone]:
    caller = await h.call_menu(key, caller=f"1390000{len(h.cdrs()):04d}")
    agent = await ringing(h)
    await h.advance(ring)
    agent.answer()
    await h.play_through(caller)
    await h.advance(talk)
    return caller, agent


async def hang_up(h: Harness, phone: Phone, then: Phone | None = None) -> None:
    phone.hang_up()
    await h.settle()
    if then is not None:  # the caller left alone (a survey after the agent hung up): plays, then hangs up
        await h.play_through(then)
        await h.advance(5)
        then.hang_up()
        await h.settle()


async def the_day(h: Harness, work_hours_at: float) -> None:
    """`work_hours_at`: seconds from the start until the schedule's work hours begin (0: already)."""
    if work_hours_at:  # a call out of work hours: the off-hours flow, then the caller hangs up
        early = await h.incoming(CUSTOMER, DEMO_DID)
        await h.play_through(early)
        await h.advance(6)
        early.hang_up()
        await h.settle()
        await h.advance(work_hours_at)
    h.login(*AGENTS)
    await h.advance(420)

    caller, _ = await answered_call(h, "1", ring=4, talk=95)  # the caller hangs up
    await hang_up(h, caller)
    await h.advance(900)

    caller, agent = await answered_call(h, "2", ring=2, talk=30)  # on hold 25 s, then the agent hangs up
    h.controller.hold(h.call().id, True)
    await h.advance(25)
    h.controller.hold(h.call().id, False)
    await h.play_through(caller)
    await h.advance(40)
    await hang_up(h, agent, then=caller)
    await h.advance(1200)

    for agent_id, reason in zip(SALES, ("1", "4", "2"), strict=True):
        h.controller.agent_pause(agent_id, reason)
    for wait in (3, 40):  # a short abandon and an abandon
        caller = await h.call_menu("1")
        await h.advance(wait)
        await hang_up(h, caller)
        await h.advance(300)
    caller = await h.call_menu("1")  # agents logged in but paused: the queue's time limit, then voicemail
    await h.advance(300)
    await h.play_through(caller)
    await h.advance(5)
    await hang_up(h, caller)
    for agent_id in SALES:
        h.controller.agent_unpause(agent_id)
    await h.advance(1500)

    h.controller.agent_logout("1003")
    h.controller.agent_logout("1004")  # nobody of support logged in: it overflows after 30 s
    caller = await h.call_menu("2")
    await h.advance(30)
    await h.play_through(caller)
    await h.advance(4)
    await hang_up(h, caller)
    h.login("1003", "1004")
    await h.advance(1200)

    caller, _ = await answered_call(h, "1", ring=3, talk=50)  # a sales agent passes it on to support
    h.controller.transfer(h.call().id, "support")
    await h.settle()
    second = await ringing(h)
    await h.advance(5)
    second.answer()
    await h.play_through(caller)
    await h.advance(60)
    await hang_up(h, caller)
    await h.advance(1300)

    caller = await h.call_menu("2")  # the first agent lets it ring out (15 s), the next one answers
    await ringing(h)
    await h.advance(15)
    nxt = await ringing(h)
    nxt.answer()
    await h.play_through(caller)
    await h.advance(33)
    await hang_up(h, caller)
    await h.advance(1000)

    quitter = await h.incoming(CUSTOMER, DEMO_DID)  # hangs up during the menu
    await h.settle()
    await h.advance(2)
    await hang_up(h, quitter)
    await h.advance(300)

    caller, _ = await answered_call(h, "2", ring=2, talk=9)  # a short call: not one of the calls over 15 s
    await hang_up(h, caller)
    await h.advance(390)

    caller, _ = await answered_call(h, "1", ring=1, talk=200)
    await hang_up(h, caller)
    await h.advance(600)
    h.controller.agent_pause("1002", "3")
    await h.advance(1900)
    for agent_id in AGENTS:
        h.controller.agent_logout(agent_id)
    await h.settle()


async def _run(h: Harness, records: Path, policy: ReportPolicy, work_hours_at: float,
               special_workday: str) -> None:
    if special_workday:  # a Sunday made a working day, all day: the routing follows it
        schedule = h.store.list("schedules")[0]
        await h.change("schedules", schedule.name, timezone="America/New_York",
                       special_workdays=(SpecialWorkday(date=special_workday, name="drill"),),
                       special_workday_hours=(TimeRange(start="00:00", end="24:00"),))
    journal = RecordJournal(h.records, h.bus, JournalConfig(flush_interval=0.01),
                            open_writer=writer_opener(records, lambda: policy))
    await journal.start()
    try:
        await the_day(h, work_hours_at)
        await h.assert_clean()
    finally:
        stopping = asyncio.ensure_future(journal.stop())
        while not stopping.done():  # its wait for the writer sleeps in (virtual) loop time
            await h.advance(0.05)
        await stopping
    assert journal.rows_written > 0 and journal.rows_dropped == 0 and journal.rows_rejected == 0


def run_day(data_dir: Path, records: Path, start: float, policy: ReportPolicy, *, work_hours_at: float = 0.0,
            special_workday: str = "") -> None:
    """Drive the day from wall-clock `start` (epoch seconds) on a virtual-time loop of its own."""
    loop = VirtualTimeLoop(ManualClock(epoch_offset=start))

    async def body() -> None:
        h = await Harness.open(data_dir)
        try:
            await _run(h, records, policy, work_hours_at, special_workday)
        finally:
            await h.close()

    try:
        loop.run_until_complete(body())
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

