"""Ordered, forward-only migrations of the configuration document.

The document is TinyDB's JSON: `{table: {doc_id: doc}}` with the schema version in `_meta`. Each migration
takes the document at version N and returns it at N+1; `migrate()` runs them in order from whatever version
the file has. A file newer than this software is never downgraded: the store carries on from the copy the
newer release kept before migrating it (`ConfigStore._roll_back`), or refuses to start.

History:
- v1 → v2: a staff member's `skills` were a list of skill ids; they became `{skill, level}` pairs (levels 0-9
  drive skills-based routing). Existing skills get level 5, the middle of the scale.
- v2 → v3: extensions kept their SIP `password` in clear text; it is replaced by the digest HA1s
  (MD5 and SHA-256, RFC 8760) for the appliance's realm, so the file no longer holds a usable secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.security.passwords import sip_ha1

Document = dict[str, dict[str, Any]]
SCHEMA_VERSION = 3
META_TABLE = "_meta"
DEFAULT_REALM = "appliance"


def schema_version(doc: Document) -> int:
    meta = doc.get(META_TABLE) or {}
    for record in meta.values():
        if isinstance(record, dict) and "schema_version" in record:
            return int(record["schema_version"])
    return 1  # files written before the version was recorded


def set_schema_version(doc: Document, version: int) -> None:
    doc[META_TABLE] = {"1": {"schema_version": version}}


def _v1_to_v2(doc: Document) -> Document:
    for record in doc.get("staff", {}).values():
        skills = record.get("skills", [])
        record["skills"] = [s if isinstance(s, dict) else {"skill": s, "level": 5} for s in skills]
    return doc


def _v2_to_v3(doc: Document) -> Document:
    realm = DEFAULT_REALM
    for record in doc.get("settings", {}).values():
        realm = record.get("sip_realm", realm)
    for record in doc.get("extensions", {}).values():
        password = record.pop("password", None)
        if password:
            record["ha1_md5"] = sip_ha1(record["number"], realm, password, "MD5")
            record["ha1_sha256"] = sip_ha1(record["number"], realm, password, "SHA-256")
    return doc


MIGRATIONS: dict[int, Callable[[Document], Document]] = {1: _v1_to_v2, 2: _v2_to_v3}


def migrate(doc: Document) -> tuple[Document, list[int]]:
    """Bring `doc` to SCHEMA_VERSION; returns it and the versions it passed through."""
    version = schema_version(doc)
    steps: list[int] = []
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
        steps.append(version)
        set_schema_version(doc, version)
    return doc, steps
