"""What every page needs: who is signed in, in which language, the CSRF token, the menu, and rendering.

A page handler asks for a `Viewer` (which redirects to sign-in or set-up when there is none) and renders a
template with it. The security headers, the Content-Security-Policy among them, are added to every response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sanic import Request
from sanic.response import HTTPResponse, html, redirect

from appliance.auth.errors import SetupRequired, Unauthorized
from appliance.auth.models import READ_CONFIG, WRITE_CONFIG, DataScope, Session
from appliance.auth.service import AuthService
from appliance.configuration.service import ConfigService
from appliance.domain.models import Role
from appliance.firmware.service import FirmwareService
from appliance.health import Health
from appliance.http_api import SESSION_COOKIE, Api
from web_ui.assets import AssetManifest
from web_ui.i18n import LANG_COOKIE, Formats, Languages, pick_language
from web_ui.labels import KIND_TITLES, SECTIONS, VALUE_LABELS

if TYPE_CHECKING:
    from appliance.backups.service import BackupService
    from appliance.customers.service import CustomerService
    from appliance.records.search import CallRecords
    from appliance.reports.service import ReportService
    from appliance.snmp.builder import Monitoring
    from appliance.voicemail.service import VoicemailService
    from drivers.hardware.service import HardwareService
    from provisioning.builder import Provisioning

# No inline script or style anywhere, and nothing from elsewhere: the pages work offline on the LAN.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


class PageRedirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class PageForbidden(Exception):
    pass


@dataclass(frozen=True, slots=True)
class MenuItem:
    href: str
    label: str
    active: bool


@dataclass(frozen=True, slots=True)
class MenuSection:
    label: str
    items: tuple[MenuItem, ...]


@dataclass(frozen=True, slots=True)
class WebUi:
    """The services the pages read from, passed in by the composition root."""

    api: Api
    auth: AuthService
    config: ConfigService
    languages: Languages
    assets: AssetManifest
    health: Callable[[], Iterable[Health]]
    version: str
    firmware: FirmwareService | None = None  # the root slots and updates (System → Firmware)
    monitoring: Monitoring | None = None  # alarms, thresholds, the box's figures, SNMP (None: not built)
    hardware: HardwareService | None = None  # the cards' status (System → Hardware)
    provisioning: Provisioning | None = None  # first boot, network and phones (None: not built)
    backups: BackupService | None = None  # targets, schedules, snapshots, restore (None: not built)
    call_records: CallRecords | None = None  # call records and missed calls (Records pages)
    voicemail: VoicemailService | None = None  # voicemail messages (Records → Voicemail)
    reports: ReportService | None = None  # statistics reports and detail lists (None: not built)
    customers: CustomerService | None = None  # customers and service records (the Customers pages)

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(str(self.config.store.settings.get("time_zone", "Asia/Shanghai")))
        except (KeyError, ValueError):
            return ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person looking at a page."""

    session: Session
    token: str
    language: str
    csrf: str
    scope: DataScope

    @property
    def can_write(self) -> bool:
        return self.session.role in WRITE_CONFIG

    @property
    def can_read_config(self) -> bool:
        return self.session.role in READ_CONFIG


def language_of(ui: WebUi, request: Request, account: str = "") -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), account, ui.config.settings().language)


def viewer_of(ui: WebUi, request: Request, roles: frozenset[Role] | None = None) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        session = ui.auth.authenticate(str(token) if token else None)
    except SetupRequired:
        raise PageRedirect("/setup") from None
    except Unauthorized:
        target = request.path if request.method == "GET" else "/"
        raise PageRedirect(f"/login?next={target}") from None
    if roles is not None and session.role not in roles:
        raise PageForbidden()
    assert token is not None
    user = ui.config.store.find("users", session.user)
    return Viewer(session, str(token), language_of(ui, request, user.language if user else ""),
                  ui.auth.csrf_token(str(token)),
                  ui.config.scope_of(session.role, session.staff))


