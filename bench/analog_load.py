"""Analog load: 24 FXO lines and 24 FXS phones of the emulated analog card all in calls at once, for 10 minutes.

The emulated card (`python -m drivers.analog.emulator`) runs in its own process with the exchange behind each
FXO port and a phone on each FXS port. This process runs what the box runs for them: the analog driver on the
card HAL (serial control on a pty, bearer on UDP) and the media engine. Every exchange calls its line with
FSK caller ID; the driver offers the call, it is answered, the paired FXS phone is rung with caller ID and
picks up, and the two frame ports are bridged. For the whole hold time the exchange side speaks Mandarin
speech and the phone side English (espeak-ng), so every line's busy-tone detector listens to speech all along.

- failed: pairs not in a call within the set-up time;
- false_disconnects: legs ended during the hold time (nobody hung up, so any end is false);
- cpu_per_port_pct: this process's CPU (driver and media engine) over the hold time, per port, in percent of
  one core; the emulator's own CPU is reported beside it.

    .venv/bin/python bench/analog_load.py [--pairs 24] [--seconds 600]

The last line printed is one JSON object: ports, concurrent_calls, failed, false_disconnects, cpu_per_port_pct.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from appliance.events import Event, EventBus
from appliance.legs import events as leg_events
from appliance.legs.models import OutboundLeg
from appliance.media.models import MediaConfig
from appliance.media.service import MediaEngine
from drivers.analog.config import parse_config
from drivers.analog.legs import AnalogLeg
from drivers.analog.service import AnalogService
from drivers.hal.serial_backend import SerialCard

MANDARIN = "您好，欢迎致电客户服务中心。请问您需要查询账户余额，还是办理新的业务？感谢您的耐心等待。"
ENGLISH = "Thank you for calling. Let me check your account, it will take a moment. Is there anything else?"


def speech(work: Path, voice: str, text: str, name: str) -> Path:
    """espeak-ng speech at 8 kHz, 16-bit raw, about a minute (looped by the far ends)."""
    wav = work / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text * 6], check=True, capture_output=True)
    raw = work / f"{name}.s16"
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-b", "16", "-t", "raw", "-e", "signed", str(raw),
                    "norm", "-16"], check=True, capture_output=True)
    return raw


class Far:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()

    async def __call__(self, port: int, do: str, **args: Any) -> dict[str, Any]:
        async with self.lock:
            self.writer.write(json.dumps({"port": port, "do": do, **args}).encode() + b"\n")
            await self.writer.drain()
            answer: dict[str, Any] = json.loads(await self.reader.readline())
        if not answer.pop("ok"):
            raise RuntimeError(answer["error"])
        return answer


async def run(pairs: int, seconds: float, setup_s: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="analog-load-"))
    try:
        exchange_talk = speech(work, "cmn", MANDARIN, "exchange")
        phone_talk = speech(work, "en-us", ENGLISH, "phone")
        control = str(work / "control.sock")
        emu = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "drivers.analog.emulator", "--ports", f"fxo:{pairs},fxs:{pairs}",
            "--control", control, stdout=asyncio.subprocess.PIPE)
        assert emu.stdout is not None
        info = json.loads(await asyncio.wait_for(emu.stdout.readline(), 20))
        far = Far(*await asyncio.open_unix_connection(control))
        bus = EventBus()
        media = MediaEngine(MediaConfig(port_low=31000, port_high=31999), bus)
        await media.start()
        config = parse_config({
            "fxo": [{"port": i, "trunk": "pstn", "access_number": "8000", "settings": {"rings_to_answer": 1}}
                    for i in range(1, pairs + 1)],
            "fxs": [{"port": pairs + i, "extension": str(2000 + i)} for i in range(1, pairs + 1)]})
        service = AnalogService(SerialCard(str(info["tty"])), media, config, bus)
        events: list[Event] = []
        service.fxo.attach(events.append)
        service.fxs.attach(events.append)
        await service.start()
        bridged: dict[int, tuple[AnalogLeg, AnalogLeg]] = {}

        async def carry(pair: int) -> None:
            line_port, phone_port = pair, pairs + pair
            await far(phone_port, "auto_answer", rings=1)
            await far(line_port, "call", number=f"0215000{pair:04d}", name=f"LINE {pair}")
            deadline = time.monotonic() + setup_s
            while True:
                incoming = [e for e in events if isinstance(e, leg_events.LegIncoming)
                            and e.leg_id.startswith(f"fxo-{line_port}-")]
                if incoming:
                    break
                if time.monotonic() > deadline:
                    return
                await asyncio.sleep(0.05)
            line = service.fxo.leg(incoming[0].leg_id)
            assert isinstance(line, AnalogLeg)
            await line.open_media()
            line.answer()
            phone = await service.fxs.create(OutboundLeg(callee=str(2000 + pair), caller=incoming[0].caller,
                                                         caller_name=incoming[0].caller_name,
                                                         extension=str(2000 + pair)))
            assert isinstance(phone, AnalogLeg)
            while phone.state != "answered" or line.state != "answered":
                if time.monotonic() > deadline or phone.ended or line.ended:
                    return
                await asyncio.sleep(0.05)
            assert line.endpoint_id is not None and phone.endpoint_id is not None
            media.bridge(line.endpoint_id, phone.endpoint_id)
            await far(line_port, "speak", path=str(exchange_talk), offset=pair * 1.7)
            await far(phone_port, "speak", path=str(phone_talk), offset=pair * 2.3)
            bridged[pair] = (line, phone)

        started = time.monotonic()
        await asyncio.gather(*(carry(p) for p in range(1, pairs + 1)))
        setup_took = time.monotonic() - started
        print(f"{len(bridged)} of {pairs} pairs in calls after {setup_took:.1f} s", flush=True)
        ended_before = sum(1 for e in events if isinstance(e, leg_events.LegEnded))
        me, emulator = psutil.Process(), psutil.Process(emu.pid)
        cpu0, emu0, t0 = me.cpu_times(), emulator.cpu_times(), time.monotonic()
        lost0 = service.health().counters.get("frames_lost", 0)
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(min(10.0, seconds - (time.monotonic() - t0)))
            live = sum(1 for line, phone in bridged.values() if not line.ended and not phone.ended)
            print(f"  {time.monotonic() - t0:6.0f} s: {live} calls up", flush=True)
        held = time.monotonic() - t0
        cpu1, emu1 = me.cpu_times(), emulator.cpu_times()
        busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        emu_busy = (emu1.user + emu1.system) - (emu0.user + emu0.system)
        ended = [e for e in events if isinstance(e, leg_events.LegEnded)]
        false_disconnects = len(ended) - ended_before
        concurrent = sum(1 for line, phone in bridged.values() if not line.ended and not phone.ended)
        health = service.health()
        ports = 2 * pairs
        result = {"ports": ports, "concurrent_calls": concurrent, "failed": pairs - len(bridged),
                  "false_disconnects": false_disconnects,
                  "cpu_per_port_pct": round(100 * busy / held / ports, 3),
                  "emulator_cpu_per_port_pct": round(100 * emu_busy / held / ports, 3),
                  "seconds": round(held, 1), "setup_s": round(setup_took, 1),
                  "frames_lost": health.counters.get("frames_lost", 0) - lost0,
                  "caller_ids": health.counters.get("fxo_caller_ids", 0)}
        await service.stop()
        await media.stop()
        far.writer.close()
        emu.terminate()
        await emu.wait()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24, help="FXO lines, each with an FXS phone (default 24)")
    parser.add_argument("--seconds", type=float, default=600.0, help="hold time (default 600)")
    parser.add_argument("--setup", type=float, default=60.0, help="seconds allowed to set the calls up")
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed", file=sys.stderr)
            return 1
    result = asyncio.run(run(args.pairs, args.seconds, args.setup))
    print(json.dumps(result), flush=True)
    return 0 if result["failed"] == 0 and result["false_disconnects"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
