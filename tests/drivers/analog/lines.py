"""Drive a sans-IO port through time in 20 ms frames, the way the driver's clock will."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from drivers.analog.fxo import FxoPort
from drivers.analog.fxs import FxsPort
from drivers.analog.models import PortOutput, PortState
from drivers.hal.models import PortSignal

FRAME = 160
T = TypeVar("T")
P = TypeVar("P", FxoPort, FxsPort)


@dataclass
class Clocked(Generic[P]):
    """A port, its time, and everything it emitted with the time it did."""

    port: P
    now: float = 0.0
    out: list[tuple[float, PortOutput]] = field(default_factory=list)

    def _take(self, outputs: list[PortOutput]) -> list[PortOutput]:
        self.out += [(self.now, o) for o in outputs]
        return outputs

    def signal(self, sig: PortSignal) -> list[PortOutput]:
        return self._take(self.port.signal(sig, self.now))

    def call(self, request: Callable[[float], list[PortOutput]]) -> list[PortOutput]:
        return self._take(request(self.now))

    def run(self, seconds: float, audio: npt.NDArray[np.int16] | None = None) -> list[PortOutput]:
        """Let `seconds` pass, the line saying `audio` (silence when None) frame by frame."""
        frames = round(seconds * 50)
        pcm = np.zeros(frames * FRAME, np.int16)
        if audio is not None:
            pcm[: min(len(audio), len(pcm))] = audio[: len(pcm)]
        got: list[PortOutput] = []
        for i in range(frames):
            self.now = round(self.now + 0.02, 6)
            deadline = self.port.next_deadline()
            if deadline is not None and deadline <= self.now:
                got += self._take(self.port.handle_timeout(self.now))
            got += self._take(self.port.audio(pcm[i * FRAME:(i + 1) * FRAME], self.now))
        return got

    def of(self, kind: type[T]) -> list[tuple[float, T]]:
        return [(t, o) for t, o in self.out if isinstance(o, kind)]

    def state(self) -> PortState:
        return self.port.state
