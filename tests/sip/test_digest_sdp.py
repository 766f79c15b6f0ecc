"""Digest (server and client, MD5 and SHA-256, stale nonces, nonce counts) and SDP offer/answer."""

from __future__ import annotations

import pytest

from appliance.sip.digest import DigestClient, DigestServer, InMemoryCredentials, ha1, parse_auth_params
from appliance.sip.sdp import MediaCapabilities, NotAcceptable, answer, make_offer, parse_sdp, render

REALM = "pbx.test"


def server() -> DigestServer:
    creds = InMemoryCredentials()
    creds.add("1001", "pw", REALM)
    return DigestServer(REALM, creds, b"k" * 32, nonce_ttl=30)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_client_answers_server_challenge(algorithm: str) -> None:
    s = server()
    challenge = next(c for c in s.challenges(100.0) if f"algorithm={algorithm}" in c)
    auth = DigestClient("1001", "pw").authorization(challenge, "REGISTER", "sip:pbx.test")
    assert auth is not None
    r = s.check("REGISTER", [auth], "10.0.0.1", 101.0)
    assert r.status == 0 and r.extension == "1001"
    # the same nonce count again is a replay
    assert s.check("REGISTER", [auth], "10.0.0.1", 102.0).status == 401


def test_wrong_password_and_unknown_user_look_the_same() -> None:
    s = server()
    ch = s.challenges(0.0)[0]
    wrong = DigestClient("1001", "nope").authorization(ch, "INVITE", "sip:x@pbx.test")
    unknown = DigestClient("9999", "pw").authorization(ch, "INVITE", "sip:x@pbx.test")
    a = s.check("INVITE", [wrong or ""], "10.0.0.1", 1.0)
    b = s.check("INVITE", [unknown or ""], "10.0.0.1", 1.0)
    assert (a.status, a.extension, a.stale) == (b.status, b.extension, b.stale) == (403, None, False)


def test_expired_nonce_is_stale_and_foreign_nonce_rechallenged() -> None:
    s = server()
    ch = s.challenges(0.0)[0]
    auth = DigestClient("1001", "pw").authorization(ch, "REGISTER", "sip:pbx.test") or ""
    r = s.check("REGISTER", [auth], "10.0.0.1", 100.0)
    assert r.status == 401 and r.stale
    other = DigestServer(REALM, InMemoryCredentials(), b"z" * 32)
    forged = DigestClient("1001", "pw").authorization(other.challenges(0.0)[0], "REGISTER", "sip:pbx.test") or ""
    assert s.check("REGISTER", [forged], "10.0.0.1", 1.0).status == 401


def test_allowed_networks() -> None:
    import ipaddress

    creds = InMemoryCredentials()
    creds.add("1001", "pw", REALM, (ipaddress.ip_network("192.168.1.0/24"),))
    s = DigestServer(REALM, creds, b"k" * 32)
    ch = s.challenges(0.0)[0]
    client = DigestClient("1001", "pw")
    auth = client.authorization(ch, "REGISTER", "sip:pbx.test") or ""
    assert s.check("REGISTER", [auth], "10.0.0.1", 1.0).status == 403
    auth2 = client.authorization(ch, "REGISTER", "sip:pbx.test") or ""  # next nonce count
    assert s.check("REGISTER", [auth2], "192.168.1.20", 1.0).status == 0


def test_ha1_and_auth_params() -> None:
    import hashlib

    assert ha1("MD5", "a", "r", "p") == hashlib.md5(b"a:r:p").hexdigest()
    assert ha1("SHA-256", "a", "r", "p") == hashlib.sha256(b"a:r:p").hexdigest()
    scheme, p = parse_auth_params('Digest realm="a, b", nonce=xyz, qop="auth,auth-int"')
    assert scheme == "digest" and p == {"realm": "a, b", "nonce": "xyz", "qop": "auth,auth-int"}


OFFER = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 18 0 8 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
         b"a=fmtp:101 0-15\r\na=ptime:30\r\na=sendonly\r\nm=video 5000 RTP/AVP 31\r\n")


def test_answer_picks_offerers_first_supported_codec_and_mirrors_direction() -> None:
    a = answer(parse_sdp(OFFER), "10.0.0.1", 7000, 5)
    audio = a.audio
    assert audio is not None
    assert [c.name for c in audio.codecs] == ["PCMU", "TELEPHONE-EVENT"]
    assert audio.direction == "recvonly" and audio.ptime == 30
    assert a.media[1].port == 0  # video refused
    again = parse_sdp(render(a))
    assert again.audio is not None and again.audio.port == 7000 and again.audio.codecs[0].pt == 0


def test_no_common_codec_is_488() -> None:
    offer = OFFER.replace(b"18 0 8 101", b"18")
    with pytest.raises(NotAcceptable) as info:
        answer(parse_sdp(offer), "10.0.0.1", 7000, 5)
    assert info.value.status == 488


def test_offer_and_hold_forms() -> None:
    o = parse_sdp(render(make_offer("10.0.0.1", 7000, 9, MediaCapabilities(codecs=("PCMU",)))))
    assert o.audio is not None and [c.name for c in o.audio.codecs] == ["PCMU", "TELEPHONE-EVENT"]
    old_hold = OFFER.replace(b"c=IN IP4 10.0.0.9", b"c=IN IP4 0.0.0.0").replace(b"a=sendonly\r\n", b"")
    assert parse_sdp(old_hold).direction == "sendonly"  # RFC 2543 hold
