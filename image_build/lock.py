"""Regenerate image_build/constraints.txt: the appliance's run-time dependencies resolved from pyproject.toml,
pinned to the versions the development venv has (so the image runs what the tests ran)."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        report = Path(d) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed",
                        "--report", str(report), str(HERE.parent)], check=True)
        resolved = json.loads(report.read_text())["install"]
    pins = []
    for item in resolved:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if name == "callcenter-appliance":
            continue
        with contextlib.suppress(md.PackageNotFoundError):
            version = md.version(name)
        pins.append(f"{name}=={version}")
    header = ("# The appliance's Python dependencies, pinned, for the venv in the box image (/opt/appliance).\n"
              "# Regenerate after a change to pyproject.toml's dependencies: `make image-lock`.\n")
    (HERE / "constraints.txt").write_text(header + "\n".join(sorted(pins, key=str.lower)) + "\n")
    print(f"constraints.txt: {len(pins)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
