"""Prompt audio conversion: any common WAV in, 8 kHz mono 16-bit PCM WAV out, loudness-normalised.

Reads RIFF/WAVE itself (the stdlib `wave` module of Python 3.11 refuses float, G.711 and
WAVE_FORMAT_EXTENSIBLE files, which recorders and editors commonly write): PCM 8/16/24/32-bit, IEEE float
32/64-bit, A-law and µ-law (ITU-T G.711), 1-8 channels, 4-192 kHz. Channels are averaged, the signal is
low-pass filtered below the new Nyquist frequency (windowed-sinc FIR) before resampling, the DC offset is
removed, and the level is brought to a common RMS with the peak kept under -1 dBFS so prompts recorded on
different equipment play at the same loudness. Anything else is rejected with a `ValidationFailed` naming
the field, in English and Chinese.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from appliance.errors import FieldError, ValidationFailed

TARGET_RATE = 8000
MAX_SECONDS = 600.0
TARGET_RMS_DBFS = -20.0
PEAK_LIMIT_DBFS = -1.0
SILENCE_PEAK = 1e-4  # below this the recording is taken as silence

_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 1, 3, 6, 7, 0xFFFE

Samples = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What was uploaded, for the prompt list (the stored file is always 8 kHz mono 16-bit)."""

    source_rate: int
    source_channels: int
    source_format: str
    duration: float


def _reject(field: str, rule: str, en: str, zh: str) -> ValidationFailed:
    return ValidationFailed([FieldError(field, rule, f"{field}: {en}", f"{field}: {zh}")], what="prompt")


def _g711_ulaw_table() -> Samples:
    codes = np.arange(256, dtype=np.int32) ^ 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    values = np.where(sign != 0, -magnitude, magnitude)
    return values.astype(np.float64) / 32768.0


def _g711_alaw_table() -> Samples:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    values = np.where(sign != 0, magnitude, -magnitude)
    return values.astype(np.float64) / 32768.0


def decode_wav(data: bytes, field: str = "file") -> tuple[Samples, int, int, str]:
    """(samples as float64 frames × channels in [-1, 1], sample rate, channels, format name)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _reject(field, "not_audio", "the file is not a WAV audio file", "文件不是 WAV 音频文件")
    fmt: tuple[int, int, int, int, int] | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]  # streaming writers leave size at 0xFFFFFFFF: take what is there
        if chunk_id == b"fmt " and len(body) >= 16:
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk_id == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise _reject(field, "not_audio", "the WAV file has no audio format or no audio data",
                      "WAV 文件缺少格式信息或音频数据")
    tag, channels, rate, block_align, bits = fmt
    kinds = {(_PCM, 8): "pcm8", (_PCM, 16): "pcm16", (_PCM, 24): "pcm24", (_PCM, 32): "pcm32",
             (_FLOAT, 32): "float32", (_FLOAT, 64): "float64", (_ALAW, 8): "alaw", (_ULAW, 8): "ulaw"}
    kind = kinds.get((tag, bits))
    if kind is None:
        raise _reject(field, "unsupported_format",
                      f"WAV encoding {tag} with {bits} bits is not supported (use PCM, float, A-law or µ-law)",
                      f"不支持的 WAV 编码 {tag}/{bits} 位(请使用 PCM、浮点、A 律或 µ 律)")
    if not 1 <= channels <= 8 or not 4000 <= rate <= 192000 or block_align != channels * bits // 8:
        raise _reject(field, "unsupported_format", f"unsupported layout: {channels} channels at {rate} Hz",
                      f"不支持的音频参数: {channels} 声道, {rate} Hz")
    frames = len(payload) // block_align
    if frames == 0:
        raise _reject(field, "empty", "the recording is empty", "录音为空")
    if frames / rate > MAX_SECONDS:
        raise _reject(field, "too_long", f"the recording is longer than {int(MAX_SECONDS)} seconds",
                      f"录音超过 {int(MAX_SECONDS)} 秒")
    raw = payload[: frames * block_align]
    samples: Samples
    if kind == "pcm8":
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif kind == "pcm16":
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif kind == "pcm24":
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value & 0x800000, value - 0x1000000, value)
        samples = value.astype(np.float64) / 8388608.0
    elif kind == "pcm32":
        samples = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    elif kind == "float32":
        samples = np.nan_to_num(np.frombuffer(raw, dtype="<f4").astype(np.float64))
    elif kind == "float64":
        samples = np.nan_to_num(np.frombuffer(raw, dtype="<f8").astype(np.float64))
    elif kind == "alaw":
        samples = _g711_alaw_table()[np.frombuffer(raw, dtype=np.uint8)]
    else:
        samples = _g711_ulaw_table()[np.frombuffer(raw, dtype=np.uint8)]
    return np.clip(samples.reshape(frames, channels), -1.0, 1.0), rate, channels, kind


def _lowpass(x: Samples, cutoff: float, taps: int = 129) -> Samples:
    """Windowed-sinc low-pass; `cutoff` as a fraction of the input sample rate (0..0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    h /= h.sum()
    return np.convolve(x, h, mode="same")


def resample(x: Samples, rate: int, target: int = TARGET_RATE) -> Samples:
    if rate == target or len(x) == 0:
        return x
    if rate > target:
        # Keep only what survives at the new rate (a little under its Nyquist) so nothing aliases back.
        x = _lowpass(x, 0.45 * target / rate)
    count = max(1, round(len(x) * target / rate))
    positions = np.arange(count) * (rate / target)
    out: Samples = np.interp(positions, np.arange(len(x)), x)
    return out


def normalise(x: Samples, field: str = "file") -> Samples:
    x = x - x.mean()
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak < SILENCE_PEAK:
        raise _reject(field, "silent", "the recording is silent", "录音没有声音")
    rms = float(np.sqrt(np.mean(x * x)))
    gain = 10 ** (TARGET_RMS_DBFS / 20) / rms
    gain = min(gain, 10 ** (PEAK_LIMIT_DBFS / 20) / peak)
    return x * gain


def trim(x: Samples, rate: int = TARGET_RATE, keep: float = 0.1) -> Samples:
    """Drop leading and trailing near-silence (under -40 dB from the peak), keeping `keep` seconds of it:
    dead air before a menu only makes callers wonder whether anyone answered."""
    if len(x) == 0:
        return x
    loud = np.flatnonzero(np.abs(x) > 0.01 * float(np.max(np.abs(x))))
    if len(loud) == 0:
        return x
    pad = int(keep * rate)
    return x[max(0, int(loud[0]) - pad) : int(loud[-1]) + 1 + pad]


def encode_wav(x: Samples, rate: int = TARGET_RATE) -> bytes:
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def convert_upload(data: bytes, field: str = "file") -> tuple[bytes, AudioInfo]:
    """The stored form of an uploaded prompt: 8 kHz mono 16-bit WAV, normalised."""
    samples, rate, channels, kind = decode_wav(data, field)
    mono = samples.mean(axis=1)
    out = trim(normalise(resample(mono, rate), field))
    info = AudioInfo(source_rate=rate, source_channels=channels, source_format=kind,
                     duration=len(out) / TARGET_RATE)
    return encode_wav(out), info


def wav_duration(data: bytes) -> float:
    samples, rate, _channels, _kind = decode_wav(data)
    return len(samples) / rate
