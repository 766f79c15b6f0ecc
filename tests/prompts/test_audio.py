"""Upload conversion: common WAV encodings in, 8 kHz mono 16-bit normalised out; non-audio rejected."""

from __future__ import annotations

import io
import struct
import warnings
import wave

import numpy as np
import pytest

from appliance.errors import ValidationFailed
from appliance.prompts.audio import TARGET_RMS_DBFS, convert_upload, decode_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the stdlib's own G.711 codec, as an independent reference


def riff(tag: int, channels: int, rate: int, bits: int, payload: bytes, extensible: bool = False) -> bytes:
    block = channels * bits // 8
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0)
        fmt += struct.pack("<H", tag) + guid_tail
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"  # an odd-sized chunk before the data, padded
    chunks += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def tone(rate: int, seconds: float = 1.0, freqs: tuple[float, ...] = (1000.0,), level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return sum(level * np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)  # type: ignore[return-value]


def encode(x: np.ndarray, kind: str, rate: int, channels: int = 1, extensible: bool = False) -> bytes:
    frames = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    if kind == "pcm8":
        return riff(1, channels, rate, 8, (np.round(frames * 127) + 128).astype(np.uint8).tobytes(), extensible)
    if kind == "pcm16":
        return riff(1, channels, rate, 16, np.round(frames * 32767).astype("<i2").tobytes(), extensible)
    if kind == "pcm24":
        v = np.round(frames * 8388607).astype("<i4").tobytes()
        packed = b"".join(v[i : i + 3] for i in range(0, len(v), 4))
        return riff(1, channels, rate, 24, packed, extensible)
    if kind == "pcm32":
        return riff(1, channels, rate, 32, np.round(frames * 2147483647).astype("<i4").tobytes(), extensible)
    if kind == "float32":
        return riff(3, channels, rate, 32, frames.astype("<f4").tobytes(), extensible)
    if kind == "float64":
        return riff(3, channels, rate, 64, frames.astype("<f8").tobytes(), extensible)
    linear = np.round(frames * 32767).astype("<i2").tobytes()
    if kind == "alaw":
        return riff(6, channels, rate, 8, audioop.lin2alaw(linear, 2), extensible)
    return riff(7, channels, rate, 8, audioop.lin2ulaw(linear, 2), extensible)


def read_output(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    return pcm, 8000


def level_at(x: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    bin_ = round(freq * len(x) / rate)
    return float(spectrum[max(0, bin_ - 3) : bin_ + 4].max())


@pytest.mark.parametrize(
    ("kind", "rate", "channels", "extensible"),
    [
        ("pcm16", 44100, 2, False),
        ("pcm16", 8000, 1, False),
        ("pcm8", 11025, 1, False),
        ("pcm24", 48000, 2, True),
        ("pcm32", 16000, 1, False),
        ("float32", 22050, 1, False),
        ("float64", 96000, 1, False),
        ("alaw", 8000, 1, False),
        ("ulaw", 8000, 2, False),
        ("pcm16", 6000, 1, False),  # below 8 kHz: upsampled
    ],
)
def test_common_encodings_convert_to_8k_mono_16bit(kind: str, rate: int, channels: int, extensible: bool) -> None:
    data = encode(tone(rate), kind, rate, channels, extensible)
    converted, info = convert_upload(data)
    out, out_rate = read_output(converted)
    assert (info.source_rate, info.source_channels, info.source_format) == (rate, channels, kind)
    assert abs(len(out) / out_rate - 1.0) < 0.01
    # The tone is still a 1 kHz tone ...
    assert level_at(out, out_rate, 1000) > 100 * level_at(out, out_rate, 2500)
    # ... at the common loudness.
    rms_db = 20 * np.log10(np.sqrt(np.mean(out**2)))
    assert abs(rms_db - TARGET_RMS_DBFS) < 0.5


def test_g711_decoding_matches_reference() -> None:
    codes = bytes(range(256))
    for tag, reference in ((6, audioop.alaw2lin(codes, 2)), (7, audioop.ulaw2lin(codes, 2))):
        samples, _rate, _ch, _kind = decode_wav(riff(tag, 1, 8000, 8, codes))
        expected = np.frombuffer(reference, dtype="<i2").astype(np.float64) / 32768
        assert np.array_equal(samples[:, 0], expected)


def test_high_frequencies_do_not_alias() -> None:
    # 6 kHz cannot exist at 8 kHz; without filtering it would fold back to 2 kHz.
    data = encode(tone(44100, freqs=(1000.0, 6000.0)), "pcm16", 44100)
    out, rate = read_output(convert_upload(data)[0])
    assert level_at(out, rate, 2000) < 0.01 * level_at(out, rate, 1000)


def test_quiet_and_loud_recordings_end_equally_loud_and_never_clip() -> None:
    quiet, _ = read_output(convert_upload(encode(tone(16000, level=0.01), "pcm16", 16000))[0])
    loud, _ = read_output(convert_upload(encode(tone(16000, level=0.99), "pcm16", 16000))[0])
    assert abs(np.sqrt(np.mean(quiet**2)) - np.sqrt(np.mean(loud**2))) < 0.002
    # A click in silence: the peak limit wins over the RMS target.
    click = np.zeros(8000)
    click[4000] = 0.9
    out, _ = read_output(convert_upload(encode(click, "pcm16", 8000))[0])
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-3


def test_leading_and_trailing_silence_is_trimmed() -> None:
    x = np.concatenate([np.zeros(16000), tone(16000, 0.5), np.zeros(16000)])
    out, rate = read_output(convert_upload(encode(x, "pcm16", 16000))[0])
    assert 0.6 < len(out) / rate < 0.75  # half a second of tone plus at most 0.1 s either side


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"hello, this is a text file and not audio at all", "not_audio"),
        (b"%PDF-1.4 " + bytes(200), "not_audio"),
        (b"RIFF\x04\x00\x00\x00WAVE", "not_audio"),  # no chunks
        (riff(2, 1, 8000, 4, bytes(100)), "unsupported_format"),  # MS ADPCM
        (riff(1, 1, 8000, 16, b""), "empty"),
        (riff(1, 1, 8000, 16, bytes(16000)), "silent"),
        (riff(1, 12, 8000, 16, bytes(2400)), "unsupported_format"),
    ],
)
def test_rejections_name_the_field_in_both_languages(data: bytes, rule: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        convert_upload(data, field="file")
    (error,) = info.value.errors
    assert (error.field, error.rule) == ("file", rule)
    assert error.message.startswith("file: ") and error.message_zh.startswith("file: ")
    assert error.message_zh != error.message
    assert info.value.to_dict()["error_id"] == "validation_failed"


def test_not_audio_message_is_clear() -> None:
    with pytest.raises(ValidationFailed) as info:
        convert_upload(b"not a wav", field="audio")
    error = info.value.errors[0]
    assert error.field == "audio"
    assert "not a WAV audio file" in error.message and "不是 WAV 音频文件" in error.message_zh
