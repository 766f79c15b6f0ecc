"""The analog setting is validated once, at the edge, and every bad field is named."""

from __future__ import annotations

import pytest

from appliance.errors import ValidationFailed
from drivers.analog.config import parse_config
from drivers.analog.wiring import AnalogWiring


def test_a_good_configuration_is_read_with_its_settings() -> None:
    config = parse_config({"fxo": [{"port": 1, "trunk": "pstn", "access_number": "8000",
                                    "settings": {"rings_to_answer": 3, "disconnect": ["busy_tone"],
                                                 "tx_gain_db": -3.5}}],
                           "fxs": [{"port": 2, "extension": "1002", "settings": {"caller_id": "dtmf"}}]})
    assert config.fxo[0].settings.rings_to_answer == 3
    assert config.fxo[0].settings.disconnect == frozenset({"busy_tone"})
    assert config.fxo[0].settings.tx_gain_db == -3.5
    assert config.fxs_for("1002") is not None and config.fxs_for("1002").settings.caller_id == "dtmf"  # type: ignore[union-attr]
    assert config.fxs_for("1003") is None


def test_every_bad_field_is_named() -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_config({"fxo": [{"port": 1, "trunk": "", "access_number": "8000"},
                              {"port": 2, "trunk": "t", "access_number": "80a0"},
                              {"port": 3, "trunk": "t", "access_number": "1", "settings": {"rings": 2,
                                                                                         "disconnect": ["x"]}},
                              {"port": 7, "trunk": "t", "access_number": "1", "settings": {"impedance": "75"}}],
                      "fxs": [{"port": 1, "extension": "1002"}, {"port": 4, "extension": "1004"},
                              {"port": 99, "extension": "1"},
                              {"port": 5, "extension": "1005", "settings": {"caller_id": "morse",
                                                                            "flash_max_s": -1,
                                                                            "rx_gain_db": 30}},
                              {"port": 6, "extension": "1004"}]})
    fields = {(e.field, e.rule) for e in failed.value.errors}
    assert fields == {("fxo[0].trunk", "required"), ("fxo[1].access_number", "digits"),
                      ("fxo[2].rings", "unknown"), ("fxo[2].disconnect", "enum"), ("fxo[3].impedance", "enum"),
                      ("fxs[0].port", "unique"),
                      ("fxs[2].port", "range"), ("fxs[3].caller_id", "enum"), ("fxs[3].flash_max_s", "type"),
                      ("fxs[3].rx_gain_db", "range"),
                      ("fxs[4].extension", "unique")}
    assert all(e.message_zh for e in failed.value.errors)


def test_no_setting_means_no_card_and_a_card_needs_its_path() -> None:
    assert AnalogWiring.from_settings(None) is None
    with pytest.raises(ValidationFailed) as failed:
        AnalogWiring.from_settings({"fxo": []})
    assert [e.field for e in failed.value.errors] == ["analog.card"]
