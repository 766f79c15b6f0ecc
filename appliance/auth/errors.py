"""Authentication errors."""

from __future__ import annotations

from appliance.errors import ApplianceError


class SetupRequired(ApplianceError):
    def __init__(self) -> None:
        super().__init__(
            "the admin password has not been set: use the one-time setup token printed at first start "
            "(POST /api/v1/setup)",
            "尚未设置管理员密码:请使用首次启动时打印的一次性设置令牌 (POST /api/v1/setup)",
            error_id="setup_required",
            http_status=403,
        )


class Unauthorized(ApplianceError):
    def __init__(self, message: str = "log in first", message_zh: str = "请先登录") -> None:
        super().__init__(message, message_zh, error_id="unauthorized", http_status=401)


class LoginLocked(ApplianceError):
    def __init__(self, seconds: int) -> None:
        super().__init__(
            f"too many failed logins; try again in {seconds} s",
            f"登录失败次数过多,请 {seconds} 秒后再试",
            {"retry_after": seconds},
            error_id="login_locked",
            http_status=429,
        )
