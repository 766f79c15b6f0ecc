"""SDES: SRTP keys in SDP (RFC 4568), and the SRTP policy of a leg (off, offered, required).

Implements the a=crypto attribute (§4, §6.1: `tag suite key-params [session-params]`, key-params
`inline:<base64 key||salt>[|lifetime][|MKI:length]`, §6.2 suites) and its offer/answer (§5, §7): the offerer
lists one attribute per suite it accepts, each with a fresh key; the answerer takes the first offered one it
supports, answers with the same tag and suite and a key of its own; each side encrypts with the key in its
own SDP. Suites: AEAD_AES_128_GCM (RFC 7714 §12, preferred when both ends have it) and
AES_CM_128_HMAC_SHA1_80 (RFC 4568 §6.2.1), plus AES_CM_128_HMAC_SHA1_32 when a peer offers it.

Not accepted (the attribute is passed over, §6.3 asks that of unknown or unsupported parameters): an MKI,
several keys in one attribute, and the session parameters KDR, UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP and
UNAUTHENTICATED_SRTP. FEC_ORDER (no FEC here) and WSH (the replay window is at least 64 anyway) are harmless.

Profiles: RTP/SAVP says the media must be SRTP; RTP/AVP with a=crypto is the widespread best-effort form
(the peer may answer plain). Keys go only over SIP TLS: on any other transport no a=crypto is sent or read.
`answer_crypto` and `crypto_offer` decide per leg from its policy; `NotAcceptable` means "answer 488".
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field, replace

from appliance.domain.models import SrtpPolicy
from appliance.media.models import SrtpKeys
from appliance.sip.sdp import MediaLine, NotAcceptable, SessionDescription

# suite -> master key + salt length in bytes (RFC 7714 §12: 16 + 12; RFC 4568 §6.2: 16 + 14)
KEY_LENGTHS = {"AEAD_AES_128_GCM": 28, "AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30}
PREFERENCE = ("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80")  # what we offer, in this order
ACCEPTED = (*PREFERENCE, "AES_CM_128_HMAC_SHA1_32")  # what we take from an offer
_HARMLESS = ("FEC_ORDER=", "WSH=")
_CRYPTO = re.compile(r"^(\d{1,9})\s+([A-Za-z0-9_]+)\s+(\S+)(?:\s+(.*))?$")
_LIFETIME = re.compile(r"^(?:2\^(\d{1,2})|(\d{1,15}))$")
_MKI = re.compile(r"^(\d{1,20}):(\d{1,3})$")
SAVP = "RTP/SAVP"
AVP = "RTP/AVP"


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One a=crypto line. `key` is the master key followed by the master salt."""

    tag: int
    suite: str
    key: bytes = field(repr=False)
    lifetime: int | None = None  # packets
    mki: tuple[int, int] | None = None  # (value, length in bytes)
    extra_keys: int = 0  # further key-params in the same attribute (several keys: MKI required)
    session_params: tuple[str, ...] = ()

    def render(self) -> str:
        """The attribute's value (after "a=crypto:")."""
        params = "inline:" + base64.b64encode(self.key).decode()
        if self.lifetime is not None:
            exp = self.lifetime.bit_length() - 1
            params += f"|2^{exp}" if self.lifetime == 1 << exp else f"|{self.lifetime}"
        if self.mki is not None:
            params += f"|{self.mki[0]}:{self.mki[1]}"
        return " ".join((str(self.tag), self.suite, params, *self.session_params))

    def unsupported(self) -> str | None:
        """Why we cannot use this attribute, or None when we can."""
        if self.suite not in ACCEPTED:
            return f"crypto suite {self.suite} not supported"
        if len(self.key) != KEY_LENGTHS[self.suite]:
            return f"{self.suite} key is {len(self.key)} bytes, not {KEY_LENGTHS[self.suite]}"
        if self.mki is not None or self.extra_keys:
            return "MKI not supported"
        odd = [p for p in self.session_params if not p.startswith(_HARMLESS)]
        if odd:
            return f"session parameter {odd[0]} not supported"
        return None


