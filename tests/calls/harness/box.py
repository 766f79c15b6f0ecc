"""The real call control, ACD, IVR, router and stores around fake legs and fake media, in virtual time.

Wired as `appliance.calls.service.CallService` wires it, with two differences: the leg providers and the
media engine are the fakes of this package, and the event loop's time is the harness's `ManualClock`
(`loop.VirtualTimeLoop`). Nothing listens on a socket; the stores live in the test's tmp directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from appliance.acd.engine import AcdEngine
from appliance.calls.acd_config import acd_config
from appliance.calls.agents import AgentDirectory
from appliance.calls.assets import ensure_assets
from appliance.calls.controller import CallController
from appliance.calls.models import Call
from appliance.calls.service import routing_config
from appliance.clock import ManualClock
from appliance.domain.kinds import all_kinds
from appliance.events import Event, EventBus
from appliance.ivr.demo import DEMO_DID
from appliance.ivr.library import FlowRepository
from appliance.ivr.models import Language
from appliance.ivr.service import IvrService
from appliance.legs import events as leg_events
from appliance.legs.factory import LegFactory
from appliance.prompts.store import TTS_PREFIX, PromptStore
from appliance.records.sqlite_store import RecordStore
from appliance.routing.router import Router
from appliance.store.config_store import ConfigStore
from appliance.voicemail.service import VoicemailService
from tests.calls.harness.legs import (
    CUSTOMER_KIND,
    EXTENSION_KIND,
    FakeLeg,
    FakeLegProvider,
    Phone,
    Switchboard,
)
from tests.calls.harness.loop import VirtualTimeLoop
from tests.calls.harness.media import FakeMedia
from tests.calls.harness.tenant import tenant

E = TypeVar("E", bound=Event)
CUSTOMER = "13800138000"
CDR_TOPIC = "calls.ended"  # the event that carries the CDR (`cdr`), once call control publishes it
ACD_TIMERS_TASK = "acd-timers"  # the controller's one task of its own while it runs (the ACD's deadlines)
MAX_PROMPTS = 50  # play_through gives up after this many prompts in a row (a prompt loop)


def _controller(**deps: Any) -> CallController:
    """The controller with the dependencies it declares (the record store went when CDRs became events)."""
    wanted = {f.name for f in dataclasses.fields(CallController) if f.init and not f.name.startswith("_")}
    return CallController(**{k: v for k, v in deps.items() if k in wanted})


@dataclass
class FakeTts:
    """Speech that costs nothing: a short silent WAV per text. It remembers what was said, and tells the fake
    media what each synthesized file says (so a leg "hears" "tts:<text>", not a hash)."""

    describe: dict[str, str]
    spoken: list[str] = field(default_factory=list)

    async def synthesize(self, text: str, language: Language) -> bytes:
        self.spoken.append(text)
        self.describe[PromptStore.tts_key(text, language).removeprefix(TTS_PREFIX)] = f"tts:{text}"
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(bytes(1600))
        return buf.getvalue()


@dataclass
class Harness:
    loop: VirtualTimeLoop
    data_dir: Path
    clock: ManualClock
    bus: EventBus
    store: ConfigStore
    records: RecordStore
    prompts: PromptStore
    tts: FakeTts
    voicemail: VoicemailService
    flows: FlowRepository
    ivr: IvrService
    acd: AcdEngine
    media: FakeMedia
    board: Switchboard
    legs: LegFactory
    controller: CallController
    router: Router
    events: list[Event] = field(default_factory=list)  # everything published on the bus, in order

    # ---------------------------------------------------------------- building and closing

    @classmethod
    async def open(cls, data_dir: Path) -> Harness:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop), "run harness tests through @control_test"
        clock, bus = loop.clock, EventBus()
        events: list[Event] = []
        bus.subscribe(events.append)
        store = ConfigStore.open(data_dir, all_kinds(), bus, clock)
        entities, settings = tenant()
        await store.replace_all(entities, settings)
        records = RecordStore.open(data_dir / "records.sqlite3")
        media = FakeMedia(bus, clock)
        tts = FakeTts(media.describe)
        prompts = PromptStore(data_dir / "prompts", tts=tts)
        voicemail = VoicemailService(data_dir, records, bus, clock)
        board = Switchboard(media)
        legs = LegFactory()
        for kind in (CUSTOMER_KIND, EXTENSION_KIND):
            legs.register(FakeLegProvider(board, kind))
        flows = FlowRepository(store.list("ivr_flows"))
        holder: list[Harness] = []
        ivr = IvrService(flows, prompts, bus, clock,
                         period_of=lambda schedule, wall: holder[0].router.period_of(schedule, wall))
        acd = AcdEngine(acd_config({k.name: store.list(k.name) for k in store.kinds}, store.settings), clock,
                        sink=bus.publish)
        controller = _controller(
            legs=legs, media=media, acd=acd, ivr=ivr, store=store, prompts=prompts, records=records,
            voicemail=voicemail, bus=bus, clock=clock, router=lambda: holder[0].router,
            agents=AgentDirectory(store), recordings_dir=data_dir / "recordings",
            assets=ensure_assets(data_dir / "media"),
        )
        legs.subscribe(controller.on_leg_event)
        h = cls(loop, data_dir, clock, bus, store, records, prompts, tts, voicemail, flows, ivr, acd, media, board,
                legs, controller, Router(routing_config(store)), events)
        holder.append(h)
        await ivr.start()
        await controller.start()
        return h

    async def close(self) -> None:
        await self.controller.stop()
        await self.ivr.stop()
        self.controller.agents.hasher.close()
        self.records.close()
        self.store.close()

    # ---------------------------------------------------------------- time

    async def settle(self) -> None:
        """Run every call, the ACD and the IVR until nothing more happens without the far end or time."""
        await self.loop.settle()

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass: every timer due meanwhile fires at its time."""
        await self.loop.advance(seconds)

    # ---------------------------------------------------------------- configuration

    async def change(self, kind: str, key: str, **fields: Any) -> Any:
        """Edit one stored entity and apply it as the running box does on `config.changed`."""
        old = self.store.get(kind, key)
        new = dataclasses.replace(old, **fields)
        await self.store.update(kind, new)
        self.apply(kind)
        return new

    async def add(self, kind: str, entity: Any) -> None:
        await self.store.create(kind, entity)
        self.apply(kind)

    def apply(self, kind: str) -> None:
        """What `CallService._reload` does for one kind of entity."""
        if kind in ("queues", "staff", "vip_list", "pause_reasons"):
            config = acd_config({k.name: self.store.list(k.name) for k in self.store.kinds}, self.store.settings)
            self.controller.dispatch_acd(self.acd.configure(config))
        if kind in ("schedules", "dids", "blacklist"):
            self.router = Router(routing_config(self.store))
        if kind == "ivr_flows":
            current = self.flows.snapshot()
            for flow in self.store.list("ivr_flows"):
                if current.flows.get(flow.name) != flow:
                    self.flows.publish(flow)

    # ---------------------------------------------------------------- agents and phones

    def login(self, *agents: str) -> None:
        """Agents log in at their own extensions (they become idle)."""
        for agent in agents:
            self.controller.agent_login(agent)

    def agent(self, agent_id: str) -> dict[str, Any]:
        """The agent as `controller.agent_views()` (the API's /agents) shows it."""
        return next(v for v in self.controller.agent_views() if v["agent"] == agent_id)

    def unregister(self, extension: str) -> None:
        """The phone at `extension` is not registered: legs to it are refused (SUBSCRIBER_ABSENT)."""
        self.board.set_registered(extension, False)

    def register(self, extension: str) -> None:
        self.board.set_registered(extension, True)

    # ---------------------------------------------------------------- calls

    async def incoming(self, caller: str, did: str, *, caller_name: str | None = None) -> Phone:
        """A customer's call arrives from the network (kind "test"); the test holds the caller's phone."""
        leg = self.board.new_leg(CUSTOMER_KIND, caller, outbound=False)
        self.board.emit(CUSTOMER_KIND, leg_events.LegIncoming(
            at=self.clock.wall(), leg_id=leg.leg_id, kind=CUSTOMER_KIND, caller=caller, caller_name=caller_name,
            callee=did, trunk="pstn"))
        await self.settle()
        return Phone(leg)

    async def dial(self, extension: str, number: str) -> Phone:
        """One of our phones dials `number` (an extension, a feature code, an access number, a PSTN number)."""
        leg = self.board.new_leg(EXTENSION_KIND, extension, outbound=False)
        self.board.emit(EXTENSION_KIND, leg_events.LegIncoming(
            at=self.clock.wall(), leg_id=leg.leg_id, kind=EXTENSION_KIND, caller=extension, caller_name=None,
            callee=number, extension=extension))
        await self.settle()
        return Phone(leg)

    async def call_menu(self, key: str, caller: str = CUSTOMER) -> Phone:
        """A customer calls the demo access number and presses `key` at the main menu (1 sales, 2 support,
        0 the operator); returns once the IVR has handed the call on."""
        phone = await self.incoming(caller, DEMO_DID)
        assert await self.play_through(phone) == ["welcome", "main_menu"]
        phone.press(key)
        played = await self.play_through(phone)  # a queue may go on to announce the caller's position
        assert played[:1] == ["transfer_agent"], played
        return phone

    async def pick_up(self, party: str, caller: Phone) -> Phone:
        """`party`'s ringing phone answers; the caller hears the agent's number (when the queue announces
        it) and is bridged with it."""
        phone = await self.rung(party)
        phone.answer()
        await self.play_through(caller)
        assert caller.bridged_with() == {phone.endpoint}, f"{party} is not bridged with the caller"
        return phone

    def legs_to(self, party: str) -> list[FakeLeg]:
        """Every outbound leg that rang `party` (an extension or a number), oldest first."""
        return [leg for leg in self.board.history if leg.outbound and leg.party == party]

    def phone(self, party: str) -> Phone:
        """The one live leg to `party`."""
        live = [leg for leg in self.legs_to(party) if not leg.ended]
        assert len(live) == 1, f"{len(live)} live legs to {party}: {[leg.leg_id for leg in self.legs_to(party)]}"
        return Phone(live[0])

    async def rung(self, party: str) -> Phone:
        """After everything settled: the leg now ringing `party` (its phone has not answered yet)."""
        await self.settle()
        phone = self.phone(party)
        assert phone.leg.state == "ringing", f"{party} is {phone.leg.state}, not ringing"
        return phone

    async def play_through(self, phone: Phone) -> list[str]:
        """Let every prompt played to `phone` end, one after another, until only music, a tone or nothing
        plays; returns what was played, in order."""
        played: list[str] = []
        for _ in range(MAX_PROMPTS):
            await self.settle()
            playing = self.media.playing.get(phone.endpoint or "")
            if playing is None or playing.loop or playing.path is None:
                return played
            played.append(self.media.finish(phone.endpoint or ""))
        raise AssertionError(f"still playing after {MAX_PROMPTS} prompts: {played}")

    def call(self, call_id: str | None = None) -> Call:
        """The call with `call_id`, or the only call in progress."""
        calls = self.controller.active_calls
        if call_id is None:
            assert len(calls) == 1, f"{len(calls)} calls in progress"
            return calls[0]
        found = self.controller.call(call_id)
        assert found is not None, f"no call {call_id} in progress"
        return found

    async def hang_up_all(self) -> None:
        """End every call in progress as the desk's hang-up does (a test that has seen what it came for, an
        expected failure that must not leave calls behind)."""
        for call in self.controller.active_calls:
            self.controller.hangup(call.id)
        await self.settle()

    # ---------------------------------------------------------------- what happened

    def published(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def cdrs(self) -> list[dict[str, Any]]:
        """Every CDR written so far, oldest first, wherever call control puts it: the `calls.ended` event the
        journal writes, or (before that move) straight into the record store."""
        found: dict[str, dict[str, Any]] = {}
        for cdr in reversed(self.records.cdrs(limit=10_000).items):
            found[cdr["call_id"]] = cdr
        for event in self.events:
            cdr = getattr(event, "cdr", None) if event.topic == CDR_TOPIC else None
            if isinstance(cdr, dict):
                found.setdefault(cdr["call_id"], cdr)
        return list(found.values())

    def cdr(self, call_id: str | None = None) -> dict[str, Any]:
        """The CDR of `call_id`, or the only CDR written."""
        cdrs = [c for c in self.cdrs() if call_id is None or c["call_id"] == call_id]
        assert len(cdrs) == 1, f"{len(cdrs)} CDRs{f' for {call_id}' if call_id else ''}"
        return cdrs[0]

    def said(self) -> list[str]:
        """Everything call control and the IVR synthesized, in order."""
        return list(self.tts.spoken)

    # ---------------------------------------------------------------- nothing left behind

    async def assert_clean(self) -> None:
        """No call, call task, leg, media endpoint, bridge, recording, IVR session or ACD call is left."""
        await self.settle()
        controller = self.controller
        assert controller.active_calls == [], [c.id for c in controller.active_calls]
        maps = {"legs": controller.registry.by_leg, "endpoints": controller.registry.by_endpoint}
        assert not any(maps.values()), f"the controller still maps {maps}"
        current = asyncio.current_task()
        stray = [t.get_name() for t in asyncio.all_tasks()
                 if t is not current and t.get_name() != ACD_TIMERS_TASK and not t.done()]
        assert stray == [], f"tasks left running: {stray}"
        assert self.board.legs == {}, f"legs not ended: {list(self.board.legs)}"
        assert self.media.leftovers() == {}, f"media left: {self.media.leftovers()}"
        assert self.ivr.active == 0, "an IVR session is still open"
        assert self.acd.active_call_ids() == [], f"the ACD still holds {self.acd.active_call_ids()}"
