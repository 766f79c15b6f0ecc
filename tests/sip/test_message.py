"""Message syntax: parsing, folding, compact forms, URIs, name-addr, framing, serialisation."""

from __future__ import annotations

import pytest

from appliance.sip.errors import SipParseError
from appliance.sip.header_values import parse_name_addr, parse_uri, parse_via
from appliance.sip.message import SipMessage, make_response
from appliance.sip.parser import StreamFramer, parse
from appliance.sip.syntax import split_commas

REQ = (
    b"INVITE sip:1002@pbx.example.com;transport=udp SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKabc;rport, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKdef\r\n"
    b"Via: SIP/2.0/UDP third.example.com;branch=z9hG4bKghi\r\n"
    b"f: \"Alice \\\"A\\\" Smith\" <sip:1001@pbx.example.com>;tag=aa1\r\n"
    b"t: Bob <sip:1002@pbx.example.com>\r\n"
    b"i: abc@10.0.0.5\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Max-Forwards: 70\r\n"
    b"m: <sip:1001@10.0.0.5:5062>;expires=60, \"x, y\" <sip:other@10.0.0.6>\r\n"
    b"Subject: folded\r\n  across lines\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n\r\n"
    b"v=0\r\ntrailing junk"
)


def test_parse_request_with_compact_forms_folding_and_lists() -> None:
    m = parse(REQ)
    assert m.method == "INVITE" and m.uri.startswith("sip:1002@")
    assert [v.host for v in m.vias] == ["10.0.0.5", "proxy.example.com", "third.example.com"]
    assert m.vias[0].port == 5062 and "rport" in m.vias[0].params
    assert m.from_.display == 'Alice "A" Smith' and m.from_.tag == "aa1"
    assert m.to.display == "Bob" and m.to.tag is None
    assert m.call_id == "abc@10.0.0.5" and m.cseq == (7, "INVITE")
    assert m.get("subject") == "folded across lines"
    contacts = [parse_name_addr(c) for c in m.get_all("contact")]
    assert contacts[0].params["expires"] == "60" and contacts[1].display == "x, y"
    assert m.body == b"v=0\r"  # Content-Length wins on UDP; the rest of the datagram is ignored


def test_serialise_round_trip() -> None:
    m = parse(REQ)
    again = parse(m.serialize())
    assert again.get_all("via") == m.get_all("via")
    assert again.body == m.body
    assert b"Call-ID: abc@10.0.0.5\r\n" in m.serialize()
    assert b"Content-Length: 4\r\n" in m.serialize()


def test_response_building_copies_the_right_headers() -> None:
    m = parse(REQ)
    r = make_response(m, 180, "Ringing", "xyz")
    assert r.to.tag == "xyz" and r.get_all("via") == m.get_all("via") and r.get("contact") is None
    parsed = parse(r.serialize())
    assert parsed.status == 180 and parsed.reason == "Ringing"


@pytest.mark.parametrize("bad,status", [
    (REQ.replace(b"SIP/2.0\r\nv:", b"SIP/3.0\r\nv:", 1), 505),
    (REQ.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), 400),
    (REQ.replace(b"i: abc@10.0.0.5\r\n", b""), 400),
    (REQ.replace(b"l: 4", b"l: 400"), 400),
    (REQ.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400),
    (REQ.replace(b"INVITE sip:", b"INVITE  sip:", 1), 400),
])
def test_malformed_requests_carry_status_and_message(bad: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as info:
        parse(bad)
    assert info.value.status == status
    assert info.value.message is not None and info.value.message.method is not None


def test_uri_forms() -> None:
    u = parse_uri("sips:alice:pw@[2001:db8::1]:5071;transport=tcp;lr?subject=hi")
    assert (u.scheme, u.user, u.password, u.host, u.port) == ("sips", "alice", "pw", "[2001:db8::1]", 5071)
    assert u.params == {"transport": "tcp", "lr": ""} and u.headers == "subject=hi"
    assert u.host_port() == ("2001:db8::1", 5071)
    assert parse_uri("sip:user;par=u%40example.net@example.com").user_unescaped == "user;par=u@example.net"
    tel = parse_uri("tel:+1-201-555-0123")
    assert not tel.is_sip and str(tel) == "tel:+1-201-555-0123"
    assert str(parse_uri("sip:1001@10.0.0.1:5060;transport=udp")) == "sip:1001@10.0.0.1:5060;transport=udp"
    with pytest.raises(SipParseError):
        parse_uri("sip:bad host@example.com")


def test_name_addr_rules() -> None:
    assert parse_name_addr("sip:a@b;tag=1").tag == "1"  # addr-spec: params belong to the header
    assert parse_name_addr("<sip:a@b;lr>;tag=2").uri == "sip:a@b;lr"
    assert parse_name_addr("*").uri == "*"
    for bad in ("Bell, Alexander <sip:a@b>", "< sip:a@b>", '"open <sip:a@b>', "sip:a@b?x=y"):
        with pytest.raises(SipParseError):
            parse_name_addr(bad)


def test_via_and_commas() -> None:
    v = parse_via("SIP / 2.0 / UDP 192.0.2.1:5060 ; branch=z9hG4bK1;received=1.2.3.4")
    assert (v.transport, v.host, v.port, v.branch) == ("UDP", "192.0.2.1", 5060, "z9hG4bK1")
    assert split_commas('"a,b" <sip:x>, <sip:y;p=1,2>') == ['"a,b" <sip:x>', "<sip:y;p=1,2>"]


def test_stream_framing_by_content_length() -> None:
    one = SipMessage.request("OPTIONS", "sip:x@y", [
        ("Via", "SIP/2.0/TCP h;branch=z9hG4bK1"), ("From", "<sip:a@b>;tag=1"), ("To", "<sip:x@y>"),
        ("Call-ID", "c1"), ("CSeq", "1 OPTIONS")], b"hello").serialize()
    f = StreamFramer()
    out = list(f.feed(b"\r\n\r\n" + one[:10]))
    out += list(f.feed(one[10:] + one))
    assert out == [one, one]
    with pytest.raises(SipParseError):
        list(StreamFramer().feed(b"OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n"))
    with pytest.raises(SipParseError):
        parse(b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
              b"To: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n", stream=True)


def test_bare_lf_and_leading_crlf_are_tolerated() -> None:
    m = parse(b"\r\nOPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\n"
              b"To: <sip:x@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n")
    assert m.method == "OPTIONS"
