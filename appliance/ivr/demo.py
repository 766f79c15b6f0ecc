"""The demo tenant's IVR and inbound routing, seeded by the configuration service at first start.

Access number 8000: during work hours (Monday-Friday 09:00-18:00, Asia/Shanghai) the flow `main` greets the
caller and offers 1 → queue `sales`, 2 → queue `support`, 0 → the operator (extension 1901); an invalid
key or silence replays the menu, and after the retries an invalid key goes to the operator while silence
ends the call politely. Off hours, weekends and holidays go to the flow `off_hours`, which plays the opening
hours and leaves the caller in voicemail box `general`. Everything here passes `validate_flow` /
`validate_routing` against the names below (tests/ivr/test_demo.py).
"""

from __future__ import annotations

from appliance.ivr.library import FlowRepository
from appliance.ivr.models import (
    ExtensionNode,
    Flow,
    HangupNode,
    MenuNode,
    MenuOption,
    PlayNode,
    QueueNode,
    SurveyNode,
    VoicemailNode,
)
from appliance.routing.models import (
    AccessNumber,
    BlacklistTreatment,
    Destination,
    PeriodRoute,
    RoutingConfig,
    Schedule,
    TimeRange,
)

DEMO_DID = "8000"
DEMO_QUEUES = ("sales", "support")
DEMO_EXTENSIONS = ("1901",)
DEMO_VOICEMAIL_BOXES = ("general",)
DEMO_SCHEDULE = "business_hours"
MAIN_FLOW = "main"
OFF_HOURS_FLOW = "off_hours"
SURVEY_FLOW = "survey"


def main_flow() -> Flow:
    return Flow(
        name=MAIN_FLOW,
        title="Main menu / 主菜单",
        start="welcome",
        nodes=(
            PlayNode(id="welcome", prompt="welcome", next="menu"),
            MenuNode(
                id="menu",
                prompt="main_menu",
                options=(
                    MenuOption(digit="1", next="to_sales"),
                    MenuOption(digit="2", next="to_support"),
                    MenuOption(digit="0", next="to_operator"),
                ),
                invalid="to_operator",
                timeout="goodbye",
                timeout_seconds=5.0,
                max_retries=2,
            ),
            PlayNode(id="to_sales", prompt="transfer_agent", barge_in=False, next="sales"),
            QueueNode(id="sales", queue="sales", skill="sales"),
            PlayNode(id="to_support", prompt="transfer_agent", barge_in=False, next="support"),
            QueueNode(id="support", queue="support", skill="support"),
            PlayNode(id="to_operator", prompt="transfer_agent", barge_in=False, next="operator"),
            ExtensionNode(id="operator", extension="1901"),
            HangupNode(id="goodbye", prompt="goodbye"),
        ),
    )


def off_hours_flow() -> Flow:
    return Flow(
        name=OFF_HOURS_FLOW,
        title="Off hours / 非工作时间",
        start="notice",
        nodes=(
            PlayNode(id="notice", prompt="off_hours", barge_in=False, next="voicemail"),
            VoicemailNode(id="voicemail", box="general"),
        ),
    )


def survey_flow() -> Flow:
    """After the agent hangs up first (or transfers the caller here): press 1-5, then goodbye."""
    return Flow(
        name=SURVEY_FLOW,
        title="Satisfaction survey / 满意度调查",
        start="rate",
        nodes=(
            SurveyNode(id="rate", next="bye"),
            HangupNode(id="bye", prompt="goodbye"),
        ),
    )


def demo_flows() -> tuple[Flow, ...]:
    return (main_flow(), off_hours_flow(), survey_flow())


def demo_repository() -> FlowRepository:
    return FlowRepository(demo_flows())


def demo_schedule() -> Schedule:
    return Schedule(
        name=DEMO_SCHEDULE,
        timezone="Asia/Shanghai",
        work_days=(1, 2, 3, 4, 5),
        work_hours=(TimeRange(start="09:00", end="18:00"),),
    )


def demo_routing() -> RoutingConfig:
    to_main = Destination(kind="flow", target=MAIN_FLOW)
    to_off_hours = Destination(kind="flow", target=OFF_HOURS_FLOW)
    return RoutingConfig(
        schedules=(demo_schedule(),),
        access_numbers=(
            AccessNumber(
                number=DEMO_DID,
                name="Customer service / 客服热线",
                schedule=DEMO_SCHEDULE,
                routes=(
                    PeriodRoute(period="work_hours", destination=to_main),
                    PeriodRoute(period="off_hours", destination=to_off_hours),
                    PeriodRoute(period="holiday", destination=to_off_hours),
                ),
                # Weekends fall back to the off-hours route; anything unforeseen reaches voicemail.
                default=to_off_hours,
            ),
        ),
        blacklist_treatment=BlacklistTreatment(action="prompt", prompt="blacklisted"),
    )
