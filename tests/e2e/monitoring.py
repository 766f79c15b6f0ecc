"""What a supervisor on an agent's call should hear and be heard by, checked at each phone's own RTP.

Each party sends its own tone (caller 500 Hz, agent 1100 Hz, supervisor 1700 Hz) from a test RTP phone; for
each mode a window of time is taken once the mode has settled, and each phone's received audio is measured at
each tone: listen — nobody hears the supervisor; whisper — the agent does, the caller does not; barge —
everybody hears everybody; and throughout, the caller and the agent hear each other. Shared by the end-to-end
test (modes chosen by feature codes from the phone) and the supervisor console's browser test (modes switched
on one call from the page).
"""

from __future__ import annotations

from tests.conftest import free_port
from tests.e2e.harness import RunningAppliance, successful
from tests.e2e.rtp_phone import RtpPhone

ALWAYS_OPEN = {"work_days": [1, 2, 3, 4, 5, 6, 7], "work_hours": [{"start": "00:00", "end": "24:00"}]}
CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 500.0, 1100.0, 1700.0
Window = tuple[float, float]  # monotonic seconds, as the RTP phone stamps what arrives


def log_in(box: RunningAppliance, agent: str) -> int:
    """Register the agent's phone and log the agent in with *11 (a bound phone needs no PIN); its port."""
    port = free_port()
    result = box.phone_feature(agent, "*11", port)
    assert successful(result) == 1, result.stdout[-2000:]
    return port


def hears(phone: RtpPhone, hz: float, window: Window) -> bool:
    """The phone received `hz` in the window, clearly (against the loudest of the three tones) and loudly."""
    since, until = window
    wanted = phone.level(hz, since, until)
    reference = max(phone.level(f, since, until) for f in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ))
    return wanted > 0.05 * reference and wanted > 1000.0


def check_modes(caller: RtpPhone, agent: RtpPhone, supervisors: dict[str, RtpPhone],
                windows: dict[str, Window]) -> None:
    """Assert, for each mode in `windows` (listen, whisper, barge), what each phone heard; `supervisors` maps
    each mode to the supervisor's phone in it (one phone for all when the mode is switched on one call)."""
    for mode, window in windows.items():
        sup = supervisors[mode]
        assert hears(sup, CALLER_HZ, window) and hears(sup, AGENT_HZ, window), f"{mode}: the supervisor hears both"
        assert hears(caller, AGENT_HZ, window) and hears(agent, CALLER_HZ, window), \
            f"{mode}: the caller and the agent hear each other"
        if mode == "listen":
            assert not hears(caller, SUPERVISOR_HZ, window) and not hears(agent, SUPERVISOR_HZ, window), \
                "listen: nobody hears the supervisor"
        elif mode == "whisper":
            assert hears(agent, SUPERVISOR_HZ, window), "whisper: the agent hears the supervisor"
            assert not hears(caller, SUPERVISOR_HZ, window), "whisper: the caller does not"
        elif mode == "barge":
            assert hears(agent, SUPERVISOR_HZ, window) and hears(caller, SUPERVISOR_HZ, window), \
                "barge: everybody hears everybody"
