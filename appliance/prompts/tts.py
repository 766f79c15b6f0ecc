"""Text-to-speech with espeak-ng (a Debian package; Mandarin voice `cmn`, English `en-us`).

espeak-ng is run as a subprocess with the text on stdin (so text can never be read as an option) and WAV
on stdout; the result goes through the same conversion as uploads, so TTS prompts are 8 kHz mono 16-bit
and as loud as recorded ones. The async form is what the IVR runner uses on the live box; the blocking form
serves the script that regenerates the shipped default prompts.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass, field

from appliance.errors import ApplianceError
from appliance.ivr.models import Language
from appliance.prompts.audio import convert_upload

VOICES: dict[str, str] = {"zh-CN": "cmn", "en": "en-us"}
# Words per minute: English a little slower than espeak's default (hurried on a phone line); Mandarin
# faster, as espeak-ng's cmn voice drawls at the default rate.
SPEED: dict[str, int] = {"zh-CN": 190, "en": 160}


class TtsError(ApplianceError):
    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message, message_zh, {}, error_id="tts_failed", http_status=503)


@dataclass(frozen=True)
class EspeakTts:
    binary: str = "espeak-ng"
    timeout: float = 20.0
    voices: dict[str, str] = field(default_factory=lambda: dict(VOICES))

    def command(self, language: Language) -> list[str]:
        path = shutil.which(self.binary)
        if path is None:
            raise TtsError(f"{self.binary} is not installed", f"未安装 {self.binary}")
        return [path, "-v", self.voices[language], "-s", str(SPEED[language]), "-b", "1", "--stdout"]

    def _finish(self, wav: bytes, code: int | None, err: bytes) -> bytes:
        if code != 0 or not wav:
            detail = err.decode("utf-8", "replace").strip()[:200]
            raise TtsError(f"speech synthesis failed: {detail}", f"语音合成失败: {detail}")
        converted, _info = convert_upload(wav, field="text")
        return converted

    def synthesize_blocking(self, text: str, language: Language) -> bytes:
        """8 kHz mono 16-bit WAV of `text`."""
        done = subprocess.run(
            self.command(language), input=text.encode("utf-8"), capture_output=True, timeout=self.timeout,
            check=False,
        )
        return self._finish(done.stdout, done.returncode, done.stderr)

    async def synthesize(self, text: str, language: Language) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            *self.command(language),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise TtsError("speech synthesis timed out", "语音合成超时") from None
        # The WAV decode and resampling are CPU work; keep them off the event loop that carries RTP.
        return await asyncio.to_thread(self._finish, out, proc.returncode, err)
