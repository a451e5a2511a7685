"""`lantern-collector people …` and `lantern-collector groups …`: the directory from a shell.

collector/cli.py mounts these with `add_commands(sub, open_directory)`, where `open_directory`
turns the parsed arguments into a DirectoryStore over the configured database. Every command
prints a human summary; `--json` prints the full report instead (scripts read that).

    lantern-collector people import FILE --format mis|entra|google|csv [--mapping M.yaml]
                                         [--dry-run] [--allow-mass-leave] [--json]
    lantern-collector people inventory FILE [--dry-run] [--json]
    lantern-collector people watch DIR
    lantern-collector people resolve OS_USER --device DEVICE_ID [--at ISO-TIME]
    lantern-collector people special-login LOGIN --kind guest|shared [--label L]
    lantern-collector groups list
    lantern-collector groups policy-set GROUP --file POLICY.yaml
    lantern-collector groups policy-show GROUP
"""

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from collector.clock import utcnow
from collector.directory.importers import ExportError, MappingError, import_inventory, import_people
from collector.directory.people import ImportReport
from collector.directory.policies import PolicyError, spec_from_mapping, spec_to_mapping
from collector.directory.store import DirectoryError, DirectoryStore

OpenDirectory = Callable[[argparse.Namespace], DirectoryStore]
ACTOR = "cli"


def add_commands(sub: Any, open_directory: OpenDirectory) -> None:
    """Add `people` and `groups` to the collector's subcommands (an argparse subparsers object)."""
    people = sub.add_parser("people", help="the directory: people imports and login mapping")
    pcmd = people.add_subparsers(dest="people_cmd", required=True)

    imp = pcmd.add_parser("import", help="import a people export (MIS, Entra, Google, plain CSV)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", required=True, choices=("mis", "entra", "google", "plain", "csv"))
    imp.add_argument("--mapping", type=Path, help="column mapping (YAML), see docs/directory.md")
    imp.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )
    imp.add_argument(
        "--allow-mass-leave",
        action="store_true",
        help="accept an export that marks more than half of its people as left",
    )
    imp.add_argument("--json", action="store_true", help="print the full report as JSON")
    imp.set_defaults(func=_with(open_directory, _cmd_import))

    inv = pcmd.add_parser("inventory", help="import the MDM device export (serial -> site, group)")
    inv.add_argument("file", type=Path)
    inv.add_argument("--dry-run", action="store_true")
    inv.add_argument("--json", action="store_true")
    inv.set_defaults(func=_with(open_directory, _cmd_inventory))

    watch = pcmd.add_parser("watch", help="import every export dropped into a folder, until Ctrl-C")
    watch.add_argument("folder", type=Path)
    watch.set_defaults(func=_with(open_directory, _cmd_watch))

    res = pcmd.add_parser("resolve", help="who an OS user on a device is (for checking mappings)")
    res.add_argument("os_user")
    res.add_argument("--device", required=True, help="device id")
    res.add_argument("--at", help="ISO time of the event (default now)")
    res.set_defaults(func=_with(open_directory, _cmd_resolve))

    special = pcmd.add_parser("special-login", help="declare a guest or shared login (or glob)")
    special.add_argument("login")
    special.add_argument("--kind", required=True, choices=("guest", "shared"))
    special.add_argument("--label", default="")
    special.set_defaults(func=_with(open_directory, _cmd_special))

    groups = sub.add_parser("groups", help="groups and their policies")
    gcmd = groups.add_subparsers(dest="groups_cmd", required=True)
    gcmd.add_parser("list", help="groups with member/device counts").set_defaults(
        func=_with(open_directory, _cmd_groups)
    )
    pset = gcmd.add_parser("policy-set", help="store a new version of a group's policy")
    pset.add_argument("group")
    pset.add_argument("--file", type=Path, required=True, help="policy settings (YAML)")
    pset.set_defaults(func=_with(open_directory, _cmd_policy_set))
    pshow = gcmd.add_parser("policy-show", help="a group's current policy")
    pshow.add_argument("group")
    pshow.set_defaults(func=_with(open_directory, _cmd_policy_show))


