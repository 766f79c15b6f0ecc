"""The `appliance` command: run the box, and the few things an installer does from a shell."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from appliance import __version__
from appliance.config import RunConfig
from appliance.errors import ApplianceError
from appliance.sd_notify import SdNotifier

DEFAULT_DATA_DIR = Path("var")


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="where configuration, records, recordings and prompts live (default: ./var)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Call-center appliance / 呼叫中心一体机")
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start every service in the foreground")
    _data_dir_arg(run)
    run.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--http-port", type=int, default=8080, help="web UI and API port (default 8080)")
    run.add_argument("--sip-port", type=int, default=5060, help="SIP port, UDP and TCP (default 5060)")
    run.add_argument("--snmp-port", type=int, default=1161, help="SNMP agent port (default 1161)")
    run.add_argument("--rtp-ports", default="20000-29999", help="RTP port range LOW-HIGH (default 20000-29999)")
    run.add_argument("--rtp-timeout", type=float, default=30.0,
                     help="seconds without RTP from a phone before its call is ended (default 30)")
    run.add_argument("--log-format", choices=("text", "json"), default="text")
    run.add_argument("--log-level", default="info", help='e.g. "info" or "info,appliance.sip=debug"')
    run.add_argument("--no-demo", action="store_true", help="do not seed the demo tenant into an empty store")
    run.add_argument("--https-port", type=int, default=8443, help="the web UI over TLS (default 8443)")
    run.add_argument("--http-redirect", action="store_true",
                     help="plain HTTP only redirects to the HTTPS port (the image sets this)")

    user = sub.add_parser("user", help="login accounts").add_subparsers(dest="user_command", required=True)
    setpw = user.add_parser("set-password", help="set a user's password (from stdin, or prompted)")
    setpw.add_argument("name")
    _data_dir_arg(setpw)

    config = sub.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    exp = config.add_parser("export", help="write the whole configuration to FILE (JSON)")
    exp.add_argument("file", type=Path)
    _data_dir_arg(exp)
    imp = config.add_parser("import", help="replace the configuration with FILE (validated; atomic)")
    imp.add_argument("file", type=Path)
    _data_dir_arg(imp)

    db = sub.add_parser("db", help="the stores").add_subparsers(dest="db_command", required=True)
    check = db.add_parser("check", help="integrity report of the configuration and record stores")
    _data_dir_arg(check)
    restore = db.add_parser("restore-last-good", help="put back the last configuration that opened cleanly")
    _data_dir_arg(restore)

    demo = sub.add_parser("demo", help="the demo tenant").add_subparsers(dest="demo_command", required=True)
    info = demo.add_parser("info", help="print the demo numbers, extensions and SIP passwords")
    _data_dir_arg(info)
    info.add_argument("--sip-port", type=int, default=5060)
    info.add_argument("--bind", default="127.0.0.1")

    from appliance.backups import cli as backup_cli

    backup_cli.add_commands(sub, _data_dir_arg)
    from appliance.firmware import cli as firmware_cli

    firmware_cli.add_commands(sub, _data_dir_arg)
    from drivers.hardware import cli as hw_cli

    hw_cli.add_commands(sub, _data_dir_arg)
    return parser


async def _run(args: argparse.Namespace) -> int:
    from appliance.app import create_appliance
    from appliance.logging_setup import configure

    low, _, high = str(args.rtp_ports).partition("-")
    if not (low.isdigit() and high.isdigit()):
        print(f"error: --rtp-ports {args.rtp_ports!r}: expected LOW-HIGH, e.g. 20000-29999", file=sys.stderr)
        return 2
    run = RunConfig(data_dir=args.data_dir, bind=args.bind, http_port=args.http_port, https_port=args.https_port,
                    http_redirect=args.http_redirect, sip_port=args.sip_port,
                    snmp_port=args.snmp_port, rtp_port_min=int(low), rtp_port_max=int(high),
                    rtp_timeout=args.rtp_timeout,
                    log_format=args.log_format, log_levels=args.log_level, seed_demo=not args.no_demo)
    configure(run.log_format, run.log_levels)
    appliance = create_appliance(run)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier = SdNotifier()  # systemd: READY once listening, the watchdog pinged from this loop
    notifier.start_watchdog()
    try:
        await appliance.start()
    except OSError as exc:  # a port in use, an address not on this machine
        await appliance.stop()
        print(f"error: cannot start: {exc}", file=sys.stderr)
        print(f"错误: 无法启动: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        await appliance.stop()
        raise
    print(f"appliance {__version__} running; data in {run.data_dir.resolve()}", flush=True)
    for line in appliance.listening():
        print(f"  {line}", flush=True)
    if appliance.setup_token:
        print("", flush=True)
        print("  The admin password is not set. One-time setup token / 一次性设置令牌:", flush=True)
        print(f"    {appliance.setup_token}", flush=True)
        print("  Set it in the web UI, or: curl -X POST http://HOST:PORT/api/v1/setup "
              "-d '{\"token\": \"...\", \"password\": \"...\"}'", flush=True)
        print("  (or from a shell on the box: appliance user set-password admin)", flush=True)
    print("  Demo numbers and SIP passwords: appliance demo info --data-dir " + str(run.data_dir), flush=True)
    notifier.ready(f"appliance {__version__} running")
    try:
        await stop.wait()
    finally:
        notifier.stopping()
        await notifier.stop_watchdog()
        await appliance.stop()
    return 0


def _set_password(args: argparse.Namespace) -> int:
    from appliance.app import Core
    from appliance.configuration.service import Actor

    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    core = Core.open(args.data_dir)
    try:
        asyncio.run(core.config.set_secret("users", args.name, password, Actor("cli", "cli")))
    finally:
        core.close()
    print(f"password of {args.name} set")
    return 0


def _export(args: argparse.Namespace) -> int:
    from appliance.domain.kinds import all_kinds
    from appliance.store.atomic import atomic_write_text
    from appliance.store.config_store import ConfigStore

    store = ConfigStore.open(args.data_dir, all_kinds(), read_only=True)
    atomic_write_text(args.file, json.dumps(store.export(), ensure_ascii=False, indent=1))
    print(f"configuration written to {args.file}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from appliance.app import Core
    from appliance.configuration.service import Actor

    try:
        data = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    core = Core.open(args.data_dir)
    try:
        count = asyncio.run(core.config.import_config(data, Actor("cli", "cli")))
    finally:
        core.close()
    print(f"imported {count} entities")
    return 0


def _check(args: argparse.Namespace) -> int:
    from appliance.app import RECORDS_FILE
    from appliance.domain.kinds import all_kinds
    from appliance.records.sqlite_store import RecordStore
    from appliance.store.config_store import check_integrity

    report = check_integrity(args.data_dir, all_kinds())
    print(f"configuration: {report.path} (schema v{report.schema_version})")
    for name, count in sorted(report.counts.items()):
        print(f"  {name:<16} {count}")
    records_path = Path(args.data_dir) / RECORDS_FILE
    problems = list(report.problems)
    if records_path.exists():
        records = RecordStore.open(records_path)
        try:
            result = records.integrity()
            print(f"records: {records_path}: {result}, journal {records.journal_mode()}")
            if result != "ok":
                problems.append(f"records: {result}")
        finally:
            records.close()
    if problems:
        print("problems:")
        for p in problems:
            print(f"  - {p}")
        if report.last_good:
            print(f"last good copy: {report.last_good} (appliance db restore-last-good)")
        return 1
    print("no problems found")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from appliance.app import DataDirLock
    from appliance.store.config_store import restore_last_good

    lock = DataDirLock(args.data_dir)
    lock.acquire()
    try:
        path = restore_last_good(args.data_dir)
    finally:
        lock.release()
    print(f"restored the last good configuration into {path} (the damaged file is kept as config.corrupt.json)")
    return 0


def _demo_info(args: argparse.Namespace) -> int:
    from appliance.demo import demo_info
    from appliance.domain.kinds import all_kinds
    from appliance.store.config_store import ConfigStore

    store = ConfigStore.open(args.data_dir, all_kinds(), read_only=True)
    entities = {k.name: store.list(k.name) for k in all_kinds()}
    print(demo_info(args.data_dir, entities, store.settings, args.sip_port, args.bind))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            try:
                import uvloop
            except ImportError:
                return asyncio.run(_run(args))
            return uvloop.run(_run(args))
        handlers = {
            ("user", "set-password"): _set_password,
            ("config", "export"): _export,
            ("config", "import"): _import,
            ("db", "check"): _check,
            ("db", "restore-last-good"): _restore,
            ("demo", "info"): _demo_info,
        }
        from appliance.backups import cli as backup_cli

        handlers.update(backup_cli.HANDLERS)
        from appliance.firmware import cli as firmware_cli

        handlers.update(firmware_cli.HANDLERS)
        from drivers.hardware import cli as hw_cli

        handlers.update(hw_cli.HANDLERS)
        sub = getattr(args, f"{args.command}_command")
        return handlers[(args.command, sub)](args)
    except ApplianceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.message_zh:
            print(f"错误: {exc.message_zh}", file=sys.stderr)
        for field in exc.details.get("fields", []):
            print(f"  - {field['message']} / {field['message_zh']}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
