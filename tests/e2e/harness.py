"""A running appliance (the real `appliance run` in a subprocess) and SIPp phones around it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import free_port, free_rtp_port

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "calls" / "scenarios"
MEDIA_FIXTURES = ROOT / "tests" / "media" / "fixtures"
ADMIN_PASSWORD = "an admin password"


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def fill_scenario(template: Path, work: Path, **values: object) -> Path:
    """A SIPp scenario template with its `{NAME}` placeholders filled in, written to a new file in `work`
    (a new name each time: SIPp names its logs after the scenario file)."""
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    path = work / f"{template.stem}-{time.monotonic_ns()}.xml"
    path.write_text(text)
    return path


@dataclass
class RunningAppliance:
    data: Path
    work: Path
    http_port: int
    sip_port: int
    proc: subprocess.Popen[str]
    token: str = ""
    log: Path = field(default_factory=Path)
    setup_token: str = ""
    https_port: int = 0

    # ---- HTTP API
    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    # ---- credentials and scenarios
    def password(self, extension: str) -> str:
        creds = json.loads((self.data / "demo-credentials.json").read_text())
        return str(creds["extensions"][extension])

    def pin(self, extension: str) -> str:
        creds = json.loads((self.data / "demo-credentials.json").read_text())
        return str(creds["pins"][extension])

    def users_csv(self, extension: str) -> Path:
        path = self.work / f"user-{extension}.csv"
        path.write_text(f"SEQUENTIAL\n{extension};[authentication username={extension} "
                        f"password={self.password(extension)}]\n")
        return path

    def scenario(self, name: str, **values: object) -> Path:
        return fill_scenario(SCENARIOS / name, self.work, **values)

    def sipp_args(self, scenario: Path, port: int, *, media_port: int | None = None,
                  auto_answer: bool = True) -> list[str]:
        args = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin",
                "-trace_err", "-timeout", "60"]
        if auto_answer:  # answer OPTIONS (the registrar's qualify), INFO, NOTIFY, UPDATE outside the scenario
            args.append("-aa")
        if media_port is not None:
            args += ["-mp", str(media_port)]
        return args

    def sipp(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, capture_output=True, text=True, cwd=self.work, timeout=timeout)

    def sipp_background(self, args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.work)

    def caller_with_media(self, rtp_port: int, digit: str = "1", caller: str = "1005") -> list[str]:
        """SIPp arguments for `caller` dialling the access number 8000 and pressing `digit` after 2 s, its
        audio sent and heard by the test's own RTP phone at `rtp_port`; it stays until hung up."""
        scenario = self.scenario("caller_media.xml", RTP_PORT=rtp_port, DIGIT=digit, BEFORE_KEY_MS=2000)
        return [*self.sipp_args(scenario, free_port()), "-inf", str(self.users_csv(caller)), "-s", "8000",
                f"127.0.0.1:{self.sip_port}"]

    def phone_feature(self, extension: str, code: str, port: int) -> subprocess.CompletedProcess[str]:
        """Register `extension` at `port` and dial a feature code from it."""
        args = [*self.sipp_args(self.scenario("phone_login.xml"), port), "-inf", str(self.users_csv(extension)), "-s", code, f"127.0.0.1:{self.sip_port}"]
        return self.sipp(args)

    def register(self, extension: str) -> int:
        """Register `extension`'s phone at a new port (then a scenario can answer on it); returns the port."""
        port = free_port()
        args = [*self.sipp_args(self.scenario("phone_register.xml"), port), "-inf", str(self.users_csv(extension)),
                f"127.0.0.1:{self.sip_port}"]
        assert successful(self.sipp(args)) == 1
        return port

    def answering(self, port: int, scenario: str = "agent_answer.xml", **values: object) -> subprocess.Popen[str]:
        """A phone at `port` that answers the next call (in the background)."""
        values.setdefault("PCAP", MEDIA_FIXTURES / "g711a.pcap")
        return self.sipp_background(self.sipp_args(self.scenario(scenario, **values), port, media_port=free_rtp_port()))

    def connected_call(self, timeout: float = 20.0) -> str:
        """The id of the first call whose caller is bridged to someone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, calls = self.api("GET", "/api/v1/calls")
            found = next((c["id"] for c in calls["items"] if c.get("phase") == "connected"), "")
            if found:
                return str(found)
            time.sleep(0.3)
        raise AssertionError("no call got connected")

    # ---- records
    def records(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.data / 'records.sqlite3'}?mode=ro", uri=True)

    def wait_for_cdr(self, callee: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.records() as db:
                rows = db.execute("SELECT data FROM cdr WHERE callee = ? ORDER BY started DESC", (callee,)).fetchall()
            if rows:
                return dict(json.loads(rows[0][0]))
            time.sleep(0.2)
        raise AssertionError(f"no CDR for a call to {callee}; log:\n{self.log.read_text()[-3000:]}")

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        time.sleep(0.5)  # the journal writes in batches every 0.2 s
        with self.records() as db:
            return list(db.execute(sql, args).fetchall())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_appliance(work: Path, *extra: str, set_up: bool = True) -> RunningAppliance:
    """`appliance run` on free ports; with `set_up`, the admin password set and a session opened (else the
    one-time token is left in `setup_token` for the test to use)."""
    data = work / "data"
    log = work / "appliance.log"
    for attempt in range(3):
        # A port found free can be taken by another process's outgoing connection before the box binds it (the
        # ports come from the ephemeral range): start again on new ports rather than fail the test.
        http_port, https_port, sip_port = free_port(), free_port(), free_port()
        proc, token = _launch(data, log, http_port, https_port, sip_port, extra)
        if proc is not None:
            break
        if attempt == 2 or "address already in use" not in log.read_text():
            raise AssertionError(f"the appliance did not start:\n{log.read_text()}")
    assert proc is not None
    app = RunningAppliance(data, work, http_port, sip_port, proc, log=log, setup_token=token, https_port=https_port)
    if not set_up:
        return app
    status, _ = app.api("POST", "/api/v1/setup", {"token": token, "password": ADMIN_PASSWORD})
    assert status == 200
    status, session = app.api("POST", "/api/v1/login", {"name": "admin", "password": ADMIN_PASSWORD})
    assert status == 200
    app.token = session["token"]
    return app


def _launch(data: Path, log: Path, http_port: int, https_port: int, sip_port: int,
            extra: tuple[str, ...]) -> tuple[subprocess.Popen[str] | None, str]:
    """Start `appliance run` and read its banner: the process and the setup token, or None when it exited."""
    rtp_low = 30000 + (os.getpid() % 200) * 100
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "run", "--data-dir", str(data), "--http-port", str(http_port),
         "--https-port", str(https_port), "--sip-port", str(sip_port), "--rtp-ports", f"{rtp_low}-{rtp_low + 99}",
         "--snmp-port", "0", *extra],  # (the agent on a free port, not 1161; a later --snmp-port wins)
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=env, cwd=ROOT,
    )
    token = ""
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=10)
            return None, ""
        if "setup token" in line:
            token = proc.stdout.readline().strip()
        if "demo info" in line:
            break
    return proc, token


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `check` until it holds; fail naming `what` when it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def channel_rms(path: Path) -> tuple[float, float]:
    """RMS level of the left (caller) and right (agent) channels of a stereo recording."""
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2).astype(np.float64)
    return float(np.sqrt(np.mean(pcm[:, 0] ** 2))), float(np.sqrt(np.mean(pcm[:, 1] ** 2)))


def successful(result: subprocess.CompletedProcess[str] | str) -> int:
    text = result if isinstance(result, str) else result.stdout
    found = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return int(found[-1]) if found else 0


def tone_share(path: Path, hz: float, others: tuple[float, ...]) -> float:
    """Power at `hz` over the power at `hz` and `others` in a mono 16-bit WAV (1.0: only `hz` is there)."""
    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        rate = w.getframerate()
    t = np.arange(len(pcm)) / rate

    def power(f: float) -> float:
        return float(abs(np.dot(pcm, np.exp(-2j * np.pi * f * t))) ** 2)

    wanted = power(hz)
    return wanted / max(1e-9, wanted + sum(power(f) for f in others))
