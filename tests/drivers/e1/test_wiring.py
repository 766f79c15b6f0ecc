"""The `e1` setting as the composition root reads it: validated once, errors naming the field."""

from __future__ import annotations

import pytest

from appliance.errors import ValidationFailed
from drivers.e1.wiring import E1Wiring, parse_settings


def test_a_full_setting_becomes_the_driver_settings() -> None:
    s = parse_settings({"card": "/dev/ttyUSB0", "spans": [
        {"span": 1, "role": "user", "name": "pri1", "framing": "crc4", "channels": "1-10", "strip_digits": 2,
         "prefix": "8"},
        {"span": 2, "role": "network", "hunting": "ascending", "line_code": "ami"}],
        "groups": [{"name": "pstn", "spans": [1, 2], "hunting": "round_robin"}]})
    one, two = s.spans
    assert (one.trunk, one.line.framing, one.channels, one.access_number("998000")) == (
        "pri1", "crc4", tuple(range(1, 11)), "88000")
    assert (two.trunk, two.role, two.hunting, two.line.framing, len(two.channels)) == (
        "span-2", "network", "ascending", "auto", 30)
    assert (one.line.line_code, two.line.line_code) == ("hdb3", "ami")  # (HDB3 unless a span says otherwise)
    assert s.groups[0].spans == (1, 2) and s.groups[0].hunting == "round_robin"
    assert E1Wiring.from_settings(None) is None


@pytest.mark.parametrize(("raw", "field"), [
    ({"spans": [{"span": 1}]}, "e1.card"),
    ({"card": "/dev/x"}, "e1.spans"),
    ({"card": "/dev/x", "spans": [{"span": 99}]}, "e1.spans.0.span"),
    ({"card": "/dev/x", "spans": [{"span": 1, "framing": "d4"}]}, "e1.spans.0.framing"),
    ({"card": "/dev/x", "spans": [{"span": 1, "line_code": "b8zs"}]}, "e1.spans.0.line_code"),
    ({"card": "/dev/x", "spans": [{"span": 1, "channels": "16"}]}, "e1.spans.0.channels"),
    ({"card": "/dev/x", "spans": [{"span": 1, "channels": "a-b"}]}, "e1.spans.0.channels"),
    ({"card": "/dev/x", "spans": [{"span": 1}], "groups": [{"name": "g", "spans": [3]}]}, "e1.groups.0.spans"),
])
def test_a_wrong_setting_names_its_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse_settings(raw)
    assert [f.field for f in failed.value.errors] == [field]
