"""Running SIPp from tests and the benchmark: free ports, a process per role, the call counters it printed."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).parent / "fixtures" / "sipp"


def sipp_path() -> str | None:
    return shutil.which("sipp")


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str


def counters(output: str) -> tuple[int, int]:
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", output)
    bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", output)
    return (int(ok[-1]) if ok else 0), (int(bad[-1]) if bad else 0)


async def run_sipp(args: list[str], cwd: Path, timeout: float = 60.0) -> SippResult:
    exe = sipp_path()
    assert exe is not None
    proc = await asyncio.create_subprocess_exec(
        exe, *args, "-nostdin", "-trace_err", "-mp", str(free_udp_port()), cwd=str(cwd),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    text = out.decode("utf-8", "replace")
    ok, bad = counters(text)
    return SippResult(proc.returncode if proc.returncode is not None else -1, ok, bad, text)


def start_sipp(args: list[str], cwd: Path) -> asyncio.Task[SippResult]:
    """A SIPp running in the background (e.g. a uas with -m N that ends by itself)."""
    return asyncio.get_running_loop().create_task(run_sipp(args, cwd, 90.0))
