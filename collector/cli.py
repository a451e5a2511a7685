"""`lantern-collector`: serve, users, enrolment tokens, API tokens, offline scan."""

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from collector.clock import utcnow
from collector.settings import Settings
from collector.web.deps import ROLES
from lantern.logs import setup_logging

if TYPE_CHECKING:
    from collector.directory.store import DirectoryStore


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        k: v
        for k in ("db", "grpc", "http", "var_dir", "plaintext", "enrol", "role", "metrics")
        if (v := getattr(args, k, None))
    }
    return Settings(**overrides)


def _cmd_serve(args: argparse.Namespace) -> int:
    from collector.server import run

    run(_settings(args))
    return 0


def _cmd_users_add(args: argparse.Namespace) -> int:
    from collector.security.credentials import hash_password
    from collector.store import StoreError, open_store

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    if len(password) < 12:
        print("error: the password must be at least 12 characters", file=sys.stderr)
        return 2
    store = open_store(_settings(args).database_url)
    try:
        user = store.add_user(args.email, args.role, hash_password(password))
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user {user.email} added with role {user.role}")
    return 0


def _cmd_tokens_create(args: argparse.Namespace) -> int:
    from collector.security.credentials import (
        ENROLMENT_PREFIX,
        new_token,
        parse_duration,
        token_hash,
    )
    from collector.store import open_store

    try:
        expires = utcnow() + parse_duration(args.expires) if args.expires else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    token = new_token(ENROLMENT_PREFIX)
    open_store(settings.database_url).add_enrolment_token(
        token_hash(token), args.group, args.uses, expires
    )
    if not settings.plaintext:
        # The token names the CA so the agent can pin it when enrolling over an untrusted network.
        from collector.security.ca import CertificateAuthority
        from lantern.pki import TOKEN_FINGERPRINT_SEPARATOR

        token += (
            TOKEN_FINGERPRINT_SEPARATOR
            + CertificateAuthority.load_or_create(settings.ca_dir).fingerprint
        )
    uses = "unlimited uses" if args.uses is None else f"{args.uses} uses"
    print(f"enrolment token ({uses}, group {args.group or '-'}, expires {expires or 'never'}):")
    print(token)
    return 0


def _cmd_api_token_create(args: argparse.Namespace) -> int:
    from collector.security.credentials import API_PREFIX, new_token, parse_duration, token_hash
    from collector.store import NotFound, open_store

    store = open_store(_settings(args).database_url)
    try:
        user = store.user_by_email(args.user)
    except NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    expires = utcnow() + (parse_duration(args.expires) if args.expires else timedelta(days=365))
    token = new_token(API_PREFIX)
    store.add_api_token(user.id, token_hash(token), expires)
    print(f"API token for {user.email} ({user.role}), expires {expires:%Y-%m-%d}:")
    print(token)
    return 0


def _cmd_devices_list(args: argparse.Namespace) -> int:
    from collector.store import open_store

    for d in open_store(_settings(args).database_url).list_devices():
        state = "revoked" if d.revoked else "enrolled"
        seen = f"{d.last_seen_at:%Y-%m-%d %H:%M}" if d.last_seen_at else "never"
        print(f"{d.id}  {d.hostname:<24} {d.group_name or '-':<16} {state:<9} last seen {seen}")
    return 0


def _cmd_devices_revoke(args: argparse.Namespace) -> int:
    from collector.store import NotFound, open_store

    try:
        open_store(_settings(args).database_url).revoke_device(args.device_id)
    except NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"device {args.device_id} revoked: its stream is refused from now on")
    return 0


def _cmd_users_reset_totp(args: argparse.Namespace) -> int:
    from collector.store import NotFound, open_store
    from collector.web.auth.sessions import SessionStore
    from collector.web.auth.totp import TotpStore

    store = open_store(_settings(args).database_url)
    try:
        user = store.user_by_email(args.email)
    except NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    TotpStore(store.engine).reset(user.id)
    SessionStore(store.engine).revoke_user(user.id)
    print(f"second factor reset for {user.email}: they set up their authenticator at next sign-in")
    return 0


def _cmd_retention_purge(args: argparse.Namespace) -> int:
    from collector.retention import purge

    directory = _open_directory(args)
    report = purge(directory.engine, utcnow(), purge_left_people=directory.purge_left)
    for name, count in report.deleted.items():
        print(f"{name:16} {count} deleted")
    return 0


def _cmd_privacy_inventory(args: argparse.Namespace) -> int:
    from collector.privacy.inventory import render_markdown

    print(render_markdown())
    return 0


