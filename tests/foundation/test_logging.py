"""Logging: JSON lines on request, per-module levels, and no secret ever reaches a line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from appliance.logging_setup import JsonFormatter, RedactingFilter, configure, parse_levels, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('login {"name": "admin", "password": "hunter2hunter2"}', "hunter2hunter2"),
        ("Authorization: Digest username=\"1001\", response=\"6629fae49393a05397450978507c4ef1\"",
         "6629fae49393a05397450978507c4ef1"),
        ("setup token=Zx9_secretTOKENvalue", "Zx9_secretTOKENvalue"),
        ("phone login pin: 4321", "4321"),
    ],
)
def test_secrets_are_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "***" in redact(line)


def test_json_lines_with_redaction_through_the_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("appliance.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info("user %s set password=%s", "admin", "s3cret-pass", extra={"call_id": "c1"})
    logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert record["level"] == "info" and record["logger"] == "appliance.test.json" and record["call_id"] == "c1"
    assert "s3cret-pass" not in stream.getvalue()


def test_levels_per_module() -> None:
    root, per = parse_levels("warning,appliance.sip=debug,appliance.acd=error")
    assert root == logging.WARNING
    assert per == {"appliance.sip": logging.DEBUG, "appliance.acd": logging.ERROR}
    with pytest.raises(ValueError):
        parse_levels("loud")
    configure("json", "warning,appliance.sip=debug")
    try:
        assert logging.getLogger("appliance.sip").getEffectiveLevel() == logging.DEBUG
        assert logging.getLogger("appliance.store").getEffectiveLevel() == logging.WARNING
    finally:
        logging.getLogger("appliance.sip").setLevel(logging.NOTSET)
        configure("text", "info")
