"""The prompt store, the shipped default prompts, and espeak-ng synthesis."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from appliance.errors import NotFound, ValidationFailed
from appliance.ivr.demo import demo_flows
from appliance.ivr.interpreter import KEY_PROMPTS
from appliance.ivr.models import Language
from appliance.prompts.catalogue import DEFAULT_PROMPT_NAMES
from appliance.prompts.generate_defaults import stale
from appliance.prompts.store import DEFAULT_DIR, PromptStore
from appliance.prompts.tts import EspeakTts
from tests.prompts.test_audio import encode, tone


def _info(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes() / w.getframerate()


def test_every_default_prompt_ships_in_both_languages_as_8k_mono_16bit() -> None:
    total = 0
    for name in DEFAULT_PROMPT_NAMES:
        for lang in ("zh-CN", "en"):
            path = DEFAULT_DIR / lang / f"{name}.wav"
            channels, width, rate, seconds = _info(path)
            assert (channels, width, rate) == (1, 2, 8000), path.name
            assert 0.2 < seconds < 20, (path.name, seconds)
            total += path.stat().st_size
    assert total < 4_000_000  # small enough to live in the repository


def test_shipped_prompts_match_the_catalogue_texts() -> None:
    assert stale() == []


def test_prompts_the_interpreter_and_demo_need_are_shipped() -> None:
    needed = set(KEY_PROMPTS.values()) | {"invalid", "no_input", "survey", "thanks", "callback_enter",
                                          "callback_saved"}
    for flow in demo_flows():
        needed |= {getattr(n, "prompt", "") for n in flow.nodes} - {""}
    assert needed <= DEFAULT_PROMPT_NAMES


def test_upload_resolve_and_fallbacks(tmp_path: Path) -> None:
    store = PromptStore(tmp_path)
    assert store.resolve("welcome", "en") == DEFAULT_DIR / "en" / "welcome.wav"
    info = store.save_upload("welcome", "en", encode(tone(44100, 2.0), "pcm16", 44100, channels=2))
    assert (info.source, info.language) == ("upload", "en") and abs(info.duration - 2.0) < 0.01
    assert store.resolve("welcome", "en") == tmp_path / "en" / "welcome.wav"  # upload wins over default
    assert store.resolve("welcome", "zh-CN") == DEFAULT_DIR / "zh-CN" / "welcome.wav"
    store.save_upload("promo", "zh-CN", encode(tone(8000), "ulaw", 8000))
    assert store.resolve("promo", "en") == tmp_path / "zh-CN" / "promo.wav"  # only one language recorded
    assert {"promo", "welcome", "main_menu"} <= store.names()
    listed = {(p.name, p.language, p.source) for p in store.list()}
    assert ("promo", "zh-CN", "upload") in listed and ("main_menu", "en", "default") in listed
    store.delete_upload("promo", "zh-CN")
    with pytest.raises(NotFound):
        store.resolve("promo", "en")
    assert not list(tmp_path.rglob(".tmp-*"))  # atomic writes leave nothing behind


def test_bad_names_and_bad_audio_are_rejected_without_writing(tmp_path: Path) -> None:
    store = PromptStore(tmp_path)
    with pytest.raises(ValidationFailed) as info:
        store.save_upload("../etc/passwd", "fr", b"RIFF")  # type: ignore[arg-type]
    assert {e.field for e in info.value.errors} == {"name", "language"}
    with pytest.raises(ValidationFailed) as info:
        store.save_upload("greeting", "en", b"<html>not audio</html>")
    assert info.value.errors[0].field == "file"
    assert not (tmp_path / "en" / "greeting.wav").exists()


class _CountingEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def synthesize(self, text: str, language: Language) -> bytes:
        self.calls.append((text, language))
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((np.sin(np.arange(800) / 3) * 8000).astype("<i2").tobytes())
        return buf.getvalue()


async def test_speech_is_cached_by_text_and_language(tmp_path: Path) -> None:
    engine = _CountingEngine()
    store = PromptStore(tmp_path, tts=engine)
    first = await store.speak("余额 10 元", "zh-CN")
    again = await store.speak("余额 10 元", "zh-CN")
    english = await store.speak("余额 10 元", "en")
    assert first == again != english
    assert engine.calls == [("余额 10 元", "zh-CN"), ("余额 10 元", "en")]
    assert store.resolve(first, "en").is_file()
    with pytest.raises(NotFound):
        store.resolve("tts/0000", "zh-CN")


@pytest.mark.parametrize(("text", "language"), [("您好，欢迎致电。", "zh-CN"), ("Hello and welcome.", "en")])
async def test_espeak_synthesis(text: str, language: Language) -> None:
    wav = await EspeakTts().synthesize(text, language)
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        seconds = w.getnframes() / 8000
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert 0.5 < seconds < 6
    assert np.abs(pcm).max() > 3000  # speech, not silence


def test_espeak_text_is_never_an_option() -> None:
    # Were the text passed as an argument, espeak-ng would print its version instead of speaking.
    wav = EspeakTts().synthesize_blocking("--version", "en")
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnframes() / w.getframerate() > 0.3
