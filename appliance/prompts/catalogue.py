"""The default prompts shipped with the appliance, in Simplified Chinese and English.

The WAV files under `default/<language>/` are generated from these texts by `generate_defaults.py`; the
names are what flows refer to (`MenuNode.prompt = "main_menu"`). Digits and the star/pound keys are here
so that the IVR can read back numbers key by key.
"""

from __future__ import annotations

from types import MappingProxyType

_ZH_DIGITS = "零一二三四五六七八九"
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_TEXTS: dict[str, dict[str, str]] = {
    "welcome": {"zh-CN": "您好，欢迎致电。", "en": "Hello, and thank you for calling."},
    "main_menu": {
        "zh-CN": "销售咨询请按1，技术支持请按2，人工服务请按0。",
        "en": "For sales, press 1. For support, press 2. For the operator, press 0.",
    },
    "invalid": {"zh-CN": "您的输入有误。", "en": "Sorry, that is not a valid choice."},
    "no_input": {"zh-CN": "我们没有收到您的按键。", "en": "Sorry, we did not hear a key."},
    "goodbye": {"zh-CN": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
    "off_hours": {
        "zh-CN": "现在是非工作时间，我们的工作时间是周一至周五上午九点到下午六点。请在提示音后留言。",
        "en": "We are closed now. Our hours are Monday to Friday, nine a.m. to six p.m. "
        "Please leave a message after the tone.",
    },
    "holiday": {
        "zh-CN": "今天是节假日，暂停人工服务。请在提示音后留言。",
        "en": "We are closed for the holiday. Please leave a message after the tone.",
    },
    "transfer_agent": {"zh-CN": "正在为您转接，请稍候。", "en": "Please hold while we connect you."},
    "queue_hold": {"zh-CN": "所有座席正忙，请您稍候。", "en": "All our agents are busy. Please hold."},
    "language_menu": {
        "zh-CN": "普通话服务请按1。For English, press 2.",
        "en": "普通话服务请按1。For English, press 2.",
    },
    "survey": {
        "zh-CN": "请对我们的服务进行评价，非常满意请按5，满意请按4，一般请按3，不满意请按2，非常不满意请按1。",
        "en": "Please rate our service from one to five. Five means very satisfied, one means very dissatisfied.",
    },
    "thanks": {"zh-CN": "感谢您的评价。", "en": "Thank you for your feedback."},
    "callback_enter": {
        "zh-CN": "请输入您的回拨号码，以井号键结束。直接按井号键将使用您的来电号码。",
        "en": "Please enter your callback number, then press pound. "
        "To use the number you are calling from, just press pound.",
    },
    "callback_saved": {
        "zh-CN": "您的回拨号码已记录，我们会尽快与您联系。",
        "en": "Your number is saved. We will call you back soon.",
    },
    "enter_account": {
        "zh-CN": "请输入您的账号，以井号键结束。",
        "en": "Please enter your account number, then press pound.",
    },
    "service_unavailable": {
        "zh-CN": "抱歉，查询服务暂时不可用。",
        "en": "Sorry, this service is not available right now.",
    },
    "voicemail_greeting": {
        "zh-CN": "请在提示音后留言，按井号键结束。",
        "en": "Please leave a message after the tone, and press pound when you are done.",
    },
    "blacklisted": {"zh-CN": "抱歉，您的来电无法接通。", "en": "Sorry, your call cannot be connected."},
    "key_star": {"zh-CN": "星号", "en": "star"},
    "key_pound": {"zh-CN": "井号", "en": "pound"},
}
for _d in range(10):
    _TEXTS[f"digit_{_d}"] = {"zh-CN": _ZH_DIGITS[_d], "en": _EN_DIGITS[_d]}

DEFAULT_PROMPT_TEXTS: MappingProxyType[str, dict[str, str]] = MappingProxyType(_TEXTS)
DEFAULT_PROMPT_NAMES: frozenset[str] = frozenset(_TEXTS)
