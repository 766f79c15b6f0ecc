"""Regenerate the shipped default prompts (`default/<language>/<name>.wav`) from `catalogue.py`.

    python -m appliance.prompts.generate_defaults           # only prompts whose text changed or are missing
    python -m appliance.prompts.generate_defaults --all     # every prompt
    python -m appliance.prompts.generate_defaults --check   # exit 1 if any file is missing or stale

The WAVs are committed (see docs/DECISIONS.md, "IVR prompts and TTS"): the appliance image then needs no
synthesis at set-up time, and every box plays byte-identical prompts whatever espeak-ng version it has.
`manifest.json` records the text each file was made from, so a changed text is noticed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from appliance.ivr.models import LANGUAGES
from appliance.prompts.catalogue import DEFAULT_PROMPT_TEXTS
from appliance.prompts.store import DEFAULT_DIR, _atomic_write
from appliance.prompts.tts import EspeakTts


def _manifest(path: Path) -> dict[str, Any]:
    if path.is_file():
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    return {"engine": "", "prompts": {}}


def stale(directory: Path = DEFAULT_DIR) -> list[tuple[str, str]]:
    """(language, name) of every default prompt whose file is missing or was made from another text."""
    recorded = _manifest(directory / "manifest.json")["prompts"]
    out: list[tuple[str, str]] = []
    for name, texts in sorted(DEFAULT_PROMPT_TEXTS.items()):
        for lang in LANGUAGES:
            if recorded.get(name, {}).get(lang) != texts[lang] or not (directory / lang / f"{name}.wav").is_file():
                out.append((lang, name))
    return out


def generate(directory: Path = DEFAULT_DIR, everything: bool = False, tts: EspeakTts | None = None) -> int:
    tts = tts or EspeakTts()
    todo = (
        [(lang, name) for name in sorted(DEFAULT_PROMPT_TEXTS) for lang in LANGUAGES] if everything
        else stale(directory)
    )
    manifest = _manifest(directory / "manifest.json")
    version = subprocess.run([*tts.command("en")[:1], "--version"], capture_output=True, text=True, check=False)
    # Only the version line: the rest names the data directory of the machine that ran it.
    manifest["engine"] = version.stdout.split("Data at")[0].strip()
    for lang, name in todo:
        text = DEFAULT_PROMPT_TEXTS[name][lang]
        _atomic_write(directory / lang / f"{name}.wav", tts.synthesize_blocking(text, lang))  # type: ignore[arg-type]
        manifest["prompts"].setdefault(name, {})[lang] = text
        print(f"{lang}/{name}.wav")
    # Names dropped from the catalogue leave the manifest (their files are removed too).
    for name in list(manifest["prompts"]):
        if name not in DEFAULT_PROMPT_TEXTS:
            del manifest["prompts"][name]
            for lang in LANGUAGES:
                (directory / lang / f"{name}.wav").unlink(missing_ok=True)
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    _atomic_write(directory / "manifest.json", text.encode("utf-8"))
    return len(todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--all", action="store_true", help="regenerate every prompt")
    parser.add_argument("--check", action="store_true", help="only report missing or stale prompts")
    args = parser.parse_args(argv)
    if args.check:
        missing = stale()
        for lang, name in missing:
            print(f"stale: {lang}/{name}.wav")
        return 1 if missing else 0
    count = generate(everything=args.all)
    print(f"{count} prompt files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