def _cmd_sar_export(args: argparse.Namespace) -> int:

    from collector.privacy.subject_access import SubjectNotFound, export

    directory = _open_directory(args)
    try:
        data = export(directory.engine, directory, args.user, args.actor)
    except SubjectNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text)
        os.chmod(args.out, 0o600)
        print(f"subject access export written to {args.out}")
    else:
        print(text)
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from collector.triggers.replay import scan_with_triggers
    from lantern.detection import Engine

    settings = _settings(args)
    scan_with_triggers(
        sys.stdin, sys.stdout, Engine.load(), _rules(args, settings), settings.alert_threshold
    )
    return 0


def _rules(args: argparse.Namespace, settings: Settings):  # -> RuleSet
    from collector.triggers.rules import load_rules

    paths = [Path(p) for p in (getattr(args, "rules", None) or [])] or list(settings.rules)
    return load_rules(paths or None)


def _cmd_rules_check(args: argparse.Namespace) -> int:
    from collector.triggers.rules import RuleError

    try:
        rules = _rules(args, _settings(args))
    except RuleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{len(rules.content_rules)} content rules, {len(rules.coverage_rules)} coverage rules: ok"
    )
    return 0


def _cmd_rules_test(args: argparse.Namespace) -> int:
    from collector.triggers.replay import replay
    from collector.triggers.rules import RuleError
    from lantern.detection import Engine

    settings = _settings(args)
    try:
        rules = _rules(args, settings)
    except RuleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = sys.stdin if args.events == "-" else open(args.events, encoding="utf-8")  # noqa: SIM115
    with source:
        summary = replay(
            source,
            rules,
            sys.stdout,
            detection=Engine.load(),
            threshold=settings.alert_threshold,
            as_json=args.json,
        )
    return 1 if summary.errors else 0


def _cmd_reports_weekly(args: argparse.Namespace) -> int:
    import asyncio

    from collector.alerts.config import load_alerts_config
    from collector.alerts.jobs import AlertJobs
    from collector.store import open_store

    settings = _settings(args)
    store = open_store(settings.database_url)
    jobs = AlertJobs(store, _rules(args, settings), load_alerts_config(settings.alerts_config))
    report = jobs.weekly_report_once(utcnow(), force=True)
    if report is None:
        print("last week's report was already made; showing it", file=sys.stderr)
        report = jobs.alerts.latest_report("weekly")
    elif args.send:
        asyncio.run(jobs.dispatcher.run_once())
    print(json.dumps(report, indent=2))
    return 0


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from collector.alerts.store import AlertStore
    from collector.store import open_store

    check = AlertStore(open_store(_settings(args).database_url)).verify_audit()  # type: ignore[arg-type]
    if check.ok:
        print(f"audit log intact: {check.entries} entries")
        return 0
    print(f"audit log BROKEN at entry {check.first_bad_seq}: {check.reason}", file=sys.stderr)
    return 1