def menu(viewer: Viewer, path: str, _: Callable[[str], str]) -> tuple[MenuSection, ...]:
    sections: list[MenuSection] = []
    live: list[MenuItem] = []
    if viewer.session.staff and viewer.session.role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        live.append(MenuItem("/desk", _("Agent desk"), path.startswith("/desk")))  # people who take calls
    if viewer.can_read_config:  # the people who watch the floor: admins, supervisors, QA
        live.append(MenuItem("/live/wallboard", _("Wallboard"), path.startswith("/live/wallboard")))
    if viewer.session.role in (Role.SUPERVISOR, Role.ADMIN):  # listen, whisper, barge, force, move (班长功能)
        live.append(MenuItem("/live/console", _("Supervisor console"), path.startswith("/live/console")))
    if live:
        sections.append(MenuSection(_("Live operations"), tuple(live)))
    # Reports (web_ui/pages/report_pages.py): agents read their own agent figures only
    reports = [("/reports", _("Today's figures")), ("/reports/agent-calls", _("Agent call statistics")),
               ("/reports/agent-states", _("Agent state statistics")), ("/reports/agent-state-log", _("Agent state detail"))]
    if viewer.session.role is not Role.AGENT:
        reports += [("/reports/groups", _("Work group statistics")), ("/reports/queues", _("Queue statistics")),
                    ("/reports/queue-calls", _("Queue waiting detail")), ("/reports/ivr", _("IVR statistics")),
                    ("/reports/ivr-journeys", _("IVR detail")), ("/reports/exports", _("Exports and scheduled reports"))]
    sections.append(MenuSection(_("Reports"), tuple(MenuItem(href, label, path == href) for href, label in reports)))
    records = [MenuItem("/records/calls", _("Call records"), path.startswith("/records/calls")),
               MenuItem("/records/current-calls", _("Current calls"), path.startswith("/records/current-calls")),
               MenuItem("/records/intended", _("Intended customers"), path.startswith("/records/intended"))]
    if viewer.can_read_config:  # missed calls and voicemail: the floor's, as the voicemail API is
        records += [MenuItem("/records/missed", _("Missed calls"), path.startswith("/records/missed")),
                    MenuItem("/records/voicemail", _("Voicemail"), path.startswith("/records/voicemail"))]
    sections.append(MenuSection(_("Records"), tuple(records)))
    customers = MenuItem("/customers", _("Customers"), path.startswith("/customers"))  # every role (scoped)
    if not viewer.can_read_config:  # agents: only the customers page (the section below holds it for the rest)
        sections.append(MenuSection(_("Customers"), (customers,)))
    if viewer.can_read_config:
        for label, kinds in SECTIONS:
            items = tuple(MenuItem(f"/admin/{k}", _(KIND_TITLES[k][0]), path.startswith(f"/admin/{k}"))
                          for k in kinds)
            items += (MenuItem("/admin/prompts", _("Prompts"), path.startswith("/admin/prompts")),) if label == "Call center" else ()
            items = ((customers,) if label == "Customers" else ()) + items
            sections.append(MenuSection(_(label), items))
    system: list[MenuItem] = []
    if viewer.can_write:
        system.append(MenuItem("/admin/settings", _("Settings"), path.startswith("/admin/settings")))
    if viewer.can_write:
        system.append(MenuItem("/admin/audit", _("Audit log"), path.startswith("/admin/audit")))
    if viewer.can_write:
        system += [MenuItem("/setup/wizard", _("Set-up wizard"), path.startswith("/setup/wizard")),
                   MenuItem("/admin/network", _("Network"), path.startswith("/admin/network")),
                   MenuItem("/admin/phones", _("Phones"), path.startswith("/admin/phones"))]
    if viewer.can_write:
        system.append(MenuItem("/admin/backups", _("Backups"), path.startswith("/admin/backups")))
    system.append(MenuItem("/system/health", _("Health"), path.startswith("/system/health")))
    if viewer.can_read_config:
        system.append(MenuItem("/system/hardware", _("Hardware"), path.startswith("/system/hardware")))
    if viewer.session.role in (Role.ADMIN, Role.SUPERVISOR):
        system += [MenuItem("/system/alarms", _("Alarms"), path.startswith("/system/alarms")),
                   MenuItem("/system/resources", _("Resources"), path.startswith("/system/resources")),
                   MenuItem("/system/thresholds", _("Alarm thresholds"), path.startswith("/system/thresholds"))]
    if viewer.can_write:
        system.append(MenuItem("/system/snmp", _("SNMP"), path.startswith("/system/snmp")))
    if viewer.can_write:
        system.append(MenuItem("/system/firmware", _("Firmware"), path.startswith("/system/firmware")))
    system.append(MenuItem("/system/about", _("About and licences"), path.startswith("/system/about")))
    sections.append(MenuSection(_("System"), tuple(system)))
    return tuple(sections)


def render(ui: WebUi, request: Request, template: str, *, viewer: Viewer | None = None, status: int = 200,
           language: str | None = None, **context: Any) -> HTTPResponse:
    lang = viewer.language if viewer else (language or language_of(ui, request))
    env = ui.languages.environments[lang]
    _ = ui.languages.gettext(lang)
    page = env.get_template(template).render(
        viewer=viewer, menu=menu(viewer, request.path, _) if viewer else (), asset=ui.assets.url,
        fmt=Formats(lang, ui.zone()), path=request.path, version=ui.version,
        role_label=VALUE_LABELS[viewer.session.role.value] if viewer else "", **context)
    return html(page, status=status)


def add_security_headers(request: Request, response: HTTPResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    if request.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


def to_redirect(exc: PageRedirect) -> HTTPResponse:
    return redirect(exc.location, status=303)
