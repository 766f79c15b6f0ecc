"""Backup errors: each names what failed in plain words, in English and Chinese, for the API, events and traps."""

from __future__ import annotations

from typing import Any

from appliance.errors import ApplianceError


class BackupError(ApplianceError):
    """Any backup, verification or restore failure; `error_id` says which kind."""

    def __init__(self, message: str, message_zh: str, error_id: str = "backup_failed", *,
                 http_status: int = 502, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, message_zh, details or {}, error_id=error_id, http_status=http_status)


class TargetUnavailable(BackupError):
    def __init__(self, target: str, why: str, why_zh: str) -> None:
        super().__init__(f"backup target {target!r} is not available: {why}",
                         f"备份目标 {target!r} 不可用: {why_zh}", "backup_target_unavailable",
                         http_status=409, details={"target": target})


class HostKeyChanged(BackupError):
    def __init__(self, target: str) -> None:
        super().__init__(
            f"the SSH host key of backup target {target!r} is not the one confirmed earlier; refusing to connect "
            "(if the server was reinstalled, confirm its new key)",
            f"备份目标 {target!r} 的 SSH 主机密钥与先前确认的不一致,已拒绝连接(如服务器已重装,请重新确认密钥)",
            "backup_host_key_changed", http_status=409, details={"target": target})


class WrongPassword(BackupError):
    def __init__(self, target: str) -> None:
        super().__init__(f"the repository password does not open the backup repository on {target!r}",
                         f"备份目标 {target!r} 上的备份仓库密码错误", "backup_wrong_password",
                         http_status=409, details={"target": target})


class TargetFull(BackupError):
    def __init__(self, target: str, detail: str) -> None:
        super().__init__(f"backup target {target!r} is full or refused the write: {detail}",
                         f"备份目标 {target!r} 空间已满或拒绝写入: {detail}", "backup_target_full",
                         details={"target": target})


class Stalled(BackupError):
    def __init__(self, target: str, seconds: float) -> None:
        super().__init__(f"the backup to {target!r} made no progress for {seconds:.0f} s and was stopped",
                         f"到 {target!r} 的备份 {seconds:.0f} 秒无进展,已终止", "backup_stalled",
                         details={"target": target, "seconds": seconds})


class ConnectionLost(BackupError):
    def __init__(self, target: str, detail: str) -> None:
        super().__init__(f"the connection to backup target {target!r} was lost: {detail}",
                         f"与备份目标 {target!r} 的连接中断: {detail}", "backup_connection_lost",
                         details={"target": target})


class RepositoryCorrupt(BackupError):
    def __init__(self, target: str, detail: str) -> None:
        super().__init__(f"the backup repository on {target!r} failed verification: {detail}",
                         f"备份目标 {target!r} 上的备份仓库校验失败: {detail}", "backup_repository_corrupt",
                         http_status=409, details={"target": target, "detail": detail})


class ResticFailed(BackupError):
    def __init__(self, target: str, command: str, code: int, detail: str) -> None:
        super().__init__(f"restic {command} on {target!r} failed (exit {code}): {detail}",
                         f"restic {command} 在 {target!r} 上失败(退出码 {code}): {detail}", "backup_failed",
                         details={"target": target, "command": command, "exit_code": code})


class BackupBusy(BackupError):
    def __init__(self) -> None:
        super().__init__("a backup or restore is already running; try again when it ends",
                         "已有备份或恢复任务在运行,请稍后再试", "backup_busy", http_status=409)
