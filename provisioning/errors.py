"""Errors of first boot and provisioning that reach a user (API, console)."""

from __future__ import annotations

from appliance.errors import ApplianceError


class NetworkError(ApplianceError):
    """The kernel refused a change, or the interface named does not exist."""

    def __init__(self, message: str, message_zh: str, *, field: str = "", http_status: int = 422) -> None:
        super().__init__(message, message_zh, details={"field": field} if field else {},
                         error_id="network_error", http_status=http_status)


class NoPendingChange(ApplianceError):
    def __init__(self) -> None:
        super().__init__("no network change is waiting for confirmation", "没有等待确认的网络变更",
                         error_id="no_pending_change", http_status=409)


class ChangePending(ApplianceError):
    def __init__(self, seconds_left: float) -> None:
        super().__init__(
            f"a network change is waiting for confirmation ({seconds_left:.0f} s left); confirm or revert it first",
            f"有网络变更正在等待确认(剩余 {seconds_left:.0f} 秒),请先确认或撤销",
            details={"seconds_left": round(seconds_left, 1)}, error_id="change_pending", http_status=409)


class ConfirmFromNewAddress(ApplianceError):
    def __init__(self, local: str, expected: list[str]) -> None:
        super().__init__(
            f"confirm from the new address ({', '.join(expected) or 'none yet'}); this request reached {local}",
            f"请通过新地址确认({', '.join(expected) or '尚无'});本请求到达的是 {local}",
            details={"reached": local, "new_addresses": expected}, error_id="confirm_from_new_address",
            http_status=409)


class NetworkNotManaged(ApplianceError):
    def __init__(self) -> None:
        super().__init__(
            "this machine's network is not managed by the appliance (only on the box image)",
            "此机器的网络不由本设备管理(仅在设备镜像上)", error_id="network_not_managed", http_status=409)


class UnknownPhone(ApplianceError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no phone {what} in the inventory", f"设备清单中没有话机 {what}",
                         error_id="unknown_phone", http_status=404)
