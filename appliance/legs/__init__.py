"""Call legs that belong to no protocol.

Call control holds every leg — a SIP dialog, an E1/PRI B-channel, an analog port — behind one `CallLeg`
protocol and hears about it through the leg events here. Causes are Q.850 values (`causes.Cause`): SIP maps
them to and from status codes at its edge, PRI carries them natively, analog ports map tones and loop events
to them. A `LegProvider` per technology creates outbound legs and announces inbound ones; the `LegFactory`
registry picks the provider by kind ("sip", "pri", "fxo", ...), so `appliance.calls` never imports a
protocol package.

A leg owns its media side: the provider allocates the media engine endpoint (an RTP endpoint from an SDP
offer, or a frame port for a TDM channel) and releases it when the leg ends; call control bridges, plays to
and records endpoints by the id the leg reports.
"""
