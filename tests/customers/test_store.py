"""The customer store and the number rules, on a real SQLite file in WAL mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.customers.errors import HasServiceRecords, NumberTaken
from appliance.customers.models import CustomerInput, Search, ServiceRecordInput, normalise_number
from appliance.customers.store import CustomerStore
from appliance.records.sqlite_store import RecordStore


@pytest.mark.parametrize(("raw", "stored"), [
    ("138 0013 8000", "13800138000"),
    ("+86 138-0013-8000", "13800138000"),
    ("008613800138000", "13800138000"),
    ("013800138000", "13800138000"),  # a mobile with a toll prefix
    ("+86 10 8888 6666", "01088886666"),
    ("(010) 8888-6666", "01088886666"),
    ("+44 20 7946 0000", "+442079460000"),
    ("1001", "1001"),
    ("anonymous", ""),
    ("12", ""),
    ("+", ""),
])
def test_numbers_are_normalised_so_a_trunk_and_a_person_meet(raw: str, stored: str) -> None:
    assert normalise_number(raw) == stored


@pytest.fixture
def store(tmp_path: Path) -> CustomerStore:
    path = tmp_path / "records.sqlite3"
    RecordStore.open(path).close()  # the record store's own tables first, as on the box
    CustomerStore.create_schema(path)
    return CustomerStore.open(path)


def test_lookup_search_and_unique_numbers(store: CustomerStore) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ada = store.insert(CustomerInput(name="Ada Lovelace", numbers=("13800138000", "01088886666"), vip=True,
                                     fields={"level": "gold"}), 100.0)
    bob = store.insert(CustomerInput(name="Bob", numbers=("13900139000",)), 101.0)
    assert store.lookup("01088886666") == ada
    assert store.lookup("13900139000") == bob
    assert store.lookup("13700137000") is None
    with pytest.raises(NumberTaken) as taken:
        store.insert(CustomerInput(name="Eve", numbers=("13900139001", "13800138000")), 102.0)
    assert taken.value.details["owner"] == ada.id and taken.value.details["fields"][0]["field"] == "numbers.1"
    assert store.lookup("13900139001") is None  # the refused customer left nothing behind
    assert [c.name for c in store.search(Search(text="ada"), None).items] == ["Ada Lovelace"]
    assert [c.name for c in store.search(Search(text="139"), "139").items] == ["Bob"]
    assert [c.id for c in store.search(Search(field="level", value="gold"), None).items] == [ada.id]
    assert [c.id for c in store.search(Search(vip=True), None).items] == [ada.id]
    # moving a number from one customer to another: the first must let it go
    updated = store.update(bob.id, CustomerInput(name="Bob", numbers=("13900139000", "13700137000")), 103.0)
    assert updated is not None and store.lookup("13700137000") == updated
    assert store.update(999, CustomerInput(name="Nobody"), 104.0) is None


def test_scope_lists_own_and_unassigned_customers(store: CustomerStore) -> None:
    store.insert(CustomerInput(name="Mine", account_manager="1001"), 1.0)
    store.insert(CustomerInput(name="Theirs", account_manager="1002"), 1.0)
    store.insert(CustomerInput(name="Pool"), 1.0)
    names = {c.name for c in store.search(Search(managers=frozenset({"1001"})), None).items}
    assert names == {"Mine", "Pool"}
    assert {c.name for c in store.iterate(Search(managers=frozenset({"1001"})), batch=1)} == {"Mine", "Pool"}


def test_service_records_by_customer_and_call_and_a_customer_with_records_stays(store: CustomerStore) -> None:
    ada = store.insert(CustomerInput(name="Ada", numbers=("13800138000",)), 1.0)
    first = store.add_record(ada.id, ServiceRecordInput(type="complaint", content="noisy line", call_id="c-1",
                                                        agent="1001", follow_up="2026-12-09"), "agent1", 10.0)
    store.add_record(ada.id, ServiceRecordInput(type="consultation", call_id="c-2"), "agent1", 20.0)
    assert [r.call_id for r in store.records(customer_id=ada.id).items] == ["c-2", "c-1"]
    assert store.records(call_id="c-1").items == (first,)
    assert store.records(follow_up_until="2026-12-08").total == 0
    assert store.records(follow_up_until="2026-12-09").items == (first,)
    with pytest.raises(HasServiceRecords):
        store.delete(ada.id)
    assert store.lookup("13800138000") == ada


def test_bulk_insert_and_a_deleted_field_leaves_no_values(store: CustomerStore) -> None:
    from appliance.customers.models import FieldDefinition, FieldType

    store.put_definition(FieldDefinition(name="level", label="Level", label_zh="等级", type=FieldType.SELECT,
                                         options=("gold", "silver")))
    assert store.bulk_insert([CustomerInput(name=f"C{i}", numbers=(f"1380000{i:04d}",), fields={"level": "gold"})
                              for i in range(500)], 1.0) == 500
    assert store.count() == 500
    assert store.lookup("13800000499") is not None and store.lookup("13800000499").name == "C499"  # type: ignore[union-attr]
    assert store.delete_definition("level")
    assert store.search(Search(field="level", value="gold"), None).total == 0
    assert store.lookup("13800000001").fields == {}  # type: ignore[union-attr]


def test_customers_once_in_the_configuration_move_once(store: CustomerStore) -> None:
    old = [{"id": "acme", "name": "ACME", "phones": ["010-8888-6666", "bad"], "account_manager": "1001",
            "area": "010", "vip": True, "note": "big"}]
    assert store.move_legacy(old, 1.0) == 1
    moved = store.lookup("01088886666")
    assert moved is not None and (moved.name, moved.account_manager, moved.vip) == ("ACME", "1001", True)
    assert "acme" in moved.note
    assert store.move_legacy(old, 2.0) == 0 and store.count() == 1
