"""Registrar bindings (RFC 3261 §10.3) with NAT-aware contacts (RFC 3581) and qualify state.

Bindings per address-of-record (the extension): several contacts each with its own expiry, q-value,
Call-ID/CSeq (a stale REGISTER from the same Call-ID with a lower CSeq is ignored, §10.3 step 7), `*` removal
with Expires: 0, Min-Expires (423 below it) and a maximum. Each binding remembers the address the REGISTER
came from, which is where requests for it are sent (a phone behind NAT is reached where it really is, not at
its private Contact). Pure logic with `now` passed in; `snapshot` / `restore` convert to remaining seconds so
the shell can persist bindings across a restart with wall-clock time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from appliance.sip.transaction import Address


@dataclass(slots=True)
class Binding:
    contact: str  # the Contact URI as registered
    expires_at: float  # in the core's time base
    call_id: str
    cseq: int
    source: Address
    q: float = 1.0
    user_agent: str = ""
    reachable: bool = True
    last_seen: float = 0.0
    probe_failures: int = 0

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "contact": self.contact, "remaining": max(0.0, self.expires_at - now), "call_id": self.call_id,
            "cseq": self.cseq, "source": list(self.source), "q": self.q, "user_agent": self.user_agent,
        }


class RegisterRejected(Exception):
    def __init__(self, status: int, reason: str, min_expires: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.min_expires = min_expires


@dataclass
class Registrar:
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    dirty: bool = False

    def lookup(self, aor: str, now: float) -> list[Binding]:
        return sorted((b for b in self.bindings.get(aor, ()) if b.expires_at > now), key=lambda b: -b.q)

    def update(
        self, aor: str, contacts: list[tuple[str, dict[str, str]]], star: bool, expires_header: int | None,
        call_id: str, cseq: int, source: Address, user_agent: str, now: float,
    ) -> tuple[list[Binding], list[tuple[str, int]]]:
        """Apply one REGISTER. Returns (current bindings, changes as (contact, expires)).

        `contacts` are (uri, params); `star` means the Contact was `*` (then Expires must be 0)."""
        current = [b for b in self.bindings.get(aor, []) if b.expires_at > now]
        changes: list[tuple[str, int]] = []
        if star:
            if expires_header != 0 or contacts:
                raise RegisterRejected(400, "'*' needs Expires: 0 and no other Contact")
            for b in current:
                if b.call_id == call_id and cseq <= b.cseq:
                    return current, []
            changes = [(b.contact, 0) for b in current]
            self.bindings.pop(aor, None)
            self.dirty = True
            return [], changes
        wanted: list[tuple[str, int, float]] = []
        for uri, params in contacts:
            exp_text = params.get("expires")
            if exp_text is not None and exp_text.isdigit():
                exp = int(exp_text)
            elif expires_header is not None:
                exp = expires_header
            else:
                exp = self.default_expires
            if 0 < exp < self.min_expires:
                raise RegisterRejected(423, "interval too brief", self.min_expires)
            exp = min(exp, self.max_expires)
            try:
                q = float(params.get("q", "1"))
            except ValueError:
                q = 1.0
            wanted.append((uri, exp, q))
        for uri, exp, q in wanted:
            existing = next((b for b in current if _same_uri(b.contact, uri)), None)
            if existing is not None:
                if existing.call_id == call_id and cseq <= existing.cseq:
                    continue  # out of order (§10.3 step 7)
                if exp == 0:
                    current.remove(existing)
                    changes.append((uri, 0))
                    continue
                existing.expires_at = now + exp
                existing.call_id, existing.cseq, existing.source, existing.q = call_id, cseq, source, q
                existing.user_agent = user_agent
                existing.last_seen = now
                existing.reachable = True
                changes.append((uri, exp))
            elif exp > 0:
                if len(current) >= self.max_contacts:
                    current.sort(key=lambda b: b.expires_at)
                    current.pop(0)  # the oldest binding makes room: phones that re-provision leave debris
                current.append(Binding(uri, now + exp, call_id, cseq, source, q, user_agent, True, now))
                changes.append((uri, exp))
        if current:
            self.bindings[aor] = current
        else:
            self.bindings.pop(aor, None)
        if changes:
            self.dirty = True
        return current, changes

    def expire(self, now: float) -> list[tuple[str, str]]:
        gone: list[tuple[str, str]] = []
        for aor in list(self.bindings):
            keep = [b for b in self.bindings[aor] if b.expires_at > now]
            gone.extend((aor, b.contact) for b in self.bindings[aor] if b.expires_at <= now)
            if keep:
                self.bindings[aor] = keep
            else:
                del self.bindings[aor]
        if gone:
            self.dirty = True
        return gone

    def next_expiry(self) -> float | None:
        times = [b.expires_at for bs in self.bindings.values() for b in bs]
        return min(times) if times else None

    def snapshot(self, now: float) -> str:
        return json.dumps({aor: [b.to_json(now) for b in bs if b.expires_at > now] for aor, bs in self.bindings.items()})

    def restore(self, text: str, now: float, elapsed: float) -> int:
        """Load a snapshot written `elapsed` seconds ago; returns how many bindings are still valid."""
        data = json.loads(text)
        n = 0
        for aor, items in data.items():
            out: list[Binding] = []
            for it in items:
                remaining = float(it["remaining"]) - elapsed
                if remaining <= 0:
                    continue
                src = it["source"]
                out.append(Binding(str(it["contact"]), now + remaining, str(it["call_id"]), int(it["cseq"]),
                                   Address(str(src[0]), str(src[1]), int(src[2])), float(it.get("q", 1.0)),
                                   str(it.get("user_agent", "")), True, now))
            if out:
                self.bindings[str(aor)] = out
                n += len(out)
        return n


def _same_uri(a: str, b: str) -> bool:
    # Contacts are compared without their parameters' order mattering; the text before ';' is enough
    # for the phones we meet (§19.1.4 full comparison is not needed to find "the same phone again").
    return a.split(";")[0].lower() == b.split(";")[0].lower()
