"""`lantern-agent`: enrol, run, status."""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.identity import default_state_dir
from lantern.logs import setup_logging


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) if args.state_dir else default_state_dir()


def _cmd_enrol(args: argparse.Namespace) -> int:
    from agent.enrol import EnrolmentError, enrol

    try:
        device_id = enrol(
            _state_dir(args),
            args.collector,
            args.token,
            plaintext=args.plaintext,
            enrol_address=args.enrol_address,
        )
    except EnrolmentError as exc:
        print(f"enrolment failed: {exc}", file=sys.stderr)
        return 1
    print(f"enrolled as device {device_id} with {args.collector}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from agent.runner import run_agent

    return run_agent(_state_dir(args))


def _cmd_status(args: argparse.Namespace) -> int:
    from agent.status import format_status, read_status

    status = read_status(_state_dir(args))
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0 if status["enrolled"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lantern-agent", description=__doc__)
    parser.add_argument(
        "--state-dir", help="where the agent keeps its state (default: user data dir)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    enrol = sub.add_parser("enrol", help="enrol this device with a collector")
    enrol.add_argument(
        "--collector", required=True, help="HOST:PORT of the collector's gRPC ingest"
    )
    enrol.add_argument("--token", required=True, help="enrolment token from IT")
    enrol.add_argument(
        "--enrol-address", help="HOST:PORT of the enrolment endpoint (default: collector port + 1)"
    )
    enrol.add_argument(
        "--plaintext",
        action="store_true",
        help="the collector runs without TLS (test networks only); tokens then carry no CA pin",
    )
    enrol.set_defaults(func=_cmd_enrol)
    run = sub.add_parser("run", help="run the agent in this user session")
    run.set_defaults(func=_cmd_run)
    status = sub.add_parser("status", help="show what is monitored and how the link is")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
