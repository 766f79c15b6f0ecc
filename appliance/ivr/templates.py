"""`${name}` templates in TTS text, URLs, request bodies and variable values.

Unknown names render as the empty string (a flow author sees the gap in the journey log rather than a call
that fails). In URLs every value is percent-encoded so a caller's digits cannot change the path or query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def names_in(template: str) -> list[str]:
    return _VAR.findall(template)


def render(template: str, variables: Mapping[str, str], escape: Literal["none", "url", "json"] = "none") -> str:
    def sub(m: re.Match[str]) -> str:
        value = variables.get(m.group(1), "")
        if escape == "url":
            return quote(value, safe="")
        if escape == "json":
            return json.dumps(value)[1:-1]  # the inside of a JSON string literal
        return value

    return _VAR.sub(sub, template)
