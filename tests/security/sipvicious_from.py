"""Run a sipvicious tool (`svwar` or `svcrack`) from a chosen source address.

    python -m tests.security.sipvicious_from 127.0.0.20 svcrack -u1002 -d words.txt udp://127.0.0.1:5060

The tools' command lines accept `-b/--bindingip` but sipvicious 0.3.8 does not hand it to the scanner, so
every run would leave from the address the kernel picks. This passes the address to the scanner's own class
and then runs the tool's unchanged `main()`: its parsing, packets, pacing and report are the tool's.
"""

from __future__ import annotations

import functools
import sys

from sipvicious import svcrack, svwar


def main() -> None:
    source, tool, *args = sys.argv[1:]
    if tool == "svcrack":
        svcrack.ASipOfRedWine = functools.partial(svcrack.ASipOfRedWine, bindingip=source)
        entry = svcrack.main
    elif tool == "svwar":
        svwar.TakeASip = functools.partial(svwar.TakeASip, bindingip=source)
        entry = svwar.main
    else:
        raise SystemExit(f"unknown tool {tool}")
    sys.argv = [f"sipvicious_{tool}", *args]
    entry()


if __name__ == "__main__":
    main()