def _open_directory(args: argparse.Namespace) -> "DirectoryStore":
    from collector.directory.store import DirectoryStore
    from collector.store import open_store

    return DirectoryStore.for_store(open_store(_settings(args).database_url))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lantern-collector", description=__doc__)
    parser.add_argument("--db", help="SQLAlchemy URL (default: SQLite under --var-dir)")
    parser.add_argument("--var-dir", dest="var_dir", help="data directory (default ./var)")
    parser.add_argument(
        "--plaintext",
        action="store_true",
        default=None,
        help="gRPC without TLS (tests on a trusted network only; tokens then carry no CA pin)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run gRPC ingest and the web console")
    serve.add_argument("--grpc", help="gRPC listen address (default 127.0.0.1:50051)")
    serve.add_argument("--enrol", help="enrolment listen address (default: gRPC port + 1)")
    serve.add_argument("--http", help="web listen address (default 127.0.0.1:8080)")
    serve.add_argument(
        "--role",
        choices=("all", "ingest", "web", "jobs"),
        help="what this process runs: all (default), or only the gRPC ingest and enrolment "
        "ports, only the web console and API, or only the background jobs; run several "
        "processes on one database for scale (docs/deploy.md)",
    )
    serve.add_argument(
        "--metrics",
        help="also serve Prometheus metrics on this address, without sign-in, for a private "
        "monitoring network (e.g. 127.0.0.1:9108): how ingest and jobs processes are scraped; "
        "the web role has /metrics behind an it_admin token",
    )
    serve.set_defaults(func=_cmd_serve)

    users = sub.add_parser("users", help="console users").add_subparsers(
        dest="users_cmd", required=True
    )
    add = users.add_parser("add", help="add a user")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=_cmd_users_add)

    tokens = sub.add_parser("tokens", help="enrolment tokens").add_subparsers(
        dest="tokens_cmd", required=True
    )
    create = tokens.add_parser("create", help="create an enrolment token (printed last)")
    create.add_argument("--group", help="device group the enrolled devices join")
    create.add_argument(
        "--uses", type=int, help="how many enrolments it allows (default unlimited)"
    )
    create.add_argument("--expires", default="7d", help="lifetime, e.g. 7d, 12h (default 7d)")
    create.set_defaults(func=_cmd_tokens_create)

    api = sub.add_parser("api-token", help="REST API bearer tokens").add_subparsers(
        dest="api_cmd", required=True
    )
    api_create = api.add_parser("create", help="create a bearer token for a user (printed last)")
    api_create.add_argument("--user", required=True, help="the user's email")
    api_create.add_argument("--expires", help="lifetime (default 365d)")
    api_create.set_defaults(func=_cmd_api_token_create)

    devices = sub.add_parser("devices", help="enrolled devices").add_subparsers(
        dest="devices_cmd", required=True
    )
    devices.add_parser("list", help="list devices").set_defaults(func=_cmd_devices_list)
    revoke = devices.add_parser("revoke", help="refuse a device from now on")
    revoke.add_argument("device_id")
    revoke.set_defaults(func=_cmd_devices_revoke)

    from collector.directory.cli import add_commands as add_directory_commands

    reset = users.add_parser("reset-totp", help="make a user set up their authenticator again")
    reset.add_argument("--email", required=True)
    reset.set_defaults(func=_cmd_users_reset_totp)

    retention = sub.add_parser("retention", help="data retention").add_subparsers(
        dest="retention_cmd", required=True
    )
    retention.add_parser(
        "purge", help="delete everything past its retention period (serve does this daily)"
    ).set_defaults(func=_cmd_retention_purge)

    privacy = sub.add_parser("privacy", help="the data inventory").add_subparsers(
        dest="privacy_cmd", required=True
    )
    privacy.add_parser("inventory", help="print docs/privacy.md from the inventory").set_defaults(
        func=_cmd_privacy_inventory
    )
    sar = sub.add_parser("sar", help="subject access requests").add_subparsers(
        dest="sar_cmd", required=True
    )
    sar_export = sar.add_parser("export", help="everything held about one person, as JSON")
    sar_export.add_argument("--user", required=True, help="student id, email or login")
    sar_export.add_argument("--actor", default="cli", help="who is exporting (audited)")
    sar_export.add_argument("--out", help="write to this file (mode 600) instead of stdout")
    sar_export.set_defaults(func=_cmd_sar_export)

    # people import|inventory|watch|resolve|special-login, groups list|policy-set|policy-show
    add_directory_commands(sub, _open_directory)

    from collector import loadgen

    lg = sub.add_parser("loadgen", help="simulate enrolled agents over real gRPC and measure")
    loadgen.add_arguments(lg)
    lg.set_defaults(func=loadgen.main_from_args)

    scan = sub.add_parser("scan", help="JSON Lines in, detection and trigger hits out")
    scan.add_argument("--rules", action="append", help="rules file or directory (repeatable)")
    scan.set_defaults(func=_cmd_scan)

    rules = sub.add_parser("rules", help="trigger rules").add_subparsers(
        dest="rules_cmd", required=True
    )
    check = rules.add_parser("check", help="load and validate the rules")
    check.add_argument("--rules", action="append", help="rules file or directory (repeatable)")
    check.set_defaults(func=_cmd_rules_check)
    test = rules.add_parser("test", help="replay a JSON Lines file of events; print what fires")
    test.add_argument("events", help="JSON Lines file, or - for stdin")
    test.add_argument("--rules", action="append", help="rules file or directory (repeatable)")
    test.add_argument("--json", action="store_true", help="JSON Lines output")
    test.set_defaults(func=_cmd_rules_test)
    reports = sub.add_parser("reports", help="reports").add_subparsers(
        dest="reports_cmd", required=True
    )
    weekly = reports.add_parser("weekly", help="make last week's report now (once) and print it")
    weekly.add_argument("--send", action="store_true", help="also email it to the recipients")
    weekly.set_defaults(func=_cmd_reports_weekly)
    audit = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_cmd", required=True
    )
    verify = audit.add_parser("verify", help="check the audit log's hash chain")
    verify.set_defaults(func=_cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
