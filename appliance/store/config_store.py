"""The configuration store: validated entities in TinyDB, written atomically by one writer.

Readers get an in-memory snapshot of typed entities (a dict per kind, replaced — never mutated — on each
write), so a call in progress never waits for a configuration edit. Writers go through one asyncio lock;
each write is one atomic replacement of the file (see `tinydb_storage`), done in a worker thread so an fsync
never stalls the event loop. At start the file is checked: unreadable JSON or an entity that no longer
validates means the store refuses to open and points at the last good copy, which is refreshed after
every successful open.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import json
import logging
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydb import TinyDB, where
from tinydb.table import Document as TinyDocument

from appliance.clock import Clock, SystemClock
from appliance.domain.kinds import EntityKind
from appliance.domain.validation import dump, parse
from appliance.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from appliance.events import EventBus
from appliance.store.atomic import atomic_write_text
from appliance.store.errors import SchemaTooNew, StoreCorrupt
from appliance.store.events import ConfigChanged, ConfigReplaced
from appliance.store.migrations import SCHEMA_VERSION, Document, migrate, schema_version, set_schema_version
from appliance.store.tinydb_storage import AtomicJSONStorage

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
LAST_GOOD_FILE = "config.last-good.json"
SETTINGS_TABLE = "settings"
# Kinds the configuration once held and no longer does: customers live in the record store now
# (`appliance.customers`, which moves a box's old ones there once). Older exports still name them.
RETIRED_KINDS = frozenset({"customers"})


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    path: str
    schema_version: int
    counts: dict[str, int]
    problems: tuple[str, ...]
    last_good: str | None

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_document(path: Path) -> Document:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ValueError("the document is not a set of tables")
    return raw


@dataclass
class ConfigStore:
    data_dir: Path
    kinds: Sequence[EntityKind]
    bus: EventBus = field(default_factory=EventBus)
    clock: Clock = field(default_factory=SystemClock)
    _db: TinyDB | None = None
    _snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)
    _settings: dict[str, Any] = field(default_factory=dict)
    _revision: int = 0  # counts committed writes: a caller that read a state can ask to write only onto it
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _by_name: dict[str, EntityKind] = field(default_factory=dict)

    # ---- opening and closing -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def last_good_path(self) -> Path:
        return self.data_dir / LAST_GOOD_FILE

    @classmethod
    def open(
        cls,
        data_dir: Path,
        kinds: Sequence[EntityKind],
        bus: EventBus | None = None,
        clock: Clock | None = None,
        *,
        read_only: bool = False,
    ) -> ConfigStore:
        """Open (creating, migrating and checking) the store; `read_only` reads it without touching the disk."""
        store = cls(Path(data_dir), kinds, bus or EventBus(), clock or SystemClock())
        if read_only:
            store._open_read_only()
        else:
            store._open()
        return store

    def _open_read_only(self) -> None:
        self._by_name = {k.name: k for k in self.kinds}
        last_good = self.last_good_path if self.last_good_path.exists() else None
        try:
            doc = _load_document(self.path)
        except ValueError as exc:
            raise StoreCorrupt(self.path, str(exc), last_good) from None
        if schema_version(doc) > SCHEMA_VERSION:
            older = self._copy_before_newer(schema_version(doc))
            doc = _load_document(older)  # (read only: the copy is read where it is)
        try:
            self._snapshot, self._settings = self._decode(migrate(doc)[0])
        except ValidationFailed as exc:
            raise StoreCorrupt(self.path, exc.message, last_good) from None

    def _open(self) -> None:
        self._by_name = {k.name: k for k in self.kinds}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        last_good = self.last_good_path if self.last_good_path.exists() else None
        if self.path.exists():
            try:
                doc = _load_document(self.path)
            except ValueError as exc:
                raise StoreCorrupt(self.path, str(exc), last_good) from None
            found = schema_version(doc)
            if found > SCHEMA_VERSION:
                doc, found = self._roll_back(found)
            doc, steps = migrate(doc)
            if steps:
                backup = self.data_dir / f"config.v{found}.bak.json"
                shutil.copyfile(self.path, backup)
                atomic_write_text(self.path, json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1))
                log.info("configuration migrated from v%d to v%d (copy of the old file: %s)", found, steps[-1], backup)
        else:
            doc = {}
            set_schema_version(doc, SCHEMA_VERSION)
            atomic_write_text(self.path, json.dumps(doc))
        try:
            self._snapshot, self._settings = self._decode(doc)
        except ValidationFailed as exc:
            raise StoreCorrupt(self.path, exc.message, last_good) from None
        self._db = TinyDB(storage=AtomicJSONStorage, path=self.path)
        shutil.copyfile(self.path, self.last_good_path)

    def _copy_before_newer(self, newer: int) -> Path:
        """The copy a newer release kept when it migrated the file (`config.vN.bak.json`, the newest N this
        software reads), or SchemaTooNew when there is none."""
        copies = sorted((int(m.group(1)), p) for p in self.data_dir.glob("config.v*.bak.json")
                        if (m := re.fullmatch(r"config\.v(\d+)\.bak\.json", p.name)) and int(m.group(1)) <= SCHEMA_VERSION)
        if not copies:
            raise SchemaTooNew(self.path, newer, SCHEMA_VERSION)
        return copies[-1][1]

    def _roll_back(self, newer: int) -> tuple[Document, int]:
        """A newer release wrote the file and the box went back to this one (its update failed its health
        check, or the admin rolled back): carry on from the copy that release kept before migrating, so the
        box starts. What was changed under the newer release is set aside, never deleted."""
        older = self._copy_before_newer(newer)
        doc = _load_document(older)
        aside = self.data_dir / f"config.v{newer}.rolled-back.json"
        shutil.copyfile(self.path, aside)
        atomic_write_text(self.path, older.read_text(encoding="utf-8"))
        log.warning("configuration: schema v%d was written by a newer release; this release (v%d) carries on from "
                    "%s, the copy kept before that release migrated it. Changes made under the newer release are "
                    "in %s.", newer, SCHEMA_VERSION, older.name, aside.name)
        return doc, schema_version(doc)

    def _decode(self, doc: Document) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        snapshot: dict[str, dict[str, Any]] = {}
        for kind in self.kinds:
            entities: dict[str, Any] = {}
            for record in doc.get(kind.name, {}).values():
                entity = parse(kind.model, record, f"stored {kind.name}")
                entities[kind.key_of(entity)] = entity
            snapshot[kind.name] = entities
        settings: dict[str, Any] = {}
        for record in doc.get(SETTINGS_TABLE, {}).values():
            settings.update(record)
        return snapshot, settings

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> TinyDB:
        if self._db is None:
            raise RuntimeError("the configuration store is closed")
        return self._db

    # ---- reading (snapshot, never blocks) -----------------------------------------------------------

    def kind(self, name: str) -> EntityKind:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFound("entity kind", name) from None

    def list(self, kind: str) -> builtins.list[Any]:
        entities = self._snapshot.get(self.kind(kind).name, {})
        return [entities[k] for k in sorted(entities, key=_natural_key)]

    def find(self, kind: str, key: str) -> Any | None:
        return self._snapshot.get(self.kind(kind).name, {}).get(key)

    def get(self, kind: str, key: str) -> Any:
        entity = self.find(kind, key)
        if entity is None:
            raise NotFound(self.kind(kind).title, key)
        return entity

    def count(self) -> dict[str, int]:
        return {name: len(v) for name, v in self._snapshot.items()}

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    # ---- writing (one writer) -----------------------------------------------------------------------

    async def create(self, kind_name: str, entity: Any) -> Any:
        kind = self.kind(kind_name)
        key = kind.key_of(entity)
        async with self._lock:
            if key in self._snapshot[kind.name]:
                raise Conflict(
                    f"{kind.title} {key!r} already exists", f"{kind.title_zh} {key!r} 已存在",
                    {"field": kind.key, "rule": "unique"},
                )
            await self._write(kind, key, entity)
        self._publish(kind, key, "create")
        return entity

    async def update(self, kind_name: str, entity: Any) -> tuple[Any, Any]:
        kind = self.kind(kind_name)
        key = kind.key_of(entity)
        async with self._lock:
            before = self._snapshot[kind.name].get(key)
            if before is None:
                raise NotFound(kind.title, key)
            if kind.versioned:
                # Calls in progress keep the version they started with; new calls get this one.
                entity = dataclasses.replace(entity, version=before.version + 1)
            await self._write(kind, key, entity)
        self._publish(kind, key, "update")
        return before, entity

    async def delete(self, kind_name: str, key: str) -> Any:
        kind = self.kind(kind_name)
        if not kind.deletable:
            raise Forbidden(
                f"a {kind.title} cannot be deleted; record that they left instead",
                f"{kind.title_zh}不能删除,只能办理离职",
                error_id="not_deletable",
            )
        async with self._lock:
            before = self._snapshot[kind.name].get(key)
            if before is None:
                raise NotFound(kind.title, key)
            users = list(self._referrers(kind.name, key))
            if users:
                raise Conflict(
                    f"{kind.title} {key!r} is still used by: {', '.join(users)}",
                    f"{kind.title_zh} {key!r} 仍被使用: {', '.join(users)}",
                    {"used_by": users},
                )
            db = self.db
            await asyncio.to_thread(db.table(kind.name).remove, where(kind.key) == key)
            table = dict(self._snapshot[kind.name])
            del table[key]
            self._snapshot = {**self._snapshot, kind.name: table}
            self._revision += 1
        self._publish(kind, key, "delete")
        return before

    async def set_settings(self, **values: Any) -> None:
        async with self._lock:
            merged = {**self._settings, **values}
            db = self.db

            def write() -> None:
                # one document, replaced in one atomic write of the file
                db.table(SETTINGS_TABLE).upsert(TinyDocument(merged, doc_id=1))

            await asyncio.to_thread(write)
            self._settings = merged
            self._revision += 1

    @property
    def revision(self) -> int:
        return self._revision

    async def replace_all(self, entities: Mapping[str, Iterable[Any]], settings: dict[str, Any] | None = None,
                          *, if_revision: int | None = None) -> int:
        """Replace every entity (import, first-start seeding) in one atomic write.

        References are checked against the new whole, so the order of the input does not matter. With
        `if_revision`, the write happens only if nothing was written since the caller read that revision
        (a whole built from an older state would silently undo the writes in between): else `Conflict`.
        """
        snapshot: dict[str, dict[str, Any]] = {k.name: {} for k in self.kinds}
        for name, items in entities.items():
            kind = self.kind(name)
            for entity in items:
                snapshot[kind.name][kind.key_of(entity)] = entity
        problems: builtins.list[FieldError] = []
        for kind in self.kinds:
            for key, entity in snapshot[kind.name].items():
                prefix = f"{kind.name}.{key}."
                problems += self._reference_problems(kind, entity, snapshot, prefix=prefix)
                if kind.check is not None:
                    problems += [
                        FieldError(prefix + e.field, e.rule, prefix + e.message, prefix + e.message_zh)
                        for e in kind.check(entity, snapshot)
                    ]
        if problems:
            raise ValidationFailed(problems, "configuration")
        doc: Document = {}
        set_schema_version(doc, SCHEMA_VERSION)
        for kind in self.kinds:
            doc[kind.name] = {
                str(i + 1): dump(kind.model, e) for i, e in enumerate(snapshot[kind.name].values())
            }
        async with self._lock:
            if if_revision is not None and if_revision != self._revision:
                raise Conflict("the configuration changed meanwhile; nothing was written, try again",
                               "配置已被同时修改,未写入任何内容,请重试")
            new_settings = settings if settings is not None else self._settings
            doc[SETTINGS_TABLE] = {"1": dict(new_settings)}
            db = self.db
            await asyncio.to_thread(db.storage.write, doc)
            db.clear_cache()
            self._snapshot = snapshot
            self._settings = dict(new_settings)
            self._revision += 1
        count = sum(len(v) for v in snapshot.values())
        self.bus.publish(ConfigReplaced(at=self.clock.wall(), entities=count))
        return count

    def export(self) -> dict[str, Any]:
        """Everything, as JSON: entities (with secrets as hashes only) and settings."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "settings": dict(self._settings)}
        out["entities"] = {
            kind.name: [dump(kind.model, e) for e in self.list(kind.name)] for kind in self.kinds
        }
        return out

    def parse_export(self, data: Any) -> tuple[dict[str, builtins.list[Any]], dict[str, Any]]:
        """Validate an exported document; raise `ValidationFailed` naming each bad entity field."""
        if not isinstance(data, dict) or not isinstance(data.get("entities"), dict):
            raise ValidationFailed(
                [FieldError("entities", "required", "entities: missing or not an object", "entities: 缺失或格式错误")],
                "configuration",
            )
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValidationFailed(
                [FieldError("schema_version", "value", f"schema_version: expected {SCHEMA_VERSION}, got {version!r}",
                            f"schema_version: 应为 {SCHEMA_VERSION},实际为 {version!r}")],
                "configuration",
            )
        problems: builtins.list[FieldError] = []
        result: dict[str, builtins.list[Any]] = {}
        for name, records in data["entities"].items():
            if name in RETIRED_KINDS:
                continue  # an export made before the kind moved out of the configuration
            kind = self._by_name.get(name)
            if kind is None or not isinstance(records, list):
                problems.append(FieldError(f"entities.{name}", "unknown_field", f"entities.{name}: unknown kind",
                                           f"entities.{name}: 未知的类型"))
                continue
            result[name] = []
            for i, record in enumerate(records):
                try:
                    result[name].append(parse(kind.model, record))
                except ValidationFailed as exc:
                    problems += [
                        FieldError(f"entities.{name}.{i}.{e.field}", e.rule, f"entities.{name}.{i}.{e.message}",
                                   f"entities.{name}.{i}.{e.message_zh}")
                        for e in exc.errors
                    ]
        settings = data.get("settings", {})
        if not isinstance(settings, dict):
            problems.append(FieldError("settings", "type", "settings: must be an object", "settings: 应为对象"))
            settings = {}
        if problems:
            raise ValidationFailed(problems, "configuration")
        return result, settings

    # ---- internals -----------------------------------------------------------------------------------

    async def _write(self, kind: EntityKind, key: str, entity: Any) -> None:
        snapshot = {**self._snapshot, kind.name: {**self._snapshot[kind.name], key: entity}}
        problems = self._reference_problems(kind, entity, snapshot)
        if kind.check is not None:
            problems += kind.check(entity, snapshot)
        if problems:
            raise ValidationFailed(problems, kind.title)
        record = dump(kind.model, entity)
        # Never write what could not be read back: an entity built in code skipped the edge validation.
        parse(kind.model, record, kind.title)
        db = self.db
        await asyncio.to_thread(db.table(kind.name).upsert, record, where(kind.key) == key)
        self._snapshot = snapshot
        self._revision += 1

    def _reference_problems(
        self, kind: EntityKind, entity: Any, snapshot: dict[str, dict[str, Any]], prefix: str = ""
    ) -> builtins.list[FieldError]:
        problems: builtins.list[FieldError] = []
        for ref in kind.references:
            if not ref.report:
                continue
            target = self._by_name[ref.target]
            for key in ref.keys(entity):
                if key not in snapshot.get(ref.target, {}):
                    problems.append(
                        FieldError(
                            f"{prefix}{ref.field}",
                            "reference",
                            f"{prefix}{ref.field}: no {target.title} {key!r}",
                            f"{prefix}{ref.field}: 不存在的{target.title_zh} {key!r}",
                        )
                    )
        return problems

    def _referrers(self, target: str, key: str) -> Iterable[str]:
        for kind in self.kinds:
            for ref in kind.references:
                if ref.target != target:
                    continue
                for other_key, entity in self._snapshot[kind.name].items():
                    if key in ref.keys(entity) and not (kind.name == target and other_key == key):
                        yield f"{kind.name}/{other_key}"

    def _publish(self, kind: EntityKind, key: str, action: str) -> None:
        self.bus.publish(ConfigChanged(at=self.clock.wall(), kind=kind.name, key=key, action=action))

    # ---- integrity ------------------------------------------------------------------------------------


