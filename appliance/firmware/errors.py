"""Firmware errors, bilingual, for the API and the command line."""

from __future__ import annotations

from appliance.errors import ApplianceError, FieldError, ValidationFailed


class FirmwareError(ApplianceError):
    def __init__(self, message: str, message_zh: str, error_id: str, http_status: int = 409) -> None:
        super().__init__(message, message_zh, {}, error_id=error_id, http_status=http_status)


class NotOnImage(FirmwareError):
    def __init__(self, what: str, what_zh: str) -> None:
        super().__init__(f"{what} is only possible on the box image (RAUC and its root slots are not here)",
                         f"{what_zh}仅在设备镜像上可用(此处没有 RAUC 及其根分区槽位)", "firmware_not_on_image")


class InstallRunning(FirmwareError):
    def __init__(self) -> None:
        super().__init__("an update is being installed; wait for it to finish", "正在安装更新,请等待其完成",
                         "firmware_install_running")


class BundleTooLarge(FirmwareError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the bundle is larger than {limit // (1024 * 1024)} MiB",
                         f"升级包超过 {limit // (1024 * 1024)} MiB", "firmware_bundle_too_large", http_status=413)


def empty_bundle() -> ValidationFailed:
    return ValidationFailed([FieldError("bundle", "required", "bundle: the request body is the .raucb file",
                                        "bundle: 请求体应为 .raucb 升级包文件")])


def wrong_confirmation(word: str) -> ValidationFailed:
    return ValidationFailed([FieldError("confirm", "equals", f"confirm: type {word} to confirm",
                                        f"confirm: 请输入 {word} 以确认")])
