"""baresip as a test peer: where its modules are, ports it can take, a tone for it to send, and an agent's phone
that answers by itself."""

from __future__ import annotations

import math
import shutil
import socket
import struct
import subprocess
import wave
from pathlib import Path


def baresip_modules() -> Path | None:
    """baresip's module directory, found beside its binary (…/bin/baresip → …/lib[/<arch>]/baresip/modules)."""
    exe = shutil.which("baresip")
    if exe is None:
        return None
    lib = Path(exe).resolve().parent.parent / "lib"
    for candidate in [lib / "baresip" / "modules", *sorted(lib.glob("*/baresip/modules"))]:
        if (candidate / "g711.so").exists():
            return candidate
    return None


def free_pair() -> int:
    """A port p with p+1 free too (baresip takes the next port for TLS)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        p = int(s.getsockname()[1])
        s.close()
        ok = True
        for port in (p, p + 1):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                t = socket.socket(socket.AF_INET, kind)
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                finally:
                    t.close()
        if ok:
            return p
    raise RuntimeError("no free port pair")


def tone(path: Path, seconds: float = 30.0, hz: float = 425.0) -> None:
    """A sine tone as an 8 kHz mono WAV: what the phone says (baresip's aufile source)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * hz * i / 8000)))
                          for i in range(int(8000 * seconds)))
        w.writeframes(frames)


def baresip_agent(aor: str, password: str, folder: Path, *, seconds: float, hz: float,
                  rtp_ports: tuple[int, int], timeout_s: int, modules: tuple[str, ...] = (), config: str = "",
                  account: str = "", dial: str | None = None) -> subprocess.Popen[bytes]:
    """baresip registered as `aor` (`sip:ext@host:port[;transport=…]`), answering by itself (or dialling the
    URI `dial`), sending a tone of `hz` for `seconds` (it hangs up when that ends) and recording what it decodes
    in `folder`. `modules`, `config` and `account` (account parameters, e.g. `;mediaenc=srtp-mand`) add to the
    plain set-up."""
    folder.mkdir()
    tone(folder / "tone.wav", seconds, hz)
    extra = "".join(f"module {m}\n" for m in modules)
    (folder / "config").write_text(f"""
sip_listen 127.0.0.1:{free_pair()}
audio_source aufile,{folder / 'tone.wav'}
audio_player aubridge,a
audio_srate 8000
audio_channels 1
rtp_ports {rtp_ports[0]}-{rtp_ports[1]}
module_path {baresip_modules()}
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
{extra}module menu.so
module_app account.so
snd_path {folder}
""" + config)
    (folder / "accounts").write_text(f"<{aor}>;auth_pass={password};regint=300;answermode=auto{account}\n")
    command = ["baresip", "-f", str(folder), "-t", str(timeout_s)] + (["-e", f"/dial {dial}"] if dial else [])
    return subprocess.Popen(command, cwd=folder, stdout=(folder / "out.log").open("wb"), stderr=subprocess.STDOUT)
