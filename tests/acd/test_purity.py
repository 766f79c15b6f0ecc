"""The ACD stays pure: importing any of its modules pulls in no HTTP client and no project module that does I/O.

Checked in a fresh interpreter, since this test process has long since imported everything.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import appliance

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import importlib, json, pkgutil, sys
import appliance.acd
names = sorted(m.name for m in pkgutil.walk_packages(appliance.acd.__path__, "appliance.acd."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"acd": names, "loaded": sorted(sys.modules)}))
"""

# Modules whose import means I/O: sockets, event loops, HTTP.
_IO_MODULES = frozenset({"asyncio", "socket", "ssl", "selectors", "httpx", "httpcore", "uvloop", "sanic", "aiohttp"})

# Shared pieces the ACD may import, and the one of them that does import asyncio, with why it is tolerated.
_SHARED = frozenset({"appliance", "appliance.clock", "appliance.errors", "appliance.events"})
_SHARED_USING_ASYNCIO = {
    "appliance.events": "the Event base class the ACD's events subclass lives beside the asyncio EventBus",
}


def _probe() -> tuple[list[str], list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(out.stdout)
    return found["acd"], found["loaded"]


def _imports_of(module: str) -> set[str]:
    """Top-level names of the modules a project module imports (any import statement, anywhere in it)."""
    parts = module.split(".")[1:]
    base = Path(appliance.__file__).parent.joinpath(*parts)
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_acd_modules_import_no_http_client_and_no_io_module_of_the_project() -> None:
    acd_modules, loaded = _probe()
    assert {"appliance.acd.engine", "appliance.acd.sim", "appliance.acd.dispatch"} <= set(acd_modules)

    assert not [m for m in loaded if m.split(".")[0] in ("httpx", "httpcore")], "the ACD pulled in an HTTP client"

    project = [m for m in loaded if m == "appliance" or m.startswith("appliance.")]
    foreign = [m for m in project if not m.startswith("appliance.acd") and m not in _SHARED]
    assert foreign == [], f"the ACD imports other contexts: {foreign}"

    using_io = {m: sorted(_imports_of(m) & _IO_MODULES) for m in project}
    using_io = {m: names for m, names in using_io.items() if names}
    assert set(using_io) <= set(_SHARED_USING_ASYNCIO), f"ACD imports I/O modules: {using_io}"
    for names in using_io.values():
        assert names == ["asyncio"]
