"""Feature codes dialled from a phone (电话座席: agents and supervisors need no PC).

Each code can be dialled with its arguments inline, separated by `*` (e.g. `*11*1001*4321` logs agent 1001
in with PIN 4321 on this phone), or alone, in which case call control prompts for what is missing.
The codes are the defaults; a site can renumber them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Feature(StrEnum):
    AGENT_LOGIN = "agent_login"  # args: agent id, PIN
    AGENT_LOGOUT = "agent_logout"
    PAUSE = "pause"  # args: reason code (optional)
    UNPAUSE = "unpause"
    ECHO_TEST = "echo_test"  # 环回测试: hear yourself
    WRAP_UP_DONE = "wrap_up_done"  # ready for the next call
    LISTEN = "listen"  # args: agent id — 监听
    WHISPER = "whisper"  # 密语
    BARGE = "barge"  # 强插
    TAKE_OVER = "take_over"  # 强拆: release the agent, take the caller
    FORCE_IDLE = "force_idle"  # 强制置闲
    FORCE_BUSY = "force_busy"  # 强制置忙
    FORCE_LOGOUT = "force_logout"  # 强制下线
    VOICEMAIL = "voicemail"  # listen to one's voicemail


DEFAULT_CODES: dict[str, Feature] = {
    "11": Feature.AGENT_LOGIN,
    "12": Feature.AGENT_LOGOUT,
    "13": Feature.PAUSE,
    "14": Feature.UNPAUSE,
    "15": Feature.ECHO_TEST,
    "16": Feature.WRAP_UP_DONE,
    "31": Feature.LISTEN,
    "32": Feature.WHISPER,
    "33": Feature.BARGE,
    "34": Feature.TAKE_OVER,
    "35": Feature.FORCE_IDLE,
    "36": Feature.FORCE_BUSY,
    "37": Feature.FORCE_LOGOUT,
    "97": Feature.VOICEMAIL,
}

# How many arguments each feature takes (the rest are prompted for), and which need a supervisor.
ARGUMENTS: dict[Feature, int] = {
    Feature.AGENT_LOGIN: 2, Feature.PAUSE: 1, Feature.LISTEN: 1, Feature.WHISPER: 1, Feature.BARGE: 1,
    Feature.TAKE_OVER: 1, Feature.FORCE_IDLE: 1, Feature.FORCE_BUSY: 1, Feature.FORCE_LOGOUT: 1,
}
SUPERVISOR_ONLY = frozenset({Feature.LISTEN, Feature.WHISPER, Feature.BARGE, Feature.TAKE_OVER,
                             Feature.FORCE_IDLE, Feature.FORCE_BUSY, Feature.FORCE_LOGOUT})


@dataclass(frozen=True, slots=True)
class FeatureRequest:
    feature: Feature
    args: tuple[str, ...]
    dialled: str

    @property
    def missing(self) -> int:
        """How many arguments call control still has to collect (by prompting)."""
        return max(0, ARGUMENTS.get(self.feature, 0) - len(self.args))


def parse(dialled: str, codes: dict[str, Feature] | None = None) -> FeatureRequest | None:
    """`*11*1001*4321` → FeatureRequest(AGENT_LOGIN, ("1001", "4321")); None when it is no feature code.

    A trailing `#` (phones send it as "dial now") is ignored. Extra arguments make it no feature code
    rather than being silently dropped.
    """
    text = dialled.strip().removesuffix("#").removesuffix("%23")
    if not text.startswith("*"):
        return None
    code, *args = text[1:].split("*")
    feature = (codes or DEFAULT_CODES).get(code)
    if feature is None or any(not a.isdigit() for a in args):
        return None
    if len(args) > ARGUMENTS.get(feature, 0):
        return None
    return FeatureRequest(feature, tuple(args), dialled)