def parse_crypto(value: str) -> CryptoAttribute:
    """One a=crypto value (RFC 4568 §9.1 grammar); ValueError naming what is wrong."""
    m = _CRYPTO.match(value.strip())
    if m is None:
        raise ValueError("crypto attribute is not 'tag suite key-params'")
    tag, suite, key_params, rest = int(m[1]), m[2], m[3], m[4]
    keys = key_params.split(";")
    method, _, info = keys[0].partition(":")
    if method != "inline":
        raise ValueError(f"key method {method!r} is not inline")
    key_b64, *extras = info.split("|")
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("inline key is not base64") from exc
    lifetime: int | None = None
    mki: tuple[int, int] | None = None
    for part in extras:
        if (lt := _LIFETIME.match(part)) is not None and lifetime is None and mki is None:
            lifetime = 1 << int(lt[1]) if lt[1] is not None else int(lt[2])
        elif (mk := _MKI.match(part)) is not None and mki is None:
            mki = (int(mk[1]), int(mk[2]))
        else:
            raise ValueError(f"bad key parameter {part!r}")
    return CryptoAttribute(tag, suite, key, lifetime, mki, len(keys) - 1, tuple((rest or "").split()))


def new_crypto(tag: int, suite: str) -> CryptoAttribute:
    """Our attribute for `suite` with a fresh random master key and salt."""
    return CryptoAttribute(tag, suite, secrets.token_bytes(KEY_LENGTHS[suite]))


def cryptos_of(line: MediaLine) -> list[CryptoAttribute]:
    """The parseable a=crypto attributes of an m= line, in the sender's order (a malformed one is skipped,
    as one we do not understand: RFC 4568 §7.1.2)."""
    out = []
    for raw in line.crypto:
        try:
            out.append(parse_crypto(raw))
        except ValueError:
            continue
    return out


def audio_line(sd: SessionDescription) -> MediaLine | None:
    return next((m for m in sd.media if m.kind == "audio" and m.port and m.proto.startswith("RTP/")), None)


@dataclass(frozen=True, slots=True)
class Answered:
    """What we answer to an offer: the m= line's profile, our a=crypto (None: plain) and the leg's keys."""

    proto: str
    crypto: CryptoAttribute | None = None
    keys: SrtpKeys | None = None


def answer_crypto(offer: SessionDescription, policy: SrtpPolicy, over_tls: bool) -> Answered:
    """Decide SRTP for an offer we answer (RFC 4568 §7.1.2). NotAcceptable (→ 488) when the offer and the
    leg's policy cannot meet: SRTP required and only RTP offered, RTP/SAVP offered where we may not (policy
    off, or not over TLS, where keys cannot go), or no offered suite we support."""
    m = audio_line(offer)
    if m is None:
        raise NotAcceptable("no RTP audio stream")
    savp = m.proto == SAVP
    offered = cryptos_of(m) if over_tls else []  # keys received in the clear are never used
    if policy is SrtpPolicy.OFF:
        if savp:
            raise NotAcceptable("SRTP is off for this line and the offer is RTP/SAVP")
        return Answered(AVP)
    if not over_tls and (savp or policy is SrtpPolicy.REQUIRED):
        raise NotAcceptable("SRTP keys go only over SIP TLS")
    if not savp and not m.crypto and policy is SrtpPolicy.REQUIRED:
        raise NotAcceptable("SRTP is required and the offer has only RTP")
    usable = [c for c in offered if c.unsupported() is None]
    if not usable:
        if savp or policy is SrtpPolicy.REQUIRED:
            why = offered[0].unsupported() if offered else "no crypto attribute"
            raise NotAcceptable(f"no usable SRTP crypto suite in the offer ({why})")
        return Answered(m.proto)
    theirs = usable[0]  # the offerer's order is its preference (§7.1.2)
    ours = new_crypto(theirs.tag, theirs.suite)
    return Answered(m.proto, ours, SrtpKeys(theirs.suite, tx_key=ours.key, rx_key=theirs.key))


