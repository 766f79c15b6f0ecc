"""Store errors: these reach the CLI and the start-up log, so they say what to do."""

from __future__ import annotations

from pathlib import Path

from appliance.errors import ApplianceError


class StoreCorrupt(ApplianceError):
    """The configuration file cannot be read; the appliance refuses to start rather than guess."""

    def __init__(self, path: Path, reason: str, last_good: Path | None) -> None:
        offer = (
            f" A last good copy exists: {last_good} — restore it with "
            f"`appliance db restore-last-good --data-dir {path.parent}`."
            if last_good is not None
            else " No last good copy exists; restore a backup."
        )
        offer_zh = (
            f" 存在上一次完好的副本: {last_good},可用 `appliance db restore-last-good --data-dir {path.parent}` 恢复。"
            if last_good is not None
            else " 没有完好的副本,请从备份恢复。"
        )
        super().__init__(
            message=f"configuration store {path} is corrupt ({reason}); refusing to start.{offer}",
            message_zh=f"配置库 {path} 已损坏({reason}),拒绝启动。{offer_zh}",
            details={"path": str(path), "reason": reason, "last_good": str(last_good) if last_good else None},
            error_id="store_corrupt",
            http_status=500,
        )


class SchemaTooNew(ApplianceError):
    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            message=f"configuration store {path} has schema version {found}, this software supports up to "
            f"{supported}; refusing to start (a newer release wrote it)",
            message_zh=f"配置库 {path} 的版本为 {found},本软件最高支持 {supported},拒绝启动",
            details={"found": found, "supported": supported},
            error_id="schema_too_new",
        )
