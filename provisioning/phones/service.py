"""Phone provisioning: the inventory's lifecycle, files rendered per fetch from the live configuration, the
phone-facing HTTPS server, the optional TFTP server (tftpy) and the SIP PnP responder.

HTTPS: `https://<box>:<port>/p/<token>/<file>`. The token is the phone's own (random, revocable): a request
with another phone's file name, an unknown token or a revoked one is refused and logged. TFTP has no
authentication at all, so it is off unless asked for and its start is logged as a warning; it still serves a
per-phone file only for a MAC in the inventory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, cast

import tftpy

from appliance.configuration.service import Actor, ConfigService
from appliance.errors import Conflict, FieldError, ValidationFailed
from appliance.health import Health, Status
from appliance.security.certificates import box_certificate, server_context
from appliance.security.passwords import sip_ha1
from appliance.store.migrations import DEFAULT_REALM
from provisioning.errors import UnknownPhone
from provisioning.phones.https import Fetch, PhoneHttp
from provisioning.phones.inventory import PhoneInventory, new_sip_password, new_token
from provisioning.phones.models import Phone, PhoneRecord, phone_to_dict
from provisioning.phones.pnp import PNP_GROUP, PNP_PORT, PnpResponder
from provisioning.phones.render import COMMON_FILES, LiveContext, Renderer, mac_in, phone_files

log = logging.getLogger(__name__)
DEFAULT_TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class PhoneServerConfig:
    bind: str = "0.0.0.0"
    https_port: int = 8443  # 0: the OS chooses
    sip_port: int = 5060
    tftp_port: int | None = None  # None: off (TFTP has no authentication)
    pnp: bool = False  # answer multicast ua-profile SUBSCRIBEs
    pnp_port: int = PNP_PORT
    advertise: str | None = None  # the address phones register to, when no request tells it
    # HTTPS server threads, each with its own loop accepting on the one listening socket: a power cut's
    # handshakes spread over the cores (OpenSSL releases the GIL for its crypto)
    https_threads: int = 2


@dataclass
class PhoneService:
    data_dir: Path
    config: ConfigService
    server: PhoneServerConfig = field(default_factory=PhoneServerConfig)
    # the box's own address facing a phone's (tests in network namespaces pass their own)
    local_address: Callable[[str], str] | None = None
    name: str = "phones"
    inventory: PhoneInventory = field(init=False)
    renderer: Renderer = field(default_factory=Renderer)
    counters: dict[str, int] = field(default_factory=lambda: {"served": 0, "refused": 0, "pnp_answered": 0,
                                                              "pnp_ignored": 0})
    _https: list[_HttpsThread] = field(default_factory=list)
    _tftp: tftpy.TftpServer | None = None
    _tftp_thread: threading.Thread | None = None
    _pnp: asyncio.DatagramTransport | None = None
    _save_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _error: str = ""
    # counted from the HTTPS and TFTP threads and the loop: `+=` on a dict item is not atomic
    _count_lock: threading.Lock = field(default_factory=threading.Lock)
    # MAC → (wall time, file, source) of the phone's last file served since start: the pages' "provisioned"
    # state. Written from the HTTPS and TFTP threads; a dict item assignment is atomic.
    _last_fetch: dict[str, tuple[float, str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inventory = PhoneInventory.open(self.data_dir / "provisioning" / "phones.json")

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.renderer.warm)
        try:
            await self._start_https()
        except OSError as exc:
            # the rest of the box runs without phone provisioning rather than not at all
            self._error = f"HTTPS on {self.server.bind}:{self.server.https_port}: {exc.strerror or exc}"
            log.error("phone provisioning is off: %s", self._error)
        try:
            if self.server.tftp_port is not None:
                await self._start_tftp(self.server.tftp_port)
            if self.server.pnp:
                try:
                    sock = pnp_socket(self.server.bind, self.server.pnp_port)
                except OSError as exc:
                    # (no multicast route yet, the port taken): phones can still be provisioned by URL
                    self._error = f"plug-and-play on {PNP_GROUP}:{self.server.pnp_port}: {exc.strerror or exc}"
                    log.error("SIP plug-and-play is off: %s", self._error)
                else:
                    await self.start_pnp(sock)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._pnp is not None:
            self._pnp.close()
            self._pnp = None
        if self._tftp is not None:
            self._tftp.stop(now=True)
            if self._tftp_thread is not None:
                await asyncio.to_thread(self._tftp_thread.join, 5)
            self._tftp, self._tftp_thread = None, None
        https, self._https = self._https, []
        for server in https:
            await asyncio.to_thread(server.stop)

    def listening(self) -> list[str]:
        out = [f"phones https://{self.server.bind}:{self.https_port}/p/<token>/<file>"] if self._https else []
        if self._tftp is not None:
            out.append(f"phones tftp {self.server.bind}:{self.tftp_port}  (no authentication)")
        if self._pnp is not None:
            out.append(f"phones sip-pnp udp {PNP_GROUP}:{self.server.pnp_port}")
        return out

    def health(self) -> Health:
        if self._error:
            return Health.of(self.name, Status.DEGRADED, self._error, counters=dict(self.counters))
        return Health.of(self.name, Status.OK, f"{len(self.inventory)} phones", counters=dict(self.counters),
                         gauges={"phones": float(len(self.inventory))})

    @property
    def https_port(self) -> int:
        if not self._https:
            return self.server.https_port
        return self._https[0].port

    @property
    def tftp_port(self) -> int:
        return int(self._tftp.listenport) if self._tftp is not None else 0

    # ---- the inventory -------------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        return [self.public(r) for r in self.inventory.all()]

    def public(self, record: PhoneRecord) -> dict[str, Any]:
        ext = self.config.store.find("extensions", record.phone.extension)
        in_sync = ext is not None and ext.ha1_md5 == sip_ha1(record.phone.extension, self._realm(),
                                                            record.sip_password, "MD5")
        last = self._last_fetch.get(record.phone.mac)
        return {**phone_to_dict(record.phone), "revoked": record.revoked, "password_in_sync": in_sync,
                "files": sorted(phone_files(record.phone.vendor, record.phone.mac)),
                "last_fetch": {"at": last[0], "file": last[1], "source": last[2]} if last else None}

    def get(self, mac: str) -> PhoneRecord:
        record = self.inventory.get(mac)
        if record is None:
            raise UnknownPhone(mac)
        return record

    async def add(self, phones: list[Phone], actor: Actor) -> list[PhoneRecord]:
        """Add phones: each gets a token and a new SIP password, set on its extension."""
        errors: list[FieldError] = []
        for n, phone in enumerate(phones):
            if self.inventory.get(phone.mac) is not None:
                errors.append(FieldError(f"{n}.mac", "unique", f"phone {phone.mac} is already in the inventory",
                                         f"话机 {phone.mac} 已在清单中"))
            if self.config.store.find("extensions", phone.extension) is None:
                errors.append(FieldError(f"{n}.extension", "exists", f"there is no extension {phone.extension}",
                                         f"没有分机 {phone.extension}"))
        if len({p.mac for p in phones}) != len(phones):
            errors.append(FieldError("mac", "unique", "a MAC is listed twice", "MAC 重复"))
        if errors:
            raise ValidationFailed(errors, "phones")
        records = [PhoneRecord(p, new_token(), new_sip_password()) for p in phones]
        for record in records:
            await self._set_sip_password(record, actor)
        self.inventory.put(records)
        await self._save()
        return records

    async def update(self, phone: Phone, actor: Actor) -> PhoneRecord:
        old = self.get(phone.mac)
        if self.config.store.find("extensions", phone.extension) is None:
            raise ValidationFailed([FieldError("extension", "exists", f"there is no extension {phone.extension}",
                                               f"没有分机 {phone.extension}")], "phone")
        record = replace(old, phone=phone)
        if phone.extension != old.phone.extension:
            record = replace(record, sip_password=new_sip_password())
            await self._set_sip_password(record, actor)
        self.inventory.put([record])
        await self._save()
        return record

    async def remove(self, mac: str) -> None:
        self.get(mac)
        self.inventory.remove(mac)
        await self._save()

    async def revoke(self, mac: str) -> None:
        """The phone's token stops working (HTTPS, TFTP and PnP); `reissue` gives it a new one."""
        self.inventory.put([replace(self.get(mac), revoked=True)])
        await self._save()

    async def reissue(self, mac: str) -> PhoneRecord:
        record = self.inventory.rotated(self.get(mac))
        self.inventory.put([record])
        await self._save()
        return record

    async def rotate_password(self, mac: str, actor: Actor) -> None:
        """A new SIP password: set on the extension now, reaching the phone at its next check."""
        record = replace(self.get(mac), sip_password=new_sip_password())
        await self._set_sip_password(record, actor)
        self.inventory.put([record])
        await self._save()

    async def rehash_passwords(self, actor: Actor) -> set[str]:
        """Set each provisioned phone's password on its extension again (after a change of SIP realm: the
        stored HA1s are per realm). Returns the extensions done."""
        done: set[str] = set()
        for record in self.inventory.all():
            if self.config.store.find("extensions", record.phone.extension) is not None:
                await self._set_sip_password(record, actor)
                done.add(record.phone.extension)
        return done

    def url_of(self, record: PhoneRecord, host: str) -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}:{self.https_port}/p/{record.token}/"

    async def _set_sip_password(self, record: PhoneRecord, actor: Actor) -> None:
        if self.config.store.find("extensions", record.phone.extension) is None:
            raise Conflict(f"there is no extension {record.phone.extension}", f"没有分机 {record.phone.extension}")
        await self.config.set_secret("extensions", record.phone.extension, record.sip_password, actor)

    async def _save(self) -> None:
        async with self._save_lock:
            await asyncio.to_thread(self.inventory.save, self.inventory.document())

    # ---- files ---------------------------------------------------------------------------------------

    def _realm(self) -> str:
        return str(self.config.store.settings.get("sip_realm", DEFAULT_REALM))

    def live(self, local_address: str) -> LiveContext:
        settings = self.config.store.settings
        ntp = settings.get("ntp_servers") or []
        server = self.server.advertise or local_address
        return LiveContext(server=server, port=self.server.sip_port, domain=self._realm(),
                           time_zone=str(settings.get("time_zone") or DEFAULT_TIME_ZONE),
                           ntp=tuple(str(s) for s in ntp))

    def fetch(self, token: str, filename: str, local_address: str, source: str) -> bytes | None:
        record = self.inventory.by_token(token)
        if record is None:
            return self._refuse(source, filename, "unknown or revoked token")
        return self._file_for(record, filename, local_address, source)

    def fetch_by_mac(self, filename: str, local_address: str, source: str) -> bytes | None:
        """TFTP: the file name alone says which phone asks."""
        name = filename.lstrip("/").lower()
        if name in COMMON_FILES:
            self._count("served")
            return self.renderer.common(name, self.live(local_address))
        mac = mac_in(name)
        record = self.inventory.get(mac) if mac else None
        if record is None or record.revoked:
            return self._refuse(source, filename, "MAC not in the inventory" if record is None else "revoked")
        return self._file_for(record, name, local_address, source)

    def _file_for(self, record: PhoneRecord, filename: str, local_address: str, source: str) -> bytes | None:
        live = self.live(local_address)
        name = filename.lower()
        if name in COMMON_FILES:
            if COMMON_FILES[name][0] != record.phone.vendor:
                return self._refuse(source, filename, f"not a {record.phone.vendor.value} file")
            data = self.renderer.common(name, live)
        else:
            ext = self.config.store.find("extensions", record.phone.extension)
            data = self.renderer.for_phone(record, name, live, ext.name if ext is not None else "")
            if data is None:
                return self._refuse(source, filename, f"not a file of phone {record.phone.mac}")
        self._count("served")
        self._last_fetch[record.phone.mac] = (time.time(), name, source)
        return data

    def _count(self, key: str) -> None:
        with self._count_lock:
            self.counters[key] += 1

    def _refuse(self, source: str, filename: str, why: str) -> bytes | None:
        self._count("refused")
        log.warning("provisioning refused %s to %s: %s", filename[:80], source, why)
        return None

    # ---- servers ---------------------------------------------------------------------------------------

    def tls_context(self) -> ssl.SSLContext:
        """The box's one certificate (the web UI's and SIP over TLS's too)."""
        cert, key = box_certificate(self.data_dir, self.server.advertise or "appliance.local")
        ctx = server_context(cert, key)
        # no TLS 1.3 session tickets: a phone fetches at boot and then hours apart, after any ticket's
        # lifetime, and issuing two per connection is a quarter of the box's handshake work in a power cut
        ctx.num_tickets = 0
        return ctx

    async def _start_https(self, sock: socket.socket | None = None) -> None:
        ctx = await asyncio.to_thread(self.tls_context)
        if sock is None:
            sock = socket.create_server((self.server.bind, self.server.https_port), backlog=1024)
        socks = [sock] + [sock.dup() for _ in range(max(1, self.server.https_threads) - 1)]
        for i, s in enumerate(socks):
            https = _HttpsThread(self.fetch, s, ctx, f"phones-https-{i}")
            self._https.append(https)  # stop() ends whatever started, even half
            try:
                await asyncio.to_thread(https.start)
            except BaseException:
                for rest in socks[i + 1:]:
                    rest.close()
                raise

    async def start_https_on(self, sock: socket.socket) -> None:
        """Serve on a socket made elsewhere (a network namespace in tests, an inherited socket on the image)."""
        await self._start_https(sock)

    async def _start_tftp(self, port: int) -> None:
        root = self.data_dir / "provisioning" / "tftp-empty"  # tftpy wants a root; every file is generated
        root.mkdir(parents=True, exist_ok=True)
        bind = self.server.bind

        def dyn(path: str, raddress: str = "", rport: int = 0) -> BinaryIO | None:
            data = self.fetch_by_mac(path, self.server.advertise or (bind if bind != "0.0.0.0" else ""),
                                     f"{raddress}:{rport}")
            if data is None:
                return None
            # tftpy 0.8.7 flocks the file object it is given whatever its flock flag says: a memory-backed
            # file has a descriptor to lock, and the secret never touches a disk.
            f = os.fdopen(os.memfd_create("phone-file", os.MFD_CLOEXEC), "w+b")
            f.write(data)
            f.seek(0)
            return f

        server = tftpy.TftpServer(str(root), dyn_file_func=dyn)
        thread = threading.Thread(target=server.listen, args=(bind, port, 1), name="tftp", daemon=True)
        thread.start()
        started = await asyncio.to_thread(server.is_running.wait, 5)
        if not started:
            server.stop(now=True)
            raise RuntimeError(f"the TFTP server did not start on {bind}:{port}")
        self._tftp, self._tftp_thread = server, thread
        log.warning("TFTP provisioning is on at %s:%s: TFTP has no authentication; anyone who knows a phone's MAC "
                    "can read its SIP password. Prefer HTTPS.", bind, self.tftp_port)

    async def start_pnp(self, sock: socket.socket) -> None:
        """Answer ua-profile SUBSCRIBEs arriving on `sock` (bound, joined to the PnP group)."""
        local = self.local_address or _route_source

        def url_for(mac: str, local_addr: str) -> str | None:
            record = self.inventory.get(mac)
            if record is None or record.revoked:
                return None
            return self.url_of(record, self.server.advertise or local_addr)

        responder = PnpResponder(url_for, local)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _PnpProtocol(self, responder), sock=sock)
        self._pnp = transport


