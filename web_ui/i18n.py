"""Languages of the web UI: Babel message catalogues, one Jinja2 environment per language, and the choice of
language for a request.

Simplified Chinese is the default; English is the other. The catalogues are the `.po` files under `locale/`,
compiled in memory at start (no build step, no `.mo` files to forget). `python -m web_ui.i18n_tool` extracts
the strings from the templates and the Python code and merges them into the catalogues.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from appliance.http_api import LANG_COOKIE as LANG_COOKIE

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
TEMPLATES = HERE / "templates"
DOMAIN = "messages"
# Babel's own negotiation maps zh_CN to zh_Hans_CN, which matches nothing: the folders are named zh_CN and
# the choice is made here, from a short fixed list.
LANGUAGES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


def load_translations(language: str) -> Translations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def pick_language(cookie: str | None, account: str = "", default: str = DEFAULT_LANGUAGE) -> str:
    """The signed-in user's choice, else this browser's last choice, else the box's default (Chinese unless
    the admin chose otherwise). The browser's own language list is not consulted: staff at a Chinese site
    often run English browsers and still expect the console in Chinese."""
    if account in LANGUAGES:
        return account
    if cookie in LANGUAGES:
        return str(cookie)
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class Formats:
    """Dates, times and numbers as the language writes them, in the box's time zone."""

    language: str
    zone: ZoneInfo

    def datetime(self, epoch: float | None) -> str:
        if not epoch:
            return ""
        moment = datetime.datetime.fromtimestamp(float(epoch), tz=self.zone)
        return str(format_datetime(moment, "medium", tzinfo=self.zone, locale=Locale.parse(self.language)))

    def number(self, value: float | int | None) -> str:
        if value is None:
            return ""
        return str(format_decimal(value, locale=Locale.parse(self.language)))


@dataclass(frozen=True, slots=True)
class Languages:
    """A template environment per language, each with its catalogue installed."""

    environments: dict[str, Environment]
    translations: dict[str, Translations]

    @classmethod
    def load(cls, extra_globals: dict[str, Any] | None = None) -> Languages:
        envs: dict[str, Environment] = {}
        translations: dict[str, Translations] = {}
        for language in LANGUAGES:
            t = load_translations(language)
            env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                              extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                              enable_async=False)
            env.install_gettext_translations(t, newstyle=True)  # type: ignore[attr-defined]
            env.globals.update(extra_globals or {})
            env.globals["LANGUAGE"] = language
            env.globals["HTML_LANG"] = HTML_LANG[language]
            env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
            envs[language] = env
            translations[language] = t
        return cls(envs, translations)

    def gettext(self, language: str) -> Callable[[str], str]:
        return self.translations[language].gettext