@dataclass(frozen=True, slots=True)
class Offer:
    """What we offer on a new leg: the profile, our a=crypto attributes (empty: plain RTP), and whether
    an answer without SRTP must end the leg."""

    proto: str = AVP
    cryptos: tuple[CryptoAttribute, ...] = ()
    required: bool = False

    @property
    def encrypted(self) -> bool:
        return bool(self.cryptos)


def crypto_offer(policy: SrtpPolicy, over_tls: bool) -> Offer:
    """Our offer for a leg: RTP/SAVP when SRTP is required, RTP/AVP with a=crypto (best effort) when it is
    offered, plain when off or not over TLS. NotAcceptable when SRTP is required and the leg is not TLS."""
    if policy is SrtpPolicy.OFF:
        return Offer()
    if not over_tls:
        if policy is SrtpPolicy.REQUIRED:
            raise NotAcceptable("SRTP is required and the destination is not reached over TLS")
        return Offer()
    cryptos = tuple(new_crypto(tag, suite) for tag, suite in enumerate(PREFERENCE, start=1))
    required = policy is SrtpPolicy.REQUIRED
    return Offer(SAVP if required else AVP, cryptos, required)


def keys_from_answer(offer: Offer, answer: SessionDescription) -> SrtpKeys | None:
    """The keys of the answer to our offer (§7.1.3: the answer names one offered tag and suite, with its key),
    or None when it answered plain RTP. NotAcceptable when it must not have (RTP/SAVP or required), or when
    its a=crypto does not match anything we offered."""
    m = audio_line(answer)
    if m is None:
        raise NotAcceptable("no RTP audio stream in the answer")
    got = cryptos_of(m)
    if not got:
        if offer.required or m.proto == SAVP:
            raise NotAcceptable("the answer has no SRTP crypto attribute")
        return None
    theirs = got[0]
    ours = next((c for c in offer.cryptos if c.tag == theirs.tag and c.suite == theirs.suite), None)
    if ours is None or theirs.unsupported() is not None:
        raise NotAcceptable("the answer's crypto attribute matches nothing we offered")
    return SrtpKeys(theirs.suite, tx_key=ours.key, rx_key=theirs.key)


def rekeyed(keys: SrtpKeys, sd: SessionDescription) -> SrtpKeys:
    """The keys after a new offer or answer in the dialog (re-INVITE, RFC 4568 §7.1.4): the peer's key may
    change; ours stays the one our SDP carries."""
    m = audio_line(sd)
    if m is None:
        return keys
    theirs = next((c for c in cryptos_of(m) if c.suite == keys.suite and c.unsupported() is None), None)
    if theirs is None or theirs.key == keys.rx_key:
        return keys
    return SrtpKeys(keys.suite, tx_key=keys.tx_key, rx_key=theirs.key)


def carry_crypto(answer: SessionDescription, mine: SessionDescription, offer: SessionDescription
                 ) -> SessionDescription:
    """Our answer to a new offer inside the dialog (a re-INVITE for hold, a refresh) keeps the leg as it is:
    an encrypted leg answers with its key again under the tag the new offer gives that suite (§7.1.4); a
    plain leg answers plain. NotAcceptable (488) for an offer that would change which (the engine keeps
    one or the other for the whole leg: no downgrade inside a dialog)."""
    ours_line, offered = audio_line(mine), audio_line(offer)
    if offered is None:
        return answer
    ours = cryptos_of(ours_line)[:1] if ours_line is not None else []
    if not ours:
        if offered.proto == SAVP:
            raise NotAcceptable("RTP/SAVP offered on a plain RTP leg")
        return answer
    theirs = next((c for c in cryptos_of(offered) if c.suite == ours[0].suite), None)
    if theirs is None:
        raise NotAcceptable("the new offer drops the leg's SRTP crypto suite")
    line = CryptoAttribute(theirs.tag, ours[0].suite, ours[0].key).render()
    media = tuple(replace(m, crypto=(line,)) if m.kind == "audio" and m.port else m for m in answer.media)
    return replace(answer, media=media)
