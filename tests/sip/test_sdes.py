"""SDES (RFC 4568): a=crypto parsing and rendering against the RFC's own examples, and the offer/answer
decisions per SRTP policy (off, offered, required) and transport (keys only over TLS)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from appliance.domain.models import SrtpPolicy
from appliance.sip.sdes import (
    AVP,
    SAVP,
    Offer,
    answer_crypto,
    carry_crypto,
    crypto_offer,
    keys_from_answer,
    new_crypto,
    parse_crypto,
    rekeyed,
)
from appliance.sip.sdp import NotAcceptable, parse_sdp, render

# RFC 4568 §4 (the attribute's example) and §7.1 / §8.1 (the offer's attributes, with FEC_ORDER)
RFC_EXAMPLE = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
RFC_OFFER_1 = ("1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 "
               "FEC_ORDER=FEC_SRTP")
RFC_OFFER_2 = ("2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
               "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP")


def sdp(proto: str, *crypto: str, port: int = 49170) -> bytes:
    lines = ["v=0", "o=phone 1 1 IN IP4 192.0.2.7", "s=-", "c=IN IP4 192.0.2.7", "t=0 0",
             f"m=audio {port} {proto} 8 0 101", "a=rtpmap:101 telephone-event/8000",
             *(f"a=crypto:{c}" for c in crypto), "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_rfc_example_attribute_parses_field_by_field() -> None:
    c = parse_crypto(RFC_EXAMPLE)
    assert (c.tag, c.suite, c.lifetime, c.mki, c.session_params) == (1, "AES_CM_128_HMAC_SHA1_80", 1 << 20,
                                                                     (1, 32), ())
    assert len(c.key) == 30 and c.key == base64.b64decode("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    assert c.render() == RFC_EXAMPLE  # and back, character for character
    assert c.unsupported() == "MKI not supported"  # (libsrtp's policy here carries no MKI)


def test_the_rfc_offer_attributes_parse_with_several_keys_and_session_parameters() -> None:
    first, second = parse_crypto(RFC_OFFER_1), parse_crypto(RFC_OFFER_2)
    assert first.session_params == ("FEC_ORDER=FEC_SRTP",) and first.mki == (1, 4)
    assert second.suite == "F8_128_HMAC_SHA1_80" and second.extra_keys == 1
    assert second.unsupported() == "crypto suite F8_128_HMAC_SHA1_80 not supported"
    assert first.render() == RFC_OFFER_1


@pytest.mark.parametrize("bad", ["", "x AES_CM_128_HMAC_SHA1_80 inline:AAAA", "1 AES_CM_128_HMAC_SHA1_80",
                                 "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.com/key",
                                 "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
                                 "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|junk"])
def test_malformed_attributes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_crypto(bad)


def test_sdp_keeps_crypto_lines_through_parse_and_render() -> None:
    body = sdp(SAVP, RFC_OFFER_1, RFC_OFFER_2)
    sd = parse_sdp(body)
    assert sd.media[0].proto == SAVP and sd.media[0].crypto == (RFC_OFFER_1, RFC_OFFER_2)
    assert parse_sdp(render(sd)).media[0].crypto == (RFC_OFFER_1, RFC_OFFER_2)


def test_answer_takes_the_first_offered_suite_we_support_with_a_key_of_our_own() -> None:
    gcm = f"3 AEAD_AES_128_GCM inline:{b64(bytes(range(28)))}"
    cm80 = f"4 AES_CM_128_HMAC_SHA1_80 inline:{b64(bytes(range(30)))}|2^31"
    got = answer_crypto(parse_sdp(sdp(SAVP, RFC_OFFER_2, gcm, cm80)), SrtpPolicy.OFFERED, over_tls=True)
    assert got.proto == SAVP and got.crypto is not None and got.keys is not None
    assert (got.crypto.tag, got.crypto.suite) == (3, "AEAD_AES_128_GCM")  # F8 skipped, then the offerer's order
    assert got.keys.rx_key == bytes(range(28)) and got.keys.tx_key == got.crypto.key != got.keys.rx_key
    assert len(got.crypto.key) == 28
    # the answer's attribute is what the peer will parse
    again = parse_crypto(got.crypto.render())
    assert again.key == got.crypto.key and again.unsupported() is None


def test_rfc_offer_with_fec_order_is_usable() -> None:
    body = sdp(SAVP, f"1 AES_CM_128_HMAC_SHA1_80 inline:{b64(bytes(30))}|2^20 FEC_ORDER=FEC_SRTP")
    got = answer_crypto(parse_sdp(body), SrtpPolicy.REQUIRED, over_tls=True)
    assert got.keys is not None and got.keys.suite == "AES_CM_128_HMAC_SHA1_80"


CM80 = f"1 AES_CM_128_HMAC_SHA1_80 inline:{b64(bytes(range(30)))}"


@pytest.mark.parametrize(("policy", "tls", "proto", "crypto", "result"), [
    # policy off: plain, and RTP/SAVP refused
    (SrtpPolicy.OFF, True, AVP, (), "plain"),
    (SrtpPolicy.OFF, True, AVP, (CM80,), "plain"),
    (SrtpPolicy.OFF, True, SAVP, (CM80,), "SRTP is off"),
    # offered: SRTP when the peer offers it over TLS, plain otherwise
    (SrtpPolicy.OFFERED, True, AVP, (), "plain"),
    (SrtpPolicy.OFFERED, True, AVP, (CM80,), "srtp"),  # best effort, RTP/AVP with a=crypto
    (SrtpPolicy.OFFERED, True, SAVP, (CM80,), "srtp"),
    (SrtpPolicy.OFFERED, False, AVP, (CM80,), "plain"),  # keys sent in the clear are not used
    (SrtpPolicy.OFFERED, False, SAVP, (CM80,), "only over SIP TLS"),
    (SrtpPolicy.OFFERED, True, SAVP, (RFC_EXAMPLE,), "no usable SRTP crypto suite"),
    (SrtpPolicy.OFFERED, True, AVP, (RFC_EXAMPLE,), "plain"),
    # required: an offer of plain RTP gets 488
    (SrtpPolicy.REQUIRED, True, AVP, (), "required and the offer has only RTP"),
    (SrtpPolicy.REQUIRED, False, AVP, (), "only over SIP TLS"),
    (SrtpPolicy.REQUIRED, False, SAVP, (CM80,), "only over SIP TLS"),
    (SrtpPolicy.REQUIRED, True, AVP, (RFC_EXAMPLE,), "no usable SRTP crypto suite"),
    (SrtpPolicy.REQUIRED, True, AVP, (CM80,), "srtp"),
    (SrtpPolicy.REQUIRED, True, SAVP, (CM80,), "srtp"),
])
def test_answer_decisions(policy: SrtpPolicy, tls: bool, proto: str, crypto: tuple[str, ...], result: str) -> None:
    offer = parse_sdp(sdp(proto, *crypto))
    if result in ("plain", "srtp"):
        got = answer_crypto(offer, policy, tls)
        assert got.proto == proto
        assert (got.keys is not None) == (result == "srtp")
    else:
        with pytest.raises(NotAcceptable) as info:
            answer_crypto(offer, policy, tls)
        assert info.value.status == 488 and result in str(info.value)


def test_our_offer_per_policy_and_transport() -> None:
    assert crypto_offer(SrtpPolicy.OFF, True) == Offer()
    assert crypto_offer(SrtpPolicy.OFFERED, False) == Offer()
    with pytest.raises(NotAcceptable):
        crypto_offer(SrtpPolicy.REQUIRED, False)
    best_effort = crypto_offer(SrtpPolicy.OFFERED, True)
    assert best_effort.proto == AVP and not best_effort.required
    assert [(c.tag, c.suite) for c in best_effort.cryptos] == [(1, "AEAD_AES_128_GCM"), (2, "AES_CM_128_HMAC_SHA1_80")]
    mandatory = crypto_offer(SrtpPolicy.REQUIRED, True)
    assert mandatory.proto == SAVP and mandatory.required
    # fresh keys every time, never reused between legs
    assert best_effort.cryptos[0].key != mandatory.cryptos[0].key


def test_keys_from_the_answer_to_our_offer() -> None:
    offer = crypto_offer(SrtpPolicy.OFFERED, True)
    theirs = new_crypto(2, "AES_CM_128_HMAC_SHA1_80")
    keys = keys_from_answer(offer, parse_sdp(sdp(AVP, theirs.render())))
    assert keys is not None and keys.suite == "AES_CM_128_HMAC_SHA1_80"
    assert keys.tx_key == offer.cryptos[1].key and keys.rx_key == theirs.key
    assert keys_from_answer(offer, parse_sdp(sdp(AVP))) is None  # best effort: plain answer, plain leg
    required = crypto_offer(SrtpPolicy.REQUIRED, True)
    with pytest.raises(NotAcceptable):
        keys_from_answer(required, parse_sdp(sdp(SAVP)))
    with pytest.raises(NotAcceptable):  # a tag we never offered with that suite
        keys_from_answer(required, parse_sdp(sdp(SAVP, new_crypto(1, "AES_CM_128_HMAC_SHA1_80").render())))
    assert "inline:" not in repr(keys)  # keys never reach a log through repr


def test_reinvite_answers_keep_the_legs_key_and_follow_the_peers_new_one() -> None:
    ours = new_crypto(1, "AES_CM_128_HMAC_SHA1_80")
    mine = parse_sdp(sdp(SAVP, ours.render(), port=20000))
    reoffer_key = new_crypto(7, "AES_CM_128_HMAC_SHA1_80")
    reoffer = parse_sdp(sdp(SAVP, reoffer_key.render()))
    plain_answer = parse_sdp(sdp(SAVP, port=20000))
    carried = carry_crypto(plain_answer, mine, reoffer)
    again = parse_crypto(carried.media[0].crypto[0])
    assert again.tag == 7 and again.key == ours.key
    with pytest.raises(NotAcceptable):  # no downgrade inside the dialog
        carry_crypto(plain_answer, mine, parse_sdp(sdp(AVP)))
    with pytest.raises(NotAcceptable):  # nor an upgrade the engine would not follow
        carry_crypto(plain_answer, parse_sdp(sdp(AVP, port=20000)), reoffer)
    from appliance.media import SrtpKeys
    keys = SrtpKeys("AES_CM_128_HMAC_SHA1_80", ours.key, bytes(30))
    assert rekeyed(keys, reoffer).rx_key == reoffer_key.key and rekeyed(keys, reoffer).tx_key == ours.key


async def test_each_leg_takes_its_extensions_or_trunks_policy_from_the_store(tmp_path: Path) -> None:
    from appliance.domain import models as m
    from appliance.domain.kinds import all_kinds
    from appliance.sip.trunk_config import srtp_policies
    from appliance.store.config_store import ConfigStore

    store = ConfigStore.open(tmp_path, all_kinds())
    try:
        await store.create("extensions", m.Extension(number="2001", srtp=m.SrtpPolicy.REQUIRED))
        await store.create("extensions", m.Extension(number="2002"))
        await store.create("trunks", m.Trunk(id="carrier", name="Carrier", host="192.0.2.1",
                                             srtp=m.SrtpPolicy.OFF))
        policy = srtp_policies(store)
        assert policy("2001", None) is m.SrtpPolicy.REQUIRED
        assert policy("2002", None) is m.SrtpPolicy.OFFERED  # the default
        assert policy(None, "carrier") is m.SrtpPolicy.OFF
        assert policy(None, None) is m.SrtpPolicy.OFFERED
        await store.update("extensions", m.Extension(number="2002", srtp=m.SrtpPolicy.OFF))
        assert policy("2002", None) is m.SrtpPolicy.OFF  # an edit applies to the next leg
    finally:
        store.close()


def test_keys_go_to_an_extension_only_when_every_contact_registered_over_tls(tmp_path: Path) -> None:
    from appliance.clock import ManualClock
    from appliance.events import EventBus
    from appliance.sip.digest import InMemoryCredentials
    from appliance.sip.models import SipConfig, TrunkConfig
    from appliance.sip.service import SipService
    from appliance.sip.transaction import Address

    clock = ManualClock()
    sip = SipService(SipConfig(trunks=(TrunkConfig(name="secure", host="192.0.2.9", transport="TLS"),
                                       TrunkConfig(name="plain", host="192.0.2.8"))),
                     InMemoryCredentials(), tmp_path, EventBus(), clock)
    registrar = sip.core.registrar
    now = clock.monotonic()
    registrar.update("3001", [("sip:3001@192.0.2.5:5061;transport=tls", {})], False, 600, "a", 1,
                     Address("TLS", "192.0.2.5", 40000), "desk phone", now)
    assert sip.transport_to(extension="3001") == "TLS"
    registrar.update("3001", [("sip:3001@192.0.2.6:5060", {})], False, 600, "b", 1,
                     Address("UDP", "192.0.2.6", 5060), "softphone", now)
    assert sip.transport_to(extension="3001") == "UDP"  # one contact in the clear: no keys to any of them
    assert sip.transport_to(extension="3999") is None
    assert sip.transport_to(trunk="secure") == "TLS" and sip.transport_to(trunk="plain") == "UDP"


async def test_a_leg_that_requires_srtp_is_not_rung_where_keys_cannot_go(tmp_path: Path) -> None:
    """An extension whose policy is required, registered over UDP: nothing is sent, and call control hears
    Q.850 65 (bearer capability not implemented: 488 on the SIP side) at once."""
    from appliance.clock import ManualClock
    from appliance.domain.models import SrtpPolicy
    from appliance.events import EventBus
    from appliance.legs.causes import Cause
    from appliance.legs.models import LegRefused, OutboundLeg
    from appliance.media import MediaConfig, MediaEngine
    from appliance.sip.digest import InMemoryCredentials
    from appliance.sip.leg_provider import SipLegProvider
    from appliance.sip.models import SipConfig
    from appliance.sip.sdp_media import SdpBuilder
    from appliance.sip.service import SipService
    from appliance.sip.transaction import Address

    clock = ManualClock()
    sip = SipService(SipConfig(), InMemoryCredentials(), tmp_path, EventBus(), clock)
    sip.core.registrar.update("3001", [("sip:3001@192.0.2.6:5060", {})], False, 600, "b", 1,
                              Address("UDP", "192.0.2.6", 5060), "softphone", clock.monotonic())
    media = MediaEngine(MediaConfig(port_low=40000, port_high=40010), EventBus())
    provider = SipLegProvider(sip, media, SdpBuilder(), srtp_policy=lambda ext, trunk: SrtpPolicy.REQUIRED)
    with pytest.raises(LegRefused) as info:
        await provider.create(OutboundLeg(callee="3001", caller="1005", extension="3001"))
    assert info.value.cause is Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED and "TLS" in str(info.value)
    assert media.endpoint_count == 0 and provider.leg_count == 0 and not sip.core.legs
