"""RTCP for each RTP leg on port + 1 (RFC 3550 §6, §11): reports received feed the round trip (LSR/DLSR,
§6.4.1) that the E-model uses; reports sent are an SR when we have sent, an RR otherwise, always with an SDES
CNAME (§6.1). On an encrypted leg both ways are SRTCP (RFC 3711 §3.4) through the leg's
`srtp.SrtpContext`. The tick's housekeeping sends each leg's report once per `rtcp_interval`."""

from __future__ import annotations

from appliance.media import rtp as rtpmod
from appliance.media.core import Core
from appliance.media.endpoint import Endpoint


class RtcpReports:
    def __init__(self, core: Core) -> None:
        self._core = core

    def received(self, ep: Endpoint, data: bytes) -> None:
        if ep.srtp is not None:  # SRTCP (RFC 3711 §3.4): nothing unauthenticated is read
            plain = ep.srtp.unprotect_rtcp(data)
            if plain is None:
                return
            data = plain
        try:
            compound = rtpmod.parse_rtcp(data)
        except rtpmod.RtpParseError:
            return
        now_wall = self._core.clock.wall()
        for report in compound.reports:
            if report.sender is not None:
                ep.stats.last_sr_middle = ((report.sender.ntp_sec & 0xFFFF) << 16) | (report.sender.ntp_frac >> 16)
                ep.stats.last_sr_arrival = now_wall
            for block in report.blocks:
                if block.ssrc == ep.ssrc:
                    rtt = block.round_trip(rtpmod.ntp_middle32(now_wall))
                    if rtt is not None:
                        ep.rtt = rtt

    def send(self, ep: Endpoint) -> None:
        if ep.rtcp_transport is None or ep.peer_rtcp is None:
            return
        wall = self._core.clock.wall()
        blocks = [ep.stats.report_block(wall)] if ep.peer_ssrc is not None else []
        cname = self._core.config.cname
        if ep.tx_packets:
            sec, frac = rtpmod.ntp_timestamp(wall)
            info = rtpmod.SenderInfo(sec, frac, ep.out_ts, ep.tx_packets, ep.tx_octets)
            packet = rtpmod.build_sr(ep.ssrc, info, blocks, cname)
        else:
            packet = rtpmod.build_rr(ep.ssrc, blocks, cname)
        if ep.srtp is not None:
            protected = ep.srtp.protect_rtcp(packet)
            if protected is None:
                return  # no key agreed yet
            packet = protected
        ep.rtcp_transport.sendto(packet, ep.peer_rtcp)
