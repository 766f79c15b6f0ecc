"""`appliance backup run|list|verify|restore`: the backup service from the command line, with a progress bar.

Runs, verifications and restores take the data directory's lock (the running appliance holds it: use the API
then); listing snapshots does not. Hooked into `appliance.cli` by `add_commands` and `HANDLERS`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.backups.events import BackupProgress
from appliance.backups.models import Part
from appliance.backups.service import BackupService
from appliance.clock import SystemClock
from appliance.events import Event, EventBus


def add_commands(sub: Any, data_dir_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    backup = sub.add_parser("backup", help="backups with restic").add_subparsers(dest="backup_command",
                                                                                 required=True)
    parts_help = "config, audio or both (default both)"
    run = backup.add_parser("run", help="back up now to TARGET")
    run.add_argument("target")
    run.add_argument("--parts", default="config,audio", help=parts_help)
    lst = backup.add_parser("list", help="list the snapshots on TARGET")
    lst.add_argument("target")
    verify = backup.add_parser("verify", help="check TARGET's repository and read a slice (or all) of its data")
    verify.add_argument("target")
    verify.add_argument("--all", action="store_true", help="read every pack, not a rotating quarter")
    restore = backup.add_parser("restore", help="restore the latest (or given) snapshots into a new directory")
    restore.add_argument("target")
    where = restore.add_mutually_exclusive_group(required=True)
    where.add_argument("--into", type=Path, help="a new data directory (not the live one)")
    where.add_argument("--live", action="store_true",
                       help="into the data directory itself (the appliance stopped; a safety backup first, what is "
                            "replaced kept aside)")
    restore.add_argument("--parts", default="config,audio", help=parts_help)
    restore.add_argument("--dry-run", action="store_true", help="say what would change in --into, change nothing")
    for p in (run, lst, verify, restore):
        data_dir_arg(p)


def _parts(text: str) -> tuple[Part, ...]:
    try:
        return tuple(Part(p.strip()) for p in text.split(",") if p.strip())
    except ValueError:
        raise SystemExit(f"--parts: {text!r} is not a list of config, audio") from None


class _Settings:
    def __init__(self, data_dir: Path) -> None:
        from appliance.domain.kinds import all_kinds
        from appliance.store.config_store import ConfigStore

        store = ConfigStore.open(data_dir, all_kinds(), read_only=True)
        self.settings: dict[str, Any] = store.settings

    async def set_settings(self, **values: Any) -> None:
        raise SystemExit("the command line does not change backup settings; use the API or the web UI")


def _bar(event: Event) -> None:
    if not isinstance(event, BackupProgress):
        return
    width = 30
    done = int(width * min(1.0, event.percent_done))
    print(f"\r{event.part:<6} [{'#' * done}{'.' * (width - done)}] {100 * event.percent_done:5.1f}% "
          f"{event.files_done}/{event.total_files} files {event.bytes_done / 2**20:,.0f}/"
          f"{event.total_bytes / 2**20:,.0f} MiB  {event.seconds_remaining:.0f} s left ", end="", file=sys.stderr,
          flush=True)


def _with_service(args: argparse.Namespace, body: Callable[[BackupService], Awaitable[int]], *,
                  lock: bool) -> int:
    from appliance.app import DataDirLock

    data_dir = Path(args.data_dir)
    holder = DataDirLock(data_dir) if lock else None
    if holder is not None:
        holder.acquire()
    try:
        bus = EventBus()
        bus.subscribe(_bar, {"backups.progress"})

        async def main() -> int:
            service = BackupService(data_dir, _Settings(data_dir), bus, SystemClock())
            await service.start()
            try:
                return await body(service)
            finally:
                await service.stop()

        return asyncio.run(main())
    finally:
        if holder is not None:
            holder.release()


def _run(args: argparse.Namespace) -> int:
    async def body(service: BackupService) -> int:
        record = await service.run_backup(args.target, _parts(args.parts))
        print(f"\nbackup to {record.target}: {record.files_new} files new, {record.files_changed} changed, "
              f"{record.bytes_added / 2**20:,.1f} MiB added in {record.duration_s:.1f} s; snapshots "
              f"{', '.join(record.snapshots)}{' (PARTIAL: ' + record.message + ')' if record.message else ''}")
        return 0
    return _with_service(args, body, lock=True)


def _list(args: argparse.Namespace) -> int:
    async def body(service: BackupService) -> int:
        for s in await service.list_snapshots(args.target):
            print(f"{s.short_id}  {s.time[:19]}  {','.join(s.tags):<8} {s.host}  {' '.join(s.paths)}")
        return 0
    return _with_service(args, body, lock=False)


def _verify(args: argparse.Namespace) -> int:
    async def body(service: BackupService) -> int:
        record = await service.verify(args.target, read_data="all" if args.all else "subset")
        print(f"{record.target}: repository verified in {record.duration_s:.1f} s")
        return 0
    return _with_service(args, body, lock=True)


def _restore(args: argparse.Namespace) -> int:
    async def body(service: BackupService) -> int:
        if args.live:
            if args.dry_run:
                report = await service.restore(args.target, service.data_dir, _parts(args.parts), dry_run=True)
            else:
                report, aside = await service.restore_live(args.target, _parts(args.parts))
                print(f"\nrestored {', '.join(f'{p} {s[:8]}' for p, s in report.snapshots.items())} into "
                      f"{report.dest}; what it replaced is in {aside}; start the appliance again")
                return 0
        else:
            report = await service.restore(args.target, args.into, _parts(args.parts), dry_run=args.dry_run)
        if args.dry_run:
            for part, plan in report.plan.items():
                print(f"{part}: {len(plan['new'])} new, {len(plan['changed'])} replaced, "
                      f"{len(plan['unchanged'])} unchanged")
                for name in plan["changed"][:20]:
                    print(f"  replaced: {name}")
        else:
            print(f"restored {', '.join(f'{p} {s[:8]}' for p, s in report.snapshots.items())} into {report.dest}"
                  f" (records: {report.records_integrity or 'not restored'})")
        return 0
    return _with_service(args, body, lock=True)


HANDLERS: dict[tuple[str, str], Callable[[argparse.Namespace], int]] = {
    ("backup", "run"): _run, ("backup", "list"): _list, ("backup", "verify"): _verify,
    ("backup", "restore"): _restore,
}