def _with(
    open_directory: OpenDirectory, cmd: Callable[[DirectoryStore, argparse.Namespace, TextIO], int]
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return cmd(open_directory(args), args, sys.stdout)
        except (ExportError, MappingError, PolicyError, DirectoryError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def print_report(report: ImportReport, out: TextIO, as_json: bool) -> int:
    """A summary (or the JSON report); returns the exit status: 1 if the import was refused."""
    if as_json:
        print(json.dumps(report.as_dict(), indent=2), file=out)
        return 1 if report.refused else 0
    s = report.summary()
    prefix = "would import" if report.dry_run else "imported"
    if report.refused:
        print(f"refused: {report.refused}", file=out)
        return 1
    print(
        f"{prefix} {report.filename or report.source} ({report.source}): {s['rows']} rows, "
        f"{s['added']} added, {s['changed']} changed, {s['unchanged']} unchanged, "
        f"{s['left']} left, {s['returned']} returned, {s['unusable']} unusable, "
        f"{s['inactive']} inactive",
        file=out,
    )
    for u in report.unusable:
        ident = f" [{u.external_id}]" if u.external_id else ""
        print(f"  line {u.line}{ident}: {u.reason}", file=out)
    return 0


def _cmd_import(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    report = import_people(
        d,
        args.file.read_bytes(),
        args.format,
        args.mapping,
        filename=args.file.name,
        actor=ACTOR,
        dry_run=args.dry_run,
        allow_mass_leave=args.allow_mass_leave,
    )
    return print_report(report, out, args.json)


def _cmd_inventory(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    report = import_inventory(
        d, args.file.read_bytes(), filename=args.file.name, actor=ACTOR, dry_run=args.dry_run
    )
    return print_report(report, out, args.json)


def _cmd_watch(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    from collector.directory.watch import DropFolder

    folder = DropFolder(d, args.folder)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folder.start()
    print(f"watching {args.folder.resolve()} (Ctrl-C to stop)", file=out, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        folder.stop()
    return 0


def _cmd_resolve(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    at = datetime.fromisoformat(args.at) if args.at else utcnow()
    if at.tzinfo is None:
        print("error: --at needs a time zone, e.g. 2026-11-25T09:00:00+00:00", file=sys.stderr)
        return 2
    print(json.dumps(d.resolve(args.os_user, args.device, at).as_dict(), indent=2), file=out)
    return 0


def _cmd_special(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    s = d.set_special_login(args.login, args.kind, args.label, actor=ACTOR)
    print(f"{s.login} is a {s.kind} login ({s.label or 'no label'})", file=out)
    return 0


def _cmd_groups(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    for g in d.list_groups():
        policy = f"policy v{g.policy_version}" if g.policy_version else "no policy"
        print(f"{g.name}\t{g.people} people\t{g.devices} devices\t{policy}", file=out)
    return 0


def _cmd_policy_set(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    data = yaml.safe_load(args.file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise PolicyError(f"{args.file}: a policy file holds a YAML mapping")
    policy = d.put_policy(args.group, spec_from_mapping(data), actor=ACTOR)
    print(f"policy for {policy.group_name} is now version {policy.version}", file=out)
    return 0


def _cmd_policy_show(d: DirectoryStore, args: argparse.Namespace, out: TextIO) -> int:
    policy = d.current_policy(args.group)
    if policy is None:
        print(f"error: group {args.group!r} has no policy", file=sys.stderr)
        return 1
    body = {"group": policy.group_name, "version": policy.version, **spec_to_mapping(policy.spec)}
    print(yaml.safe_dump(body, sort_keys=False, allow_unicode=True), end="", file=out)
    return 0
