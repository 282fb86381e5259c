"""``dicomnet serve``: run a DICOM server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import anyio

from dicomnet.cli.common import add_logging_options, fail
from dicomnet.cli.security import OptionError, add_server_security_options, server_ssl_context
from dicomnet.cli.serve_workers import Serving, add_workers_option, run_workers
from dicomnet.config import DEFAULT_MAX_PDU_LENGTH, MAX_IDENTIFIER_SIZE, Timeouts

if TYPE_CHECKING:
    from dicomnet.archive import Archive
    from dicomnet.server import Server

log = logging.getLogger("dicomnet.cli")


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a small DICOM archive: storage, query/retrieve, SQLite index",
        description="Listen for associations and answer them until interrupted: C-ECHO, "
                    "and C-STORE for every storage SOP class (compressed transfer syntaxes "
                    "included), filing each instance atomically under DATA/<patient>/"
                    "<study>/<series>/<instance>.dcm and recording it in DATA/index.sqlite; "
                    "C-FIND, C-GET and C-MOVE (Patient and Study Root) from that index, "
                    "moving to the destinations given with --peer; Storage Commitment "
                    "(Push Model, SCP) of the instances it holds; Modality Performed "
                    "Procedure Step (SCP), recorded in the index; Modality Worklist "
                    "C-FIND over the items of --worklist DIR. "
                    "Ctrl-C or SIGTERM stops accepting, lets running associations finish "
                    "within the grace period, then aborts the rest; a second signal stops "
                    "at once.",
        epilog="example: dicomnet serve --port 11112 --aet DICOMNET --data ./archive -v",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")
    parser.add_argument("-aet", "--aet", default="DICOMNET", metavar="AET",
                        help="our AE title; peers must call it (default DICOMNET)")
    parser.add_argument("--data", default="dicomnet-data", metavar="DIR",
                        help="archive folder, created if needed (default ./dicomnet-data)")
    parser.add_argument("--index", metavar="URL", default=os.environ.get("DICOMNET_INDEX"),
                        help="keep the index in PostgreSQL (postgresql://USER[:PASSWORD]@"
                             "HOST:PORT/DB; libpq's PG* variables fill what the URL "
                             "leaves out; or set DICOMNET_INDEX) instead of DATA/"
                             "index.sqlite: several servers, each with the same --data "
                             "folder (shared), then serve one archive; needs "
                             "'pip install dicomnet[postgresql]'")
    parser.add_argument("--no-store", action="store_true",
                        help="answer C-ECHO only; no storage, no query/retrieve")
    parser.add_argument("--peer", action="append", default=[], metavar="AET=HOST:PORT[:tls]",
                        help="a C-MOVE destination, or a storage commitment SCU to "
                             "report to on a new association; repeatable. With ':tls' "
                             "(e.g. PACS=10.0.0.7:2762:tls) the association is opened "
                             "with TLS, presenting --tls-cert/--tls-key as our client "
                             "certificate (it needs clientAuth: 'dicomnet tls init "
                             "--dual-use') and verifying the peer against --tls-ca, or "
                             "the system's CAs without it")
    parser.add_argument("--worklist", metavar="DIR",
                        help="answer Modality Worklist C-FIND with the items in DIR "
                             "(*.dcm, *.wl DICOM files, *.json DICOM JSON), re-read when "
                             "they change")
    parser.add_argument("--max-operations", type=int, default=8, metavar="N",
                        help="asynchronous operations window offered to peers that ask "
                             "(PS3.7 D.3.3.3; default 8, 1 = synchronous)")
    parser.add_argument("--strict-hierarchy", action="store_true",
                        help="refuse (A900) an IMAGE query naming its study but not its "
                             "series, as PS3.4 C.4.1.2.1 asks; by default it is answered")
    parser.add_argument("--any-aet", action="store_true",
                        help="accept associations whatever called AE title they use")
    parser.add_argument("--max-associations", type=int, default=64, metavar="N",
                        help="concurrent associations (connections whose A-ASSOCIATE-RQ "
                             "has arrived whole); more are rejected 'local limit "
                             "exceeded' (default 64)")
    parser.add_argument("--max-associations-per-address", type=int, metavar="N",
                        help="concurrent associations from one IP address (IPv6: one "
                             "/64); more are rejected like the above (default: no limit, "
                             "as one gateway may rightly hold many)")
    parser.add_argument("--max-pending", type=int, default=256, metavar="N",
                        help="connections not associated yet (in the TLS handshake or "
                             "still sending their A-ASSOCIATE-RQ); at the limit the "
                             "oldest is closed to make room, so connections that send "
                             "nothing cannot lock real peers out (default 256)")
    parser.add_argument("--max-pending-per-address", type=int, default=32, metavar="N",
                        help="the same from one IP address (IPv6: one /64), its oldest "
                             "closed first; raise it behind a proxy, where every peer "
                             "has the proxy's address (default 32)")
    parser.add_argument("--associate-deadline", type=float, default=10.0, metavar="S",
                        help="close a connection whose whole A-ASSOCIATE-RQ has not "
                             "arrived this long after the accept, TLS handshake "
                             "included; one deadline, not renewed by each byte "
                             "(default 10)")
    parser.add_argument("--handshake-timeout", type=float, default=5.0, metavar="S",
                        help="with TLS, close a connection whose handshake is not done "
                             "this long after the accept (default 5)")
    parser.add_argument("--max-dataset-size", type=int, default=16 << 30, metavar="BYTES",
                        help="refuse (A700) a data set larger than this; 0 for no limit "
                             "(default 16 GiB)")
    parser.add_argument("--max-identifier-size", type=int, default=MAX_IDENTIFIER_SIZE,
                        metavar="BYTES",
                        help="refuse a request other than a C-STORE whose data set (a "
                             "query identifier, N-SET/N-ACTION/N-EVENT-REPORT "
                             "information: held in memory whole) is larger than this "
                             "(C-FIND A700, C-GET/C-MOVE A701, others 0213); 0 for no "
                             f"limit (default {MAX_IDENTIFIER_SIZE >> 20} MiB)")
    parser.add_argument("--duplicates", choices=("replace", "keep", "reject"),
                        default="replace",
                        help="an instance whose SOP Instance UID the archive holds: "
                             "'replace' files the new copy and updates the index from it "
                             "(a Patient ID corrected at the modality moves the study; "
                             "default), 'keep' keeps the first copy and answers Success, "
                             "'reject' refuses the new copy (status 0111 Duplicate SOP "
                             "Instance, with an Error Comment)")
    parser.add_argument("--accept-damaged", action="store_true",
                        help="file a data set that is truncated or malformed (logged as "
                             "damaged) instead of refusing it (C201/C202)")
    parser.add_argument("--max-pdu", type=int, default=DEFAULT_MAX_PDU_LENGTH, metavar="BYTES",
                        help=f"largest P-DATA PDU we accept (default {DEFAULT_MAX_PDU_LENGTH})")
    parser.add_argument("--grace", type=float, default=10.0, metavar="S",
                        help="on shutdown, wait this long for running associations "
                             "(default 10)")
    parser.add_argument("--acse-timeout", type=float, default=30.0, metavar="S",
                        help="association negotiation/release timeout (default 30)")
    parser.add_argument("--network-timeout", type=float, default=60.0, metavar="S",
                        help="drop a peer silent for this long (default 60)")
    add_workers_option(parser)
    add_server_security_options(parser)
    add_logging_options(parser)
    parser.set_defaults(run=run)


def configure_peers(args: argparse.Namespace, server: Server
                    ) -> Callable[[str], tuple[str, int] | None]:
    """The ``--peer`` table: its lookup for the services, and ``server.connect`` bound
    to open TLS to the peers marked ``:tls`` (with our certificate as the client's)."""
    from dicomnet.cli.serve_peers import parse_peers, peer_addresses, peer_connect

    try:
        table = parse_peers(args.peer)
    except ValueError as exc:
        raise OptionError(str(exc)) from exc
    if any(peer.tls for peer in table.values()):
        from dicomnet.tls import client_context

        if args.tls_key and not args.tls_cert:
            raise OptionError("--tls-key needs --tls-cert")
        try:
            context = client_context(cafile=args.tls_ca, certfile=args.tls_cert,
                                     keyfile=args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise OptionError(f"cannot set up TLS for the --peer associations: {exc}"
                              ) from exc
        server.connect = peer_connect(table, context, server.connect)
    return peer_addresses(table)


def make_server(args: argparse.Namespace) -> Server:
    """The server ``dicomnet serve`` runs for these arguments, before storage is
    installed (also used to generate the conformance statement)."""
    # Imported here, not at the top: every `dicomnet` command builds this module's
    # parser, and only `serve` needs the server (importing it slows a client's start-up).
    from dicomnet.server import Server

    authenticate = None
    if args.users:
        from dicomnet.user_identity import PasscodeFile

        try:
            authenticate = PasscodeFile(args.users)
        except (OSError, ValueError) as exc:
            raise OptionError(f"--users {args.users}: {exc}") from exc
    for option in ("max_pending", "max_pending_per_address"):
        if getattr(args, option) < 1:
            raise OptionError(f"--{option.replace('_', '-')} must be at least 1")
    return Server(
        args.aet,
        require_called_ae_title=not args.any_aet,
        allowed_calling_ae_titles=args.allow_aet,
        allowed_addresses=args.allow_address,
        allowed_certificate_subjects=args.allow_subject,
        authenticate=authenticate,
        max_associations=args.max_associations,
        max_associations_per_address=args.max_associations_per_address,
        max_pending=args.max_pending,
        max_pending_per_address=args.max_pending_per_address,
        associate_deadline=args.associate_deadline,
        handshake_timeout=args.handshake_timeout,
        max_pdu_length=args.max_pdu,
        max_operations=args.max_operations,
        max_dataset_size=args.max_dataset_size or None,
        max_identifier_size=args.max_identifier_size or None,
        accept_damaged=args.accept_damaged,
        # The sender knows what it holds: taking its first choice files data sets as
        # they are, without conversion (byte for byte).
        prefer_requestor_order=True,
        timeouts=Timeouts(acse=args.acse_timeout, network=args.network_timeout),
    )


def run(args: argparse.Namespace) -> int:
    if args.workers > 1:
        return run_workers(args, Serving(build=build, serve=serve_until_signalled,
                                         listening_line=listening_line,
                                         cannot_listen=cannot_listen))
    built = build(args)
    if isinstance(built, int):
        return built
    server, archive, ssl_context = built
    try:
        anyio.run(_serve, server, args, archive, ssl_context)
    except (OSError, BaseExceptionGroup) as exc:
        # The listener fails inside the task group, so a busy port comes wrapped.
        error = _only_os_error(exc)
        if error is None:
            raise
        return cannot_listen(args, error)
    finally:
        if archive is not None:
            archive.close()
    return 0


def build(args: argparse.Namespace, *, sweep: bool = True
          ) -> tuple[Server, Archive | None, ssl.SSLContext | None] | int:
    """The server ``dicomnet serve`` runs, with its archive installed, or the exit
    status of the error printed instead. ``sweep=False`` leaves the archive's
    interrupted transfers alone (a worker process: see serve_workers)."""
    from dicomnet.archive import Archive, install  # pydicom, only when serving

    try:
        server = make_server(args)
    except ValueError as exc:  # an --allow-* rule that does not parse
        raise OptionError(str(exc)) from exc
    ssl_context = server_ssl_context(args)
    destinations = configure_peers(args, server)
    archive: Archive | None = None
    if not args.no_store:
        from dicomnet.archive.index import OPEN_ERRORS

        try:
            archive = Archive(args.data, duplicates=args.duplicates, index=args.index,
                              sweep=sweep)
        except OSError as exc:
            return fail(f"cannot use {args.data} as the archive folder: {exc}")
        except OPEN_ERRORS as exc:
            # The message names host:port and database, never the password.
            return fail(f"cannot open the index: {exc}")
        try:
            install(server, archive, destinations, worklist=args.worklist,
                    strict_hierarchy=args.strict_hierarchy)
        except NotADirectoryError as exc:
            archive.close()
            return fail(str(exc))
    return server, archive, ssl_context


def cannot_listen(args: argparse.Namespace, error: OSError) -> int:
    return fail(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}", 2)


def _only_os_error(exc: BaseException) -> OSError | None:
    """The OSError ``exc`` is, or the one a group of exceptions holds alone."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, OSError) else None


async def _serve(server: Server, args: argparse.Namespace, archive: Archive | None,
                 ssl_context: ssl.SSLContext | None) -> None:
    def announce(port: int) -> None:
        print(listening_line(args, port, archive, ssl_context), flush=True)

    await serve_until_signalled(server, args, ssl_context, announce)


def listening_line(args: argparse.Namespace, port: int, archive: Archive | None,
                   ssl_context: ssl.SSLContext | None, workers: str = "") -> str:
    where = "" if archive is None else f", storing into {archive.folder}" + (
        f" ({archive.index.describe()})" if args.index else "")
    tls = " with TLS" if ssl_context is not None else ""
    return (f"dicomnet serve: {args.aet} listening on {args.host}:{port}{tls}{where}"
            f"{workers} (Ctrl-C to stop)")


async def serve_until_signalled(
        server: Server, args: argparse.Namespace, ssl_context: ssl.SSLContext | None,
        announce: Callable[[int], None], *, sockets: Sequence[socket.socket] = (),
        signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
        stop_now: tuple[signal.Signals, ...] = ()) -> None:
    """Serve until one of ``signals``, then shut down gracefully; a second one stops
    at once, unless there are ``stop_now`` signals: then only those do, and a graceful
    signal again changes nothing (a worker of serve --workers may get SIGTERM both
    from its parent and from whoever signalled the whole group). ``announce`` gets the
    port once the server listens."""
    with anyio.open_signal_receiver(*signals, *stop_now) as received:  # before announce
        async with anyio.create_task_group() as tg:
            port = await tg.start(partial(server.serve, args.host, args.port,
                                          ssl=ssl_context, sockets=sockets))
            announce(port)
            async for signum in received:
                stopping = server.port is None or server._accepting is None \
                    or server._accepting.cancel_called
                if signum in stop_now or (stopping and not stop_now):
                    log.warning("%s: stopping now", "second signal" if stopping
                                else signal.Signals(signum).name)
                    tg.cancel_scope.cancel()
                    return
                if stopping:
                    continue
                log.warning("%s received: shutting down (grace %g s)",
                            signal.Signals(signum).name, args.grace)
                server.shutdown(args.grace)
                tg.start_soon(_stop_listening_for_signals, server, tg.cancel_scope)


async def _stop_listening_for_signals(server: Server, scope: anyio.CancelScope) -> None:
    await server.wait_stopped()
    scope.cancel()