def check_integrity(data_dir: Path, kinds: Sequence[EntityKind]) -> IntegrityReport:
    """`appliance db check`: read the file without changing it and list every problem found."""
    path = Path(data_dir) / CONFIG_FILE
    last_good = Path(data_dir) / LAST_GOOD_FILE
    problems: list[str] = []
    counts: dict[str, int] = {}
    version = 0
    if not path.exists():
        problems.append(f"{path} does not exist")
    else:
        try:
            doc = _load_document(path)
        except ValueError as exc:
            problems.append(f"unreadable: {exc}")
            doc = {}
        version = schema_version(doc) if doc else 0
        if version > SCHEMA_VERSION:
            problems.append(f"schema version {version} is newer than this software ({SCHEMA_VERSION})")
        elif doc:
            doc, _ = migrate(doc)
            by_name = {k.name: k for k in kinds}
            keys: dict[str, set[str]] = {}
            parsed: list[tuple[EntityKind, Any]] = []
            for kind in kinds:
                keys[kind.name] = set()
                for doc_id, record in doc.get(kind.name, {}).items():
                    try:
                        entity = parse(kind.model, record)
                    except ValidationFailed as exc:
                        problems += [f"{kind.name} #{doc_id}: {e.message}" for e in exc.errors]
                        continue
                    key = kind.key_of(entity)
                    if key in keys[kind.name]:
                        problems.append(f"{kind.name} {key!r}: duplicate key")
                    keys[kind.name].add(key)
                    parsed.append((kind, entity))
                counts[kind.name] = len(keys[kind.name])
            for kind, entity in parsed:
                for ref in kind.references:
                    for key in ref.keys(entity):
                        if key not in keys.get(ref.target, set()):
                            problems.append(
                                f"{kind.name} {kind.key_of(entity)!r}: {ref.field} refers to a missing "
                                f"{by_name[ref.target].title} {key!r}"
                            )
    return IntegrityReport(
        str(path), version, counts, tuple(problems), str(last_good) if last_good.exists() else None
    )


def restore_last_good(data_dir: Path) -> Path:
    path = Path(data_dir) / CONFIG_FILE
    last_good = Path(data_dir) / LAST_GOOD_FILE
    if not last_good.exists():
        raise FileNotFoundError(f"no last good copy at {last_good}")
    _load_document(last_good)  # refuse to restore something that is itself unreadable
    if path.exists():
        shutil.copyfile(path, Path(data_dir) / "config.corrupt.json")
    atomic_write_text(path, last_good.read_text(encoding="utf-8"))
    return path


def _natural_key(key: str) -> tuple[int, str]:
    return (0, f"{int(key):020d}") if key.isdigit() else (1, key)
