"""The asyncio shell around the sans-IO `SipCore`: sockets, the clock, timers and persistence.

`start()` binds UDP, TCP and TLS (ports from the config; 0 lets the OS choose, `None` disables one),
restores registrar bindings from the data directory and starts the core; `stop()` closes every socket and
connection, cancels every timer and task and writes the bindings a last time. Bindings are written at most
every two seconds when they changed, atomically (temp file, fsync, rename): the snapshot is taken on the event
loop, the file written on a worker thread, one write at a time, so an fsync never stalls the call path. Every
event the core produces is stamped with the wall clock, published on the `EventBus` and handed to `on_event`
(call control).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from appliance.clock import Clock, SystemClock
from appliance.events import Event, EventBus
from appliance.health import Health, Status
from appliance.security.certificates import ensure_certificate, server_context
from appliance.sip.core import SipCore
from appliance.sip.digest import CredentialSource
from appliance.sip.errors import SipConfigError
from appliance.sip.models import SipConfig, TrunkConfig
from appliance.sip.registrar import Registrar
from appliance.sip.security import Block, SecurityPolicy
from appliance.sip.transaction import Address
from appliance.sip.transport import (
    StreamTransport,
    UdpProtocol,
    client_context,
    udp_socket,
)
from appliance.store.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

BINDINGS_FILE = "sip_bindings.json"
PERSIST_INTERVAL = 2.0
UNREGISTER_WAIT = 2.0  # seconds stop() waits for the carriers to answer the trunks' un-REGISTERs
# ~500 queued datagrams: a burst of a quarter second at 2,000 messages/s waits instead of being dropped, but
# an overload cannot build a queue longer than T1 (500 ms), after which peers retransmit and double the load
UDP_BUFFER = 1024 * 1024


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _write_bindings(path: Path, wall: float, snapshot: str) -> None:
    """Runs on a worker thread: encode and write atomically (temp file, fsync, rename, fsync of the directory)."""
    data = json.dumps({"saved_wall": wall, "bindings": json.loads(snapshot)}).encode()
    atomic_write_bytes(path, data)


class SipService:
    """Owns the SIP sockets and drives `SipCore`. See the package docstring for the call-control API."""

    def __init__(
        self,
        config: SipConfig,
        credentials: CredentialSource,
        data_dir: Path,
        bus: EventBus,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.bus = bus
        self.clock = clock or SystemClock()
        self.on_event = on_event
        self.core = SipCore(config, credentials, Registrar(config.min_expires, config.max_expires,
                                                           config.max_expires))
        self.ports: dict[str, int] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._streams: dict[str, StreamTransport] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._persist: asyncio.TimerHandle | None = None
        # the bindings file is written by one task on a worker thread; a snapshot taken while it writes waits
        # in `_unwritten` (a newer one replaces it: only the latest state matters) and is written next
        self._writer: asyncio.Task[None] | None = None
        self._unwritten: tuple[float, str] | None = None  # (wall clock, registrar snapshot)
        self._flushing = False
        self._running = False
        self._names: dict[str, tuple[str | None, float]] = {}
        self._resolving: dict[str, list[tuple[bytes, Address]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle
    async def start(self) -> None:
        if self._running:
            return
        loop = asyncio.get_running_loop()
        cfg = self.config
        host = cfg.listen_host
        adv = cfg.advertised_host or (host if host not in ("0.0.0.0", "::") else "127.0.0.1")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._restore()
        try:
            if cfg.udp_port is not None:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self._deliver), sock=udp_socket(host, cfg.udp_port, shared_with_pnp=cfg.udp_shared_with_pnp))
                self._udp = transport
                self.ports["UDP"] = int(transport.get_extra_info("sockname")[1])
                sock = transport.get_extra_info("socket")
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    # bursts (a registration storm after a power cut) queue instead of being dropped
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, opt, UDP_BUFFER)
                    except (OSError, AttributeError):
                        log.debug("cannot enlarge the UDP socket buffers")
            if cfg.tcp_port is not None:
                tcp = StreamTransport("TCP", self._deliver, self._failed)
                self._streams["TCP"] = tcp
                self.ports["TCP"] = await tcp.listen(host, cfg.tcp_port)
            if cfg.tls_port is not None:
                cert = Path(cfg.tls_cert) if cfg.tls_cert else self.data_dir / "sip_tls.crt"
                key = Path(cfg.tls_key) if cfg.tls_key else self.data_dir / "sip_tls.key"
                if not cfg.tls_cert:
                    ensure_certificate(cert, key, adv)
                try:
                    sctx = server_context(cert, key)
                except (OSError, ValueError) as e:
                    raise SipConfigError(f"TLS certificate unusable: {e}", f"TLS 证书不可用: {e}") from e
                tls = StreamTransport("TLS", self._deliver, self._failed, sctx, client_context())
                self._streams["TLS"] = tls
                self.ports["TLS"] = await tls.listen(host, cfg.tls_port)
        except BaseException:
            await self._close_sockets()
            raise
        for name, port in self.ports.items():
            self.core.set_local_address(name, adv, port)
        self._running = True
        self.core.start(self.clock.monotonic())
        self._flush()
        log.info("SIP listening on %s", ", ".join(f"{k}/{v}" for k, v in self.ports.items()))

    async def stop(self) -> None:
        if self._running and self.core.trunk_regs:
            await self._unregister_trunks()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._persist is not None:
            self._persist.cancel()
            self._persist = None
        if self._running:
            self._snapshot()
        self._running = False
        await self._close_sockets()
        if self._writer is not None:
            # shielded: a stop() that is itself cancelled still leaves the last bindings on disk
            await asyncio.shield(self._writer)

    async def _unregister_trunks(self) -> None:
        """At shutdown, remove the trunks' bindings at the carriers (REGISTER with Expires: 0, RFC 3261 §10.2.2),
        so they stop sending calls to a box that is not there, and wait a little for the answers (a challenge
        is answered too); a carrier that does not answer in time keeps its binding until it expires."""
        self._run(self.core.unregister_trunks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + UNREGISTER_WAIT
        while self.core.unregistering and loop.time() < deadline:
            await asyncio.sleep(0.02)

    async def _close_sockets(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._resolving.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for s in self._streams.values():
            await s.close()
        self._streams.clear()
        self.ports.clear()

    @property
    def running(self) -> bool:
        return self._running

    def set_trunks(self, trunks: tuple[TrunkConfig, ...]) -> None:
        """A new trunk list from the configuration: calls use it at once, and registrations start, stop (with
        an un-REGISTER) or start afresh as `SipCore.set_trunks` says. Before start() it waits for start()."""
        self.config = dataclasses.replace(self.config, trunks=trunks)
        if self._running:
            self._run(lambda now: self.core.set_trunks(trunks, now))
        else:
            self.core.config = dataclasses.replace(self.core.config, trunks=trunks)

    def health(self) -> Health:
        """Status and figures for monitoring: the core's counters since start-up and its gauges now.
        Degraded while a trunk's registration is failing (it is retried with back-off)."""
        stats = self.core.stats
        counters = {"messages_received": stats["received"], "messages_sent": stats["sent"],
                    "bad_requests": stats["bad_requests"], "dropped_responses": stats["dropped_responses"],
                    "protocol_violations": stats["protocol_violations"], "auth_failures": stats["auth_failures"],
                    "rate_limited": stats["rate_limited"], "blocked": stats["blocked"]}
        gauges = self.core.gauges(self.clock.monotonic())
        failing = sorted(name for name, reg in self.core.trunk_regs.items() if not reg.registered and reg.backoff)
        if not self._running:
            status, detail = Status.STARTING, "not running"
        elif failing:
            status, detail = Status.DEGRADED, f"trunk registration failing: {', '.join(failing)}"
        else:
            status = Status.OK
            detail = f"{gauges['registrations']:.0f} registrations, {gauges['legs_active']:.0f} legs"
        return Health.of("sip", status, detail, counters=counters, gauges=gauges)

    def open_handles(self) -> int:
        """Sockets, connections, timers and tasks (the bindings writer too) this service holds (zero after
        stop(): tested)."""
        n = (1 if self._udp is not None else 0) + (1 if self._timer is not None else 0)
        n += (1 if self._persist is not None else 0) + (1 if self._writer is not None else 0) + len(self._tasks)
        for s in self._streams.values():
            n += (1 if s.server is not None else 0) + len(s.connections) + len(s._tasks)
        return n

    # -- persistence
    def _path(self) -> Path:
        return self.data_dir / BINDINGS_FILE

    def _restore(self) -> None:
        p = self._path()
        if not p.exists():
            return
        try:
            data = json.loads(p.read_text())
            elapsed = max(0.0, self.clock.wall() - float(data["saved_wall"]))
            n = self.core.registrar.restore(json.dumps(data["bindings"]), self.clock.monotonic(), elapsed)
            log.info("SIP registrar: %d bindings restored", n)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("SIP registrar: bindings file unreadable (%s); starting empty", e)

    def _snapshot(self) -> None:
        """Take the bindings as they are now (cheap, on the loop) and have them written."""
        reg = self.core.registrar
        self._unwritten = (self.clock.wall(), reg.snapshot(self.clock.monotonic()))
        reg.dirty = False
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_snapshots())

    async def _write_snapshots(self) -> None:
        try:
            while self._unwritten is not None:
                wall, snap = self._unwritten
                self._unwritten = None
                try:
                    await asyncio.to_thread(_write_bindings, self._path(), wall, snap)
                except OSError as e:
                    log.error("SIP registrar: cannot write bindings: %s", e)
                    self.core.registrar.dirty = True  # so the persist timer tries again
        finally:
            self._writer = None

    def _persist_due(self) -> None:
        self._persist = None
        if self._running and self.core.registrar.dirty:
            self._snapshot()

    # -- input/output
    def _deliver(self, data: bytes, source: Address) -> None:
        if not self._running:
            return
        self.core.receive(data, source, self.clock.monotonic())
        self._flush()

    def _failed(self, dest: Address) -> None:
        if self._running:
            self.core.transport_error(dest, self.clock.monotonic())
            self._flush()

    def _send(self, data: bytes, dest: Address) -> None:
        if not _is_ip(dest.host):
            self._send_by_name(data, dest)
            return
        if dest.transport == "UDP":
            if self._udp is not None:
                self._udp.sendto(data, (dest.host, dest.port))
            return
        stream = self._streams.get(dest.transport)
        if stream is None:
            self.core.transport_error(dest, self.clock.monotonic())
            return
        stream.send(data, dest)

    def _send_by_name(self, data: bytes, dest: Address) -> None:
        """A trunk or contact given by host name: resolve it (A/AAAA, cached for a minute) off the call
        path, then send. A name that does not resolve is a transport error for the transactions to it."""
        now = self.clock.monotonic()
        cached = self._names.get(dest.host)
        if cached is not None and cached[1] > now:
            ip = cached[0]
            if ip is None:
                self.core.transport_error(dest, now)
                return
            self._send(data, Address(dest.transport, ip, dest.port))
            return
        waiting = self._resolving.get(dest.host)
        if waiting is not None:
            waiting.append((data, dest))
            return
        self._resolving[dest.host] = [(data, dest)]
        task = asyncio.get_running_loop().create_task(self._resolve(dest.host))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, host: str) -> None:
        ip: str | None = None
        try:
            infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
                host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM), 5.0)
            ip = str(infos[0][4][0]) if infos else None
        except (OSError, TimeoutError) as e:
            log.warning("SIP: cannot resolve %s: %s", host, e)
        self._names[host] = (ip, self.clock.monotonic() + 60.0)
        if not self._running:
            return
        for data, dest in self._resolving.pop(host, []):
            self._send_by_name(data, dest)
        self._flush()

    def _flush(self) -> None:
        """Send what the core produced and hand out its events until both are empty (handlers may issue
        commands, which produce more). Re-entrant calls are folded into the outer loop."""
        if self._flushing:
            return
        self._flushing = True
        try:
            while True:
                packets, events = self.core.drain()
                if not packets and not events:
                    break
                for data, dest in packets:
                    try:
                        self._send(data, dest)
                    except OSError as err:
                        log.info("send to %s failed: %s", dest, err)
                wall = self.clock.wall()
                for e in events:
                    stamped = dataclasses.replace(e, at=wall)
                    self.bus.publish(stamped)
                    if self.on_event is not None:
                        try:
                            self.on_event(stamped)
                        except Exception:
                            log.exception("SIP event handler failed for %s", e.topic)
        finally:
            self._flushing = False
        self._schedule()

    def _schedule(self) -> None:
        if not self._running:
            return
        loop = asyncio.get_running_loop()
        dl = self.core.next_deadline()
        if dl is not None and (self._timer_at is None or dl < self._timer_at - 0.0005 or self._timer is None):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = dl
            self._timer = loop.call_later(max(0.0, dl - self.clock.monotonic()), self._on_timer)
        if self.core.registrar.dirty and self._persist is None:
            # at most every PERSIST_INTERVAL: a crash loses only the last few seconds of REGISTERs, which
            # phones repeat anyway, and a registration storm does not rewrite the file per REGISTER
            self._persist = loop.call_later(PERSIST_INTERVAL, self._persist_due)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if not self._running:
            return
        self.core.handle_timeout(self.clock.monotonic())
        self._flush()

    def _run(self, fn: Callable[[float], None]) -> None:
        fn(self.clock.monotonic())
        self._flush()

    # -- sources blocked for failed authentications (see `security_service`)
    def blocks(self) -> list[Block]:
        """The sources refused now; their times are on the monotonic clock."""
        blocks: list[Block] = []
        self._run(lambda now: blocks.extend(self.core.blocks(now)))
        return blocks

    def lift_block(self, source: str) -> Block | None:
        lifted: list[Block | None] = []
        self._run(lambda now: lifted.append(self.core.lift_block(source, now)))
        return lifted[0]

    def set_security(self, policy: SecurityPolicy) -> None:
        self.config = dataclasses.replace(self.config, security=policy)
        self.core.set_security(policy)

    # -- the B2BUA API (each call sends at once)
    def leg(self, leg_id: str) -> SipLeg:
        self.core.leg_info(leg_id)  # raises UnknownLeg
        return SipLeg(self, leg_id)

    def create_leg(self, *, callee: str, sdp_offer: bytes, caller: str, caller_name: str | None = None,
                   extension: str | None = None, trunk: str | None = None, uri: str | None = None,
                   replaces: str | None = None) -> SipLeg:
        leg_id = self.core.create_leg(self.clock.monotonic(), callee=callee, sdp_offer=sdp_offer, caller=caller,
                                      caller_name=caller_name, extension=extension, trunk=trunk, uri=uri,
                                      replaces=replaces)
        self._flush()
        return SipLeg(self, leg_id)

    def transport_to(self, *, extension: str | None = None, trunk: str | None = None) -> str | None:
        """The transport a new leg to `extension` (its registered contacts: "TLS" only when every one
        registered over TLS) or `trunk` would take; None when there is nowhere to send it."""
        if extension is not None:
            sources = {b.source.transport for b in self.core.registrar.lookup(extension, self.clock.monotonic())}
            return None if not sources else "TLS" if sources == {"TLS"} else min(sources - {"TLS"})
        if trunk is not None:
            t = next((x for x in self.core.config.trunks if x.name == trunk), None)
            return None if t is None else t.transport.upper()
        return None

    def answer(self, leg_id: str, sdp: bytes) -> None:
        self._run(lambda now: self.core.answer(leg_id, sdp, now))

    def progress(self, leg_id: str, sdp: bytes | None = None) -> None:
        self._run(lambda now: self.core.progress(leg_id, sdp, now, 183 if sdp else 180))

    def reject(self, leg_id: str, status: int) -> None:
        self._run(lambda now: self.core.reject(leg_id, status, now))

    def hangup(self, leg_id: str) -> None:
        self._run(lambda now: self.core.hangup(leg_id, now))

    def hold(self, leg_id: str) -> None:
        self._run(lambda now: self.core.hold(leg_id, now))

    def unhold(self, leg_id: str) -> None:
        self._run(lambda now: self.core.unhold(leg_id, now))

    def send_dtmf(self, leg_id: str, digit: str, duration_ms: int = 160) -> None:
        self._run(lambda now: self.core.send_dtmf(leg_id, digit, now, duration_ms))

    def refer(self, leg_id: str, target_uri: str, replaces_leg: str | None = None) -> None:
        self._run(lambda now: self.core.refer(leg_id, target_uri, now, replaces_leg))

    def transfer_progress(self, leg_id: str, status: int) -> None:
        self._run(lambda now: self.core.transfer_progress(leg_id, status, now))

    def remote_answer(self, leg_id: str) -> None:
        self._run(lambda now: self.core.remote_answer(leg_id, now))


