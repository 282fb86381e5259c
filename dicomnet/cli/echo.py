"""``dicomnet echo``: C-ECHO a peer, like DCMTK's echoscu."""

from __future__ import annotations

import argparse
import logging
import time

import anyio

from dicomnet.cli.common import (
    add_ae_options,
    add_client_options,
    add_logging_options,
    connection_failure,
    fail,
    open_association,
    quiet,
    response_text,
)
from dicomnet.dimse import StatusCategory, category, describe
from dicomnet.errors import DicomNetError
from dicomnet.services.verification import echo_response

log = logging.getLogger("dicomnet.cli")


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "echo",
        help="verify a peer with C-ECHO",
        description="Open an association to HOST:PORT, send C-ECHO (Verification SOP "
                    "Class) and release. Exits 0 when every echo succeeded, 1 otherwise "
                    "(refused connection, rejected or aborted association, timeout, or a "
                    "non-success status).",
        epilog="example: dicomnet echo -aec STORESCP 127.0.0.1 11112 --repeat 5",
    )
    parser.add_argument("host", help="peer host name or address")
    parser.add_argument("port", type=int, help="peer TCP port")
    add_ae_options(parser, calling_default="ECHOSCU")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="send N C-ECHO requests on the association (default 1)")
    add_client_options(parser)
    add_logging_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        return fail("--repeat must be at least 1", 2)
    try:
        return anyio.run(_echo, args)
    except (DicomNetError, OSError) as exc:
        return connection_failure(args, exc)


async def _echo(args: argparse.Namespace) -> int:
    failures = 0
    async with open_association(args) as association:
        for number in range(1, args.repeat + 1):
            started = time.perf_counter()
            response = await echo_response(association)
            elapsed = (time.perf_counter() - started) * 1000
            if category(response.status) == StatusCategory.SUCCESS:
                log.info("C-ECHO %d: %s (%.1f ms)", number,
                         describe(response.status, "verification"), elapsed)
            else:
                failures += 1
                log.error("C-ECHO %d: %s", number, response_text(response, "verification"))
    if failures:
        return fail(f"{failures} of {args.repeat} C-ECHO requests failed")
    if not quiet(args):
        print(f"C-ECHO to {args.aec} at {args.host}:{args.port}: success"
              + (f" ({args.repeat} times)" if args.repeat > 1 else ""))
    return 0
