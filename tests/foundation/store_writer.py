"""Subprocess for the crash test: writes entities as fast as it can and prints each acknowledged key."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from appliance.domain.kinds import all_kinds
from appliance.domain.models import Skill
from appliance.store.config_store import ConfigStore


async def main(data_dir: Path) -> None:
    store = ConfigStore.open(data_dir, all_kinds())
    i = 0
    while True:
        key = f"s{i:06d}"
        await store.create("skills", Skill(id=key, name=f"skill {i} " + "x" * 60))
        # Only after the write returned is it acknowledged: the test expects every printed key to survive.
        sys.stdout.write(key + "\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
