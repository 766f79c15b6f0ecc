"""The RFC 3261 §17 transaction machines with explicit time: retransmission and timeout timers."""

from __future__ import annotations

import pytest

from appliance.sip.message import SipMessage, make_response
from appliance.sip.parser import parse
from appliance.sip.transaction import Address, S, Transaction, TransactionLayer, TransactionUser

UDP = Address("UDP", "192.0.2.1", 5060)
TCP = Address("TCP", "192.0.2.1", 5060)


class Recorder(TransactionUser):
    def __init__(self) -> None:
        self.responses: list[int] = []
        self.timeouts: list[str] = []

    def on_response(self, tx: Transaction, response: SipMessage, now: float) -> None:
        self.responses.append(response.status)

    def on_timeout(self, tx: Transaction, now: float) -> None:
        self.timeouts.append(tx.request.method or "")


class Layer(TransactionLayer):
    """The layer with a record of what it sent and when (the time of the timer being handled)."""

    def __init__(self, tu: Recorder) -> None:
        self.now = 0.0
        self.sent: list[tuple[float, bytes]] = []
        super().__init__(tu, lambda data, dest: self.sent.append((self.now, data)))


def layer() -> tuple[Layer, Recorder, list[tuple[float, bytes]]]:
    tu = Recorder()
    tl = Layer(tu)
    return tl, tu, tl.sent


def run_until(tl: Layer, end: float) -> None:
    while True:
        dl = tl.next_deadline()
        if dl is None or dl > end:
            return
        tl.now = dl
        tl.handle_timeout(dl)


def request(method: str, branch: str = "z9hG4bKt1") -> SipMessage:
    return parse((f"{method} sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n"
                  f"From: <sip:a@b>;tag=f\r\nTo: <sip:x@192.0.2.1>\r\nCall-ID: tx1\r\nCSeq: 1 {method}\r\n"
                  f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())


def test_client_non_invite_timer_e_caps_at_t2_and_f_times_out() -> None:
    tl, tu, sent = layer()
    tl.send_request(request("OPTIONS"), UDP, 0.0)
    run_until(tl, 40.0)
    times = [t for t, _ in sent]
    assert times[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]  # doubling, then every T2 = 4 s
    assert tu.timeouts == ["OPTIONS"] and max(times) < 32.0
    assert tl.clients == {}


def test_client_non_invite_over_tcp_does_not_retransmit() -> None:
    tl, tu, sent = layer()
    tl.send_request(request("OPTIONS"), TCP, 0.0)
    run_until(tl, 40.0)
    assert len(sent) == 1 and tu.timeouts == ["OPTIONS"]


def test_client_invite_acks_failure_and_absorbs_its_retransmission() -> None:
    tl, tu, sent = layer()
    req = request("INVITE")
    tx = tl.send_request(req, UDP, 0.0)
    busy = make_response(req, 486, "Busy Here", "to1")
    tl.receive_response(parse(busy.serialize()), 0.2)
    assert tu.responses == [486] and tx.state is S.COMPLETED
    tl.receive_response(parse(busy.serialize()), 0.3)  # retransmitted 486: ACK again, not passed up
    acks = [parse(d) for _, d in sent if d.startswith(b"ACK")]
    assert len(acks) == 2 and acks[0].vias[0].branch == "z9hG4bKt1" and acks[0].to.tag == "to1"
    assert tu.responses == [486]
    run_until(tl, 40.0)  # Timer D (32 s) ends it
    assert tl.clients == {}


def test_client_invite_2xx_goes_to_accepted_and_passes_retransmissions_up() -> None:
    tl, tu, _ = layer()
    req = request("INVITE")
    tx = tl.send_request(req, UDP, 0.0)
    ok = make_response(req, 200, "OK", "to1").serialize()
    tl.receive_response(parse(ok), 0.1)
    tl.receive_response(parse(ok), 0.6)
    assert tx.state is S.ACCEPTED and tu.responses == [200, 200]  # the TU re-ACKs each one (RFC 6026)
    run_until(tl, 40.0)
    assert tl.clients == {}


def test_server_invite_retransmits_failure_until_ack_then_waits_timer_i() -> None:
    tl, tu, sent = layer()
    assert tu.timeouts == []
    req = request("INVITE")
    stx = tl.new_server(req, UDP, 0.0)
    tl.reply(stx, 486, 0.0, "t1")
    run_until(tl, 2.0)
    assert [t for t, _ in sent] == [0.0, 0.5, 1.5]  # Timer G
    ack = request("ACK")
    found = tl.find_server(ack)
    assert found is stx
    tl.receive_retransmission(stx, ack, 2.0)
    assert stx.state is S.CONFIRMED
    run_until(tl, 10.0)
    assert len(sent) == 3 and tl.servers == {}  # Timer I (T4) ended it, no more 486
    assert tu.timeouts == []  # the ACK came: no timeout reported


def test_server_invite_gives_up_without_ack_timer_h() -> None:
    tl, tu, sent = layer()
    stx = tl.new_server(request("INVITE"), UDP, 0.0)
    tl.reply(stx, 480, 0.0, "t1")
    run_until(tl, 40.0)
    assert tu.timeouts == ["INVITE"] and tl.servers == {}
    assert max(t for t, _ in sent) < 32.0


def test_server_non_invite_absorbs_retransmissions_and_timer_j() -> None:
    tl, _, sent = layer()
    req = request("OPTIONS")
    stx = tl.new_server(req, UDP, 0.0)
    tl.reply(stx, 200, 0.0, "t1")
    tl.receive_retransmission(stx, req, 1.0)  # the request again: the response is resent
    assert len(sent) == 2 and sent[0][1] == sent[1][1]
    run_until(tl, 40.0)
    assert tl.servers == {}


@pytest.mark.parametrize("transport,alive", [(UDP, True), (TCP, False)])
def test_server_non_invite_wait_is_zero_on_reliable_transports(transport: Address, alive: bool) -> None:
    tl, _, _ = layer()
    stx = tl.new_server(request("OPTIONS"), transport, 0.0)
    tl.reply(stx, 200, 0.0, "t1")
    assert (stx.key in tl.servers) is alive


def test_rfc2543_requests_are_matched_without_a_branch() -> None:
    tl, _, _ = layer()
    req = parse(b"INVITE sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@b>;tag=f\r\n"
                b"To: <sip:x@192.0.2.1>\r\nCall-ID: old\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n")
    stx = tl.new_server(req, UDP, 0.0)
    tl.reply(stx, 486, 0.0, "t9")
    ack = parse(b"ACK sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nFrom: <sip:a@b>;tag=f\r\n"
                b"To: <sip:x@192.0.2.1>;tag=t9\r\nCall-ID: old\r\nCSeq: 5 ACK\r\nContent-Length: 0\r\n\r\n")
    assert tl.find_server(ack) is stx
