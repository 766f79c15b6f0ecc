"""What the caller hears from a node: stored prompts, TTS text and digit strings spoken key by key.

Audio is planned as items (`("prompt", key)` or `("tts", text)`) so that TTS items can be synthesised
first and the whole sequence then played as one `Play` of prompt keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.ivr.templates import render

# Keys of the shipped prompts used to speak single keys.
KEY_PROMPTS = {**{d: f"digit_{d}" for d in "0123456789"}, "*": "key_star", "#": "key_pound"}

# An audio item: ("prompt", key) | ("tts", text)
AudioItem = tuple[str, str]


def audio_items(prompt: str, tts: str, variables: Mapping[str, str]) -> list[AudioItem]:
    """A stored prompt and/or TTS text; TTS that renders to nothing but spaces is left out."""
    items: list[AudioItem] = []
    if prompt:
        items.append(("prompt", prompt))
    if tts:
        text = render(tts, variables)
        if text.strip():
            items.append(("tts", text))
    return items


def spoken(prompt: str, tts: str, say_digits: str, variables: Mapping[str, str]) -> list[AudioItem]:
    """`audio_items` followed by the rendered `say_digits` spoken key by key (keys without a prompt are skipped)."""
    items = audio_items(prompt, tts, variables)
    if say_digits:
        items += [("prompt", KEY_PROMPTS[ch]) for ch in render(say_digits, variables) if ch in KEY_PROMPTS]
    return items
