"""Conference mixing with per-party hears / heard-by masks, batched across all conferences per 20 ms tick.

Each party owns a row in the tick's input matrix (one decoded 160-sample frame per leg). A conference of n
parties is an n×n 0/1 matrix M with M[listener, source] = 1 when the listener hears the source (never itself).
Conferences of the same size are stacked so one operation mixes all of them: (C, n, n) x (C, n, 160), as
`einsum` loops rather than `matmul`, which hands each tiny matrix to BLAS (a call and its threading per
conference). A stack where everyone hears everyone else (the usual 3-way call) is the sum of the stack minus
each party's own row. Stacks are rebuilt only when membership or masks change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from appliance.media.models import PartyMask

FRAME = 160


@dataclass
class Conference:
    conference_id: str
    parties: dict[str, PartyMask] = field(default_factory=dict)  # party id -> mask, in joining order

    def matrix(self, ids: list[str]) -> npt.NDArray[np.float32]:
        n = len(ids)
        m = np.zeros((n, n), dtype=np.float32)
        for i, listener in enumerate(ids):
            lm = self.parties[listener]
            for j, source in enumerate(ids):
                if i == j:
                    continue
                sm = self.parties[source]
                if lm.hears is not None and source not in lm.hears:
                    continue
                if sm.heard_by is not None and listener not in sm.heard_by:
                    continue
                m[i, j] = 1.0
        return m


@dataclass
class _SizeGroup:
    rows: npt.NDArray[np.intp]  # (C, n) input rows
    mats: npt.NDArray[np.float32]  # (C, n, n)
    everyone: bool = False  # every matrix is all ones but the diagonal


@dataclass
class Mixer:
    conferences: dict[str, Conference] = field(default_factory=dict)
    _groups: list[_SizeGroup] = field(default_factory=list)
    _dirty: bool = True

    def set_party(self, conference_id: str, party: str, mask: PartyMask) -> None:
        conf = self.conferences.setdefault(conference_id, Conference(conference_id))
        conf.parties[party] = mask
        self._dirty = True

    def remove_party(self, conference_id: str, party: str) -> None:
        conf = self.conferences.get(conference_id)
        if conf is None:
            return
        conf.parties.pop(party, None)
        if not conf.parties:
            del self.conferences[conference_id]
        self._dirty = True

    def remove_conference(self, conference_id: str) -> None:
        if self.conferences.pop(conference_id, None) is not None:
            self._dirty = True

    def invalidate(self) -> None:
        self._dirty = True

    def _plan(self, row_of: dict[str, int]) -> None:
        by_size: dict[int, tuple[list[list[int]], list[npt.NDArray[np.float32]]]] = {}
        for conf in self.conferences.values():
            ids = [p for p in conf.parties if p in row_of]  # a relaying bridge has no rows
            n = len(ids)
            if n < 2:
                continue
            rows, mats = by_size.setdefault(n, ([], []))
            rows.append([row_of[p] for p in ids])
            mats.append(conf.matrix(ids))
        self._groups = []
        for n, (rows, mats) in by_size.items():
            stack = np.stack(mats)
            everyone = bool(np.all(stack == (1.0 - np.eye(n, dtype=np.float32))))
            self._groups.append(_SizeGroup(np.array(rows, dtype=np.intp), stack, everyone))
        self._dirty = False

    def mix(self, inputs: npt.NDArray[np.float32], row_of: dict[str, int],
            out: npt.NDArray[np.float32]) -> None:
        """Add what every party hears into `out` (same rows as `inputs`). `row_of` maps party -> row; the
        caller passes the same mapping until it calls `invalidate()`."""
        if self._dirty:
            self._plan(row_of)
        for g in self._groups:
            x = inputs[g.rows]
            if g.everyone:
                out[g.rows] += x.sum(axis=1, keepdims=True) - x
            else:
                out[g.rows] += np.einsum("cij,cjk->cik", g.mats, x)
