"""Logging: plain text for a person at a console, JSON lines for a collector; levels per module; no secrets.

Secrets never reach a log line: the filter masks passwords, tokens, digest responses and Authorization
headers wherever they appear in a message or its arguments.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_SECRET = re.compile(
    r"(?i)((?:password|passwd|secret|token|pin|authorization|proxy-authorization|response|nonce)"
    r"[\"']?\s*[=:]\s*[\"']?)(Digest\s+)?([^\s\"',;&]+)"
)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("call_id", "agent", "queue", "event"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def parse_levels(spec: str) -> tuple[int, dict[str, int]]:
    """"info,appliance.sip=debug" → (INFO, {"appliance.sip": DEBUG})."""
    root = logging.INFO
    per_module: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, level = part.rpartition("=")
        value = logging.getLevelName(level.upper())
        if not isinstance(value, int):
            raise ValueError(f"unknown log level {level!r}")
        if name:
            per_module[name] = value
        else:
            root = value
    return root, per_module


def configure(log_format: str = "text", levels: str = "info") -> None:
    root_level, per_module = parse_levels(levels)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(root_level)
    for name, level in per_module.items():
        logging.getLogger(name).setLevel(level)
    # Sanic's own access log is noisy at info; our API logs what matters.
    logging.getLogger("sanic.access").setLevel(max(root_level, logging.WARNING))
    logging.getLogger("sanic.root").setLevel(max(root_level, logging.WARNING))
