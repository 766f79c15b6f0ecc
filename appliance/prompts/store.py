"""The prompt store: uploaded prompts, the shipped defaults, and a cache of synthesized speech.

Layout under the store's root (a data directory chosen by the composition root):
`<language>/<name>.wav` for uploads, `tts/<sha256>.wav` for synthesized text. Lookups fall back from an
upload to the shipped default (`appliance/prompts/default/<language>/<name>.wav`) and then to the other
language, so a flow keeps playing something when only one language was recorded. Files are written to a
temporary name and renamed, so a call never plays half a file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from appliance.errors import FieldError, NotFound, ValidationFailed
from appliance.ivr.models import LANGUAGES, Language
from appliance.prompts.audio import convert_upload, wav_duration
from appliance.store.atomic import atomic_write_bytes

DEFAULT_DIR = Path(__file__).parent / "default"
TTS_PREFIX = "tts/"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class SpeechEngine(Protocol):
    async def synthesize(self, text: str, language: Language) -> bytes: ...


@dataclass(frozen=True, slots=True)
class PromptInfo:
    name: str
    language: Language
    source: Literal["upload", "default"]
    duration: float
    size: int


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, mode=0o644)


class PromptStore:
    def __init__(self, root: Path, defaults: Path = DEFAULT_DIR, tts: SpeechEngine | None = None) -> None:
        self.root = root
        self.defaults = defaults
        self.tts = tts

    # ---------------------------------------------------------------- names and lookup

    @staticmethod
    def check_name(name: str, language: str) -> None:
        errors = []
        if not _NAME.match(name):
            errors.append(FieldError("name", "invalid_name",
                                     "name: use 1-64 lower-case letters, digits, '_' or '-'",
                                     "name: 请使用 1-64 个小写字母、数字、'_' 或 '-'"))
        if language not in LANGUAGES:
            errors.append(FieldError("language", "invalid_language", "language: must be zh-CN or en",
                                     "language: 必须是 zh-CN 或 en"))
        if errors:
            raise ValidationFailed(errors, what="prompt")

    def _names_in(self, base: Path) -> set[str]:
        return {p.stem for lang in LANGUAGES for p in (base / lang).glob("*.wav")} if base.exists() else set()

    def names(self) -> frozenset[str]:
        """Every prompt name a flow may refer to (the `known_prompts` of flow validation)."""
        return frozenset(self._names_in(self.root) | self._names_in(self.defaults))

    def list(self) -> list[PromptInfo]:
        out: list[PromptInfo] = []
        sources: tuple[tuple[Literal["upload", "default"], Path], ...] = (
            ("upload", self.root),
            ("default", self.defaults),
        )
        for source, base in sources:
            for lang in LANGUAGES:
                for path in sorted((base / lang).glob("*.wav")):
                    data = path.read_bytes()
                    out.append(PromptInfo(path.stem, lang, source, wav_duration(data), len(data)))
        return out

    def resolve(self, key: str, language: Language) -> Path:
        """The file to play for a prompt key from a `Play` action."""
        if key.startswith(TTS_PREFIX):
            path = self.root / "tts" / f"{key[len(TTS_PREFIX):]}.wav"
            if path.is_file():
                return path
            raise NotFound("prompt", key)
        order = [language] + [lang for lang in LANGUAGES if lang != language]
        for lang in order:
            for base in (self.root, self.defaults):
                path = base / lang / f"{key}.wav"
                if path.is_file():
                    return path
        raise NotFound("prompt", key)

    # ---------------------------------------------------------------- uploads

    def save_upload(self, name: str, language: Language, data: bytes) -> PromptInfo:
        """Convert an uploaded WAV (any common rate, width, channels) and store it; replaces an older one."""
        self.check_name(name, language)
        converted, info = convert_upload(data, field="file")
        _atomic_write(self.root / language / f"{name}.wav", converted)
        return PromptInfo(name, language, "upload", info.duration, len(converted))

    def delete_upload(self, name: str, language: Language) -> None:
        self.check_name(name, language)
        path = self.root / language / f"{name}.wav"
        if not path.is_file():
            raise NotFound("prompt", f"{language}/{name}")
        path.unlink()

    # ---------------------------------------------------------------- speech

    @staticmethod
    def tts_key(text: str, language: Language) -> str:
        digest = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:32]
        return f"{TTS_PREFIX}{digest}"

    async def speak(self, text: str, language: Language) -> str:
        """The prompt key of `text` spoken in `language`, synthesizing it on first use."""
        key = self.tts_key(text, language)
        path = self.root / "tts" / f"{key[len(TTS_PREFIX):]}.wav"
        if path.is_file():
            return key
        if self.tts is None:
            raise NotFound("speech engine", "tts")
        wav = await self.tts.synthesize(text, language)
        _atomic_write(path, wav)
        return key