@dataclasses.dataclass(frozen=True)
class SipLeg:
    """A handle on one SIP leg: the B2BUA commands bound to its id (call control holds legs through
    `appliance.sip.leg_provider.SipLeg`, which adds the media side and Q.850 causes)."""

    service: SipService
    leg_id: str
    kind: str = "sip"

    def progress(self, sdp: bytes | None = None) -> None:
        self.service.progress(self.leg_id, sdp)

    def answer(self, sdp: bytes) -> None:
        self.service.answer(self.leg_id, sdp)

    def reject(self, status: int) -> None:
        self.service.reject(self.leg_id, status)

    def hangup(self) -> None:
        self.service.hangup(self.leg_id)

    def hold(self) -> None:
        self.service.hold(self.leg_id)

    def unhold(self) -> None:
        self.service.unhold(self.leg_id)

    def send_dtmf(self, digit: str, duration_ms: int = 160) -> None:
        self.service.send_dtmf(self.leg_id, digit, duration_ms)

    def transfer(self, target: str, replaces_leg: str | None = None) -> None:
        self.service.refer(self.leg_id, target, replaces_leg)

    def transfer_progress(self, status: int) -> None:
        self.service.transfer_progress(self.leg_id, status)


def run_event_loop(main: Callable[[], object]) -> None:
    """Run a coroutine function on uvloop when it is installed, else on asyncio's own loop."""
    coro = main()
    assert asyncio.iscoroutine(coro)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a Linux-only dependency
        asyncio.run(coro)
        return
    uvloop.run(coro)

