"""SIP signalling engine: a sans-IO core (`core.SipCore`) in a thin asyncio shell (`service.SipService`).

Layout
------
Messages        syntax.py (header names, lists, quoting, escapes), header_values.py (URI, name-addr, Via, CSeq;
                RFC 3261 §19, §20, §25), message.py (the message, serialising, responses; §7, §8.2.6),
                parser.py (bytes → message, validation, stream framing; §7, §18.3, RFC 4475)
Protocol        transaction.py (§17 state tables, timers A-M), dialog.py (dialogs, the leg state table),
                digest.py (digest server/client, MD5 + SHA-256, RFC 8760), registrar.py (bindings, expiry,
                persistence snapshot, §10), security.py (rate limit, failure blocking), sdp.py (offer/answer
                for PCMA/PCMU/telephone-event), bodies.py (SDP, sipfrag and DTMF bodies)
The engine      core.py: `SipCore`, the sans-IO façade, over parts that share one `context.CoreContext`:
                request_checks.py (§8.2 checks, capabilities, §18.2 routing), authentication.py (admission,
                digest, §22), register_handler.py (REGISTER, §10.3), uas.py / uac.py (inbound / outbound
                INVITE, CANCEL, §13, §9, RFC 3262), forking.py (parallel forking to an extension's contacts),
                in_dialog.py (BYE, re-INVITE, UPDATE, INFO, REFER/NOTIFY; RFC 3311, 3515, 3891),
                talk.py (remote answer of a ringing phone: BroadSoft talk event, NOTIFY in the early dialog),
                session_timers.py (RFC 4028), trunk_registration.py (§10.2 towards carriers), qualify.py
                (OPTIONS probes), timers.py (the core's own deadlines)
The shell       service.py (sockets, clock, persistence, health), transport.py (UDP/TCP/TLS, self-signed
                certificate)
API             models.py (SipConfig, TrunkConfig, CallerIdRule), events.py (events, topic "sip.*"),
                trunk_config.py (the stored configuration's SIP trunks as TrunkConfig)
Legs            leg_provider.py (`SipLegProvider`: SIP as one `appliance.legs` provider — owns each leg's
                RTP endpoint and SDP, maps events and causes), sdp_media.py (SDP ↔ the media engine's
                values, RFC 3264), causes.py (SIP status ↔ Q.850 cause, RFC 3398 §7.2.4.1 and §8.2.6.1),
                sdes.py (SRTP keys in SDP, RFC 4568, and each leg's SRTP policy: off / offered / required,
                keys only over TLS; `trunk_config.srtp_policies` reads the policy from the configuration)

Test tooling lives with the tests: `tests/sip/minirouter.py` (a minimal router over this API) and
`tests/sip/testserver.py` (`python -m tests.sip.testserver`, a standalone server for interop tests and
`bench/sip_cps.py`).

Composition root
----------------
    from appliance.sip.service import SipService
    from appliance.sip.models import SipConfig, TrunkConfig

    sip = SipService(config: SipConfig, credentials: CredentialSource, data_dir: Path, bus: EventBus,
                     clock: Clock | None = None, on_event: Callable[[Event], None] | None = None)
    await sip.start()        # binds UDP/TCP/TLS (port 0 = any free port; None = transport off); sip.ports
    ...
    sip.health()             # appliance.health.Health: status, counters (messages, violations, auth
                             # failures ...) and gauges (registrations, legs, transactions, trunks)
    await sip.stop()         # closes every socket, connection, timer and task; writes the bindings

Every event is published on `bus` (topics "sip.*") and handed to `on_event` (call control), stamped with
the wall clock. Registrar bindings live in `data_dir/sip_bindings.json` (atomic write on a worker thread,
restored on start).
Without `tls_cert`/`tls_key` a self-signed pair is created in `data_dir` on first start. Use
`service.run_event_loop(main)` to run on uvloop when it is installed.

Credentials are injected, never stored here in plaintext (`digest.CredentialSource`):

    class CredentialSource(Protocol):
        def lookup(self, extension: str, realm: str) -> Credential | None: ...

    @dataclass(frozen=True)
    class Credential:
        extension: str
        ha1: Mapping[str, str]                     # {"MD5": md5(ext:realm:pw), "SHA-256": sha256(...)}
        allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()   # empty: anywhere

`digest.ha1(algorithm, user, realm, password)` computes the value a store keeps. Unknown extensions and
wrong passwords get the same 403; failures block the *source*, never the extension, each block twice the last
(`AuthBlocked`, `AuthUnblocked` + a warning log line); failures on one extension from many sources raise
`ExtensionUnderAttack`; requests beyond `SecurityPolicy.rate_per_source` are dropped, and a source holding too
many unanswered transactions or calls gets 503 (see `security`). `SipService.blocks()` / `lift_block(source)` /
`set_security(policy)` are the admin's handles (`security_service`, `http`).

B2BUA API for call control
--------------------------
Inbound: an `IncomingCall` event (leg_id, caller, caller_name, callee, sdp_offer, source, transport,
extension | trunk, call_id, replaces) — phones are digest-authenticated (407), trunks by source network.
Then, on `SipService` (each call sends at once; `sip.leg(leg_id)` gives a `SipLeg` handle with the same
methods; call control does not use this API directly but `leg_provider.SipLegProvider`, which implements the
protocol-neutral `appliance.legs` interface on top of it):

    sip.progress(leg_id, sdp=None)            # 180, or 183 with early media (reliable if the phone does 100rel)
    sip.answer(leg_id, sdp)                   # 200 OK; retransmitted until ACK; session timer honoured
    sip.reject(leg_id, status)                # 3xx-6xx
    sip.hangup(leg_id)                        # BYE / CANCEL / 480, whatever the state needs
    sip.hold(leg_id) / sip.unhold(leg_id)     # re-INVITE with sendonly|inactive / sendrecv
    sip.send_dtmf(leg_id, digit, duration_ms=160)          # SIP INFO application/dtmf-relay
    sip.refer(leg_id, target_uri, replaces_leg=None)       # blind, or attended with Replaces (RFC 3891)
    sip.transfer_progress(leg_id, status)     # answer a received REFER with NOTIFY message/sipfrag
    leg = sip.create_leg(callee=..., sdp_offer=..., caller=..., caller_name=None,
                         extension="1001" | trunk="carrier" | uri="sip:...")   # outbound leg

Outcomes arrive as events: `LegProgress` (180/183 + early SDP), `LegAnswered` (sdp), `LegEnded` (cause:
hangup_local, hangup_remote, rejected, cancelled, timeout (408), transport_error (503), no_answer,
session_expired, failed; status),
`LegMediaChanged` (the far end re-INVITEd/UPDATEd: hold is direction sendonly/inactive; we answered from
our own description because media is anchored in the appliance), `DtmfReceived` (SIP INFO),
`TransferRequested` (REFER received: target, target_user, replaces_leg), `TransferProgress` (NOTIFY for a
REFER we sent). A command that the leg's state does not allow raises `errors.LocalProtocolError`
(`UnknownLeg` for an unknown id); malformed input from peers never raises: it is answered or dropped.

Outbound legs to an extension ring all its reachable registered contacts in parallel (first answer wins;
call control sees one leg), each at the address its REGISTER came from (NAT-safe). Trunk hosts and
contacts may be host names: the shell resolves them (A records, cached a minute; no SRV/NAPTR yet). Outbound legs through a trunk answer 401/407 with the trunk's digest
credentials and apply its outbound caller-ID rules; inbound calls from a trunk get its inbound rules.
`sip.set_trunks(trunks)` applies a changed trunk list while running: new registering trunks register at once,
removed or disabled ones are un-registered (Expires: 0), ones whose registration settings changed do both.
Registrar, trunk and security events: `RegistrationChanged`, `ContactReachability` (OPTIONS qualify),
`TrunkRegistrationChanged` (with back-off), `AuthFailed`, `AuthBlocked`, `AuthUnblocked`, `ExtensionUnderAttack`,
`RateLimited`, `ProtocolViolation`.
"""