def _new_loop() -> asyncio.AbstractEventLoop:
    try:  # uvloop's TLS is compiled; asyncio's runs its SSL protocol in Python
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class _HttpsThread:
    """The phones' HTTPS server on a thread and event loop of its own: a power cut brings hundreds of phones
    back at once, and their TLS handshakes must not stall the loop that relays RTP. The files are rendered
    there too, from the configuration's immutable snapshot."""

    def __init__(self, fetch: Fetch, sock: socket.socket, ctx: ssl.SSLContext, name: str) -> None:
        self.fetch, self.sock, self.ctx = fetch, sock, ctx
        self.loop = _new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.server: asyncio.Server | None = None
        self.port = int(sock.getsockname()[1])

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self) -> None:
        self.server = await asyncio.get_running_loop().create_server(
            lambda: PhoneHttp(self.fetch), sock=self.sock, ssl=self.ctx, backlog=1024, ssl_handshake_timeout=15)

    def stop(self) -> None:
        if not self.thread.is_alive():
            self.sock.close()
        else:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()

    async def _stop(self) -> None:
        if self.server is None:
            self.sock.close()  # never handed to a server, which would have closed it
            return
        self.server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 5)


class _PnpProtocol(asyncio.DatagramProtocol):
    def __init__(self, service: PhoneService, responder: PnpResponder) -> None:
        self.service, self.responder = service, responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        result = self.responder.datagram(data, (addr[0], addr[1]))
        if not result.answered:
            self.service._count("pnp_ignored")
            log.info("PnP: ignored a datagram from %s:%s: %s", addr[0], addr[1], result.reason)
            return
        self.service._count("pnp_answered")
        assert self.transport is not None
        for out in result.out:
            self.transport.sendto(out.data, out.to)


def _route_source(peer: str) -> str:
    """The source address the kernel would use towards `peer` (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((peer, 9))
        return str(s.getsockname()[0])


def pnp_socket(bind: str, port: int) -> socket.socket:
    """The plug-and-play listener: bound to the group address itself, so it receives only what is sent to the
    group and never the box's unicast SIP on the same port (see `appliance.sip.transport.udp_socket`)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((PNP_GROUP, port))
        iface = socket.inet_aton(bind if bind not in ("", "0.0.0.0") else "0.0.0.0")
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(PNP_GROUP) + iface)
    except OSError:
        s.close()
        raise
    return s
