"""SNMP settings: validated once, every bad field named; who may ask from where."""

from __future__ import annotations

import pytest

from appliance.errors import ValidationFailed
from appliance.snmp.http import SECRET, _keep_secrets, _masked_left
from appliance.snmp.models import parse_settings


def _fields(raw: object) -> set[str]:
    with pytest.raises(ValidationFailed) as bad:
        parse_settings(raw)
    return {f["field"] for f in bad.value.details["fields"]}


def test_defaults_serve_nobody_and_only_the_box_itself() -> None:
    s = parse_settings(None)
    assert s.communities == () and s.users == () and s.allows("127.0.0.1") and not s.allows("192.0.2.1")


def test_bad_fields_are_named() -> None:
    assert _fields({"communities": ["public", ""], "allowed_networks": ["10.0.0.0/33"],
                    "users": [{"name": "u", "auth_key": "short", "priv_key": "long-enough", "auth_protocol": "md5"}],
                    "trap_receivers": [{"host": "nms", "version": "v3", "user": "nobody"}, {"host": "x", "port": 0,
                                                                                            "community": "c"}],
                    "heartbeat_interval": -1, "enterprise_number": 0}) == {
        "communities.0", "communities.1", "allowed_networks.0", "users.0.auth_key", "users.0.auth_protocol",
        "trap_receivers.0.user", "trap_receivers.1.port", "heartbeat_interval", "enterprise_number"}

    # a community given as a row (name and networks) is named by its own cell
    assert _fields({"communities": [{"name": "public"}, {"name": "ok-but", "networks": ["10.0.0.0/33"]}]}) == {
        "communities.0.name", "communities.1.networks.0"}


def test_credentials_limited_to_their_networks() -> None:
    s = parse_settings({"allowed_networks": ["10.0.0.0/8", "127.0.0.0/8"],
                        "communities": [{"name": "lab", "networks": ["10.9.0.0/16"]}, "noc-wide"],
                        "users": [{"name": "noc", "auth_key": "12345678", "priv_key": "12345678",
                                   "networks": ["10.1.0.0/16"]}]})
    assert s.admits("10.9.1.1", ("community", "lab")) and not s.admits("10.1.1.1", ("community", "lab"))
    assert s.admits("10.1.1.1", ("community", "noc-wide")) and not s.admits("192.0.2.1", ("community", "noc-wide"))
    assert s.admits("10.1.2.3", ("user", "noc")) and not s.admits("127.0.0.1", ("user", "noc"))
    assert s.admits("127.0.0.1", ("user", ""))  # v3 engine discovery names no user
    assert s.admits("::ffff:10.9.0.5", ("community", "lab"))  # IPv4-mapped sources count as IPv4


def test_a_masked_secret_finds_its_own_stored_value_by_the_place_it_was_shown_at() -> None:
    old = {"communities": ["first-secret", {"name": "second-secret", "networks": ["10.0.0.0/8"]}],
           "users": [{"name": "noc", "auth_key": "auth-key-1", "priv_key": "priv-key-1"}],
           "trap_receivers": [{"host": "a", "community": "ca"}, {"host": "b", "community": "cb"}]}
    # the page removed the first row of each list; the rows left still say where they were shown
    new = {"communities": [{"name": SECRET, "networks": ["10.0.0.0/8"], "ref": 1}],
           "users": [{"name": "noc-renamed", "auth_key": SECRET, "priv_key": SECRET, "ref": 0}],
           "trap_receivers": [{"host": "b", "community": SECRET, "ref": 1}]}
    kept = _keep_secrets(new, old)
    assert kept["communities"] == [{"name": "second-secret", "networks": ["10.0.0.0/8"]}]
    assert kept["users"] == [{"name": "noc-renamed", "auth_key": "auth-key-1", "priv_key": "priv-key-1"}]
    assert kept["trap_receivers"] == [{"host": "b", "community": "cb"}]
    # without a place (the API's own clients), a masked entry stands for the one at its own place
    assert _keep_secrets({"communities": [SECRET]}, old)["communities"] == ["first-secret"]
    # a place that is not there keeps nothing, and the mask left is refused, named by its field
    left = _keep_secrets({"communities": [{"name": SECRET, "ref": 7}], "users": [{"name": "new", "auth_key": SECRET,
                                                                                  "priv_key": "p" * 8}]}, old)
    assert [f.field for f in _masked_left(left)] == ["communities.0.name", "users.0.auth_key"]
