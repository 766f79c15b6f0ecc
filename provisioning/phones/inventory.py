"""The phone inventory, kept in one JSON file of its own (0600: it holds tokens and SIP passwords).

Phones change rarely and are read on every fetch, so all of it lives in memory and each change rewrites the
file atomically (temp file, fsync, rename) on a worker thread.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from appliance.security.passwords import token_digest
from provisioning.phones.models import PhoneRecord, parse_phone, phone_to_dict


def new_token() -> str:
    return secrets.token_urlsafe(18)


def new_sip_password() -> str:
    # letters, digits and a symbol: passes the box's password rules, and is typed by no one
    return secrets.token_urlsafe(15) + "-7"


class PhoneInventory:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._by_mac: dict[str, PhoneRecord] = {}
        self._by_token: dict[str, str] = {}  # token digest → MAC

    @classmethod
    def open(cls, path: Path) -> PhoneInventory:
        inv = cls(path)
        if path.exists():
            doc = json.loads(path.read_text(encoding="utf-8"))
            for raw in doc.get("phones", []):
                phone = parse_phone(raw["phone"])
                inv._put(PhoneRecord(phone, raw["token"], raw["sip_password"], bool(raw.get("revoked", False))))
        return inv

    def _put(self, record: PhoneRecord) -> None:
        old = self._by_mac.get(record.phone.mac)
        if old is not None:
            self._by_token.pop(token_digest(old.token), None)
        self._by_mac[record.phone.mac] = record
        self._by_token[token_digest(record.token)] = record.phone.mac

    def _drop(self, mac: str) -> None:
        old = self._by_mac.pop(mac, None)
        if old is not None:
            self._by_token.pop(token_digest(old.token), None)

    def get(self, mac: str) -> PhoneRecord | None:
        return self._by_mac.get(mac)

    def by_token(self, token: str) -> PhoneRecord | None:
        mac = self._by_token.get(token_digest(token))
        record = self._by_mac.get(mac) if mac else None
        return record if record is not None and not record.revoked else None

    def all(self) -> list[PhoneRecord]:
        return sorted(self._by_mac.values(), key=lambda r: r.phone.mac)

    def __len__(self) -> int:
        return len(self._by_mac)

    def put(self, records: Iterable[PhoneRecord]) -> None:
        for record in records:
            self._put(record)

    def remove(self, mac: str) -> None:
        self._drop(mac)

    def rotated(self, record: PhoneRecord) -> PhoneRecord:
        return replace(record, token=new_token(), revoked=False)

    def document(self) -> dict[str, Any]:
        return {"phones": [{"phone": phone_to_dict(r.phone), "token": r.token, "sip_password": r.sip_password,
                            "revoked": r.revoked} for r in self.all()]}

    def save(self, document: dict[str, Any]) -> None:
        """Write a document taken with `document()` (call on a worker thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
