"""``dicomnet check``: run the conformance battery of :mod:`dicomnet.check` against a
peer and print the verdicts; JSON and JUnit files on request."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from dicomnet.cli.common import (
    add_ae_options,
    add_client_options,
    add_logging_options,
    fail,
    timeouts_from,
)
from dicomnet.cli.security import client_identity, client_ssl_context


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check a peer's conformance: association, DIMSE services, robustness",
        description="Run a battery of conformance checks against the SCP at HOST:PORT and "
                    "print a table: each check, PASS / FAIL / SKIP, the PS3.x section it "
                    "tests, why and the evidence. Nothing is stored on the peer unless "
                    "--store, nothing hostile is sent unless --hostile. Exit status: 0 "
                    "when no check failed, 1 when one did, 2 when the peer cannot be "
                    "checked at all (nothing listens, association refused) or the "
                    "options are wrong.",
        epilog="example: dicomnet check -aec PACS pacs.local 104 --store "
               "--junit check.xml",
    )
    parser.add_argument("host", help="peer host name or address")
    parser.add_argument("port", type=int, help="peer TCP port")
    add_ae_options(parser, calling_default="DICOMNET-CHECK")
    group = parser.add_argument_group("what to check")
    group.add_argument("--only", action="append", default=[], metavar="GROUP",
                       help="run only this group (association, negotiation, "
                            "verification, storage, query, retrieve, services, robustness, "
                            "endurance) or check id; repeatable")
    group.add_argument("--store", action="store_true",
                       help="run the storage, storage commitment, MPPS and release "
                            "collision checks: leaves a few generated instances and a "
                            "completed procedure step (patient CHECK^DICOMNET) on the "
                            "peer")
    group.add_argument("--hostile", action="store_true",
                       help="run the robustness and endurance checks: malformed and "
                            "oversized PDUs and values, a slow requestor")
    group.add_argument("--listen", "--move-dest", dest="listen", metavar="AET=HOST:PORT",
                       help="the check's own SCP: the peer knows AET at HOST:PORT; used "
                            "as the C-MOVE destination (retrieve.move, "
                            "association.release-collision) and to receive storage "
                            "commitment reports sent on a new association (the peer "
                            "must know the calling AE title there too); --move-dest is "
                            "the older name")
    group.add_argument("--check-timeout", type=float, default=120.0, metavar="S",
                       help="give each check this long (default 120)")
    output = parser.add_argument_group("output")
    output.add_argument("--json", type=Path, metavar="FILE",
                        help="write the verdicts as JSON (one object per check)")
    output.add_argument("--junit", type=Path, metavar="FILE",
                        help="write the verdicts as JUnit XML for CI")
    add_client_options(parser)
    add_logging_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dicomnet.check import Target, UnreachableError, exit_status, run_checks, select
    from dicomnet.check.report import table, to_json, to_junit

    try:
        checks = select(args.only)
    except ValueError as exc:
        return fail(str(exc), 2)
    listen = None
    if args.listen:
        aet, _, address = args.listen.partition("=")
        host, _, port = address.rpartition(":")
        if not (aet and host and port.isdigit()):
            return fail(f"--listen {args.listen!r}: expected AET=HOST:PORT", 2)
        listen = (aet, host, int(port))
    target = Target(args.host, args.port, called_ae=args.aec, calling_ae=args.aet,
                    ssl=client_ssl_context(args), timeouts=timeouts_from(args),
                    identity=client_identity(args), listen=listen)
    try:
        verdicts = anyio.run(lambda: run_checks(target, checks, store=args.store,
                                                hostile=args.hostile,
                                                time_limit=args.check_timeout))
    except UnreachableError as exc:
        return fail(str(exc), 2)
    sys.stdout.write(table(verdicts))
    if args.json:
        args.json.write_text(to_json(verdicts), encoding="utf-8")
    if args.junit:
        args.junit.write_bytes(to_junit(verdicts, f"dicomnet check {args.aec}@"
                                                  f"{args.host}:{args.port}"))
    return exit_status(verdicts)
