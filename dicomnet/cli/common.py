"""What every subcommand shares: logging flags, AE title and timeout options.

Option spellings follow DCMTK's tools where they exist (``-aet``, ``-aec``, ``-v``,
``-d``, ``-to``, ``-ta``, ``-td``) so that muscle memory carries over; each also has a
readable long form.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from dicomnet.cli.security import (
    add_client_tls_options,
    add_identity_options,
    client_identity,
    client_ssl_context,
)
from dicomnet.config import Timeouts

if TYPE_CHECKING:
    from dicomnet.service_methods import Association


def add_logging_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="print what happens: associations, messages (INFO)")
    group.add_argument("-d", "--debug", action="store_true",
                       help="print everything, PDUs included (DEBUG)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print errors only")


@contextmanager
def command_logging(args: argparse.Namespace) -> Iterator[None]:
    """DCMTK-style lines (``I: ...``, ``W: ...``) on stderr while a command runs; then
    the ``dicomnet`` logger and ``warnings.showwarning`` as they were, so that
    :func:`~dicomnet.cli.main.main` called from Python (a test, an application) leaves
    no handler on a stream that may be closed by then, and its logs propagate again."""
    root = logging.getLogger("dicomnet")
    saved = (root.handlers[:], root.level, root.propagate, warnings.showwarning)
    setup_logging(args)
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.flush()
        root.handlers[:], level, root.propagate, warnings.showwarning = saved
        root.setLevel(level)


def setup_logging(args: argparse.Namespace, tag: str = "") -> None:
    """DCMTK-style lines (``I: ...``, ``W: ...``) on stderr, the ``tag`` (if any) after
    the level: ``I: [worker 2] ...``, where processes share stderr."""
    level = logging.WARNING
    if args.verbose:
        level = logging.INFO
    if args.debug:
        level = logging.DEBUG
    if args.quiet:  # also silences the summary lines: see quiet()
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    tag = tag.replace("%", "%%") + " " if tag else ""
    handler.setFormatter(logging.Formatter(f"%(levelname).1s: {tag}%(message)s"))
    root = logging.getLogger("dicomnet")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    warnings.showwarning = _log_warning


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _log_warning(message: Warning | str, category: type[Warning], filename: str,  # noqa: PLR0917 - warnings.showwarning's signature
                 lineno: int, file: object = None, line: str | None = None) -> None:
    """A library's warning (pydicom's, about a value it read or wrote) as one ``W:``
    line, not Python's two-line ``UserWarning`` dump with a source path.

    pydicom quotes the offending value, which may be a patient's; the WARNING line
    leaves the quoted parts out (and escapes the rest), DEBUG has the whole text."""
    from dicomnet.logtext import peer_text

    text = str(message)
    source = "pydicom" if "pydicom" in filename else category.__name__
    log = logging.getLogger("dicomnet.warnings")
    log.warning("%s: %s", source, peer_text(_QUOTED.sub("'...'", text), 200))
    log.debug("%s: %s", source, peer_text(text, 200))


def add_ae_options(parser: argparse.ArgumentParser, *, calling_default: str,
                   called_default: str = "ANY-SCP") -> None:
    group = parser.add_argument_group("application entity titles")
    group.add_argument("-aet", "--aet", "--calling-aet", "--aetitle", dest="aet",
                       default=calling_default, metavar="AET",
                       help=f"our (calling) AE title (default {calling_default})")
    group.add_argument("-aec", "--aec", "--called-aet", "--call", dest="aec",
                       default=called_default, metavar="AET",
                       help=f"the peer's (called) AE title (default {called_default})")


def add_timeout_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("timeouts (seconds)")
    group.add_argument("-to", "--timeout", type=float, default=30.0, metavar="S",
                       help="TCP connect timeout (default 30)")
    group.add_argument("-ta", "--acse-timeout", type=float, default=30.0, metavar="S",
                       help="wait this long for association answers (default 30)")
    group.add_argument("-td", "--dimse-timeout", type=float, default=None, metavar="S",
                       help="wait this long for each DIMSE response (default: forever)")
    group.add_argument("--network-timeout", type=float, default=60.0, metavar="S",
                       help="abort after this long without data from the peer (default 60)")


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """What every client subcommand takes to reach a peer: timeouts, TLS, identity."""
    add_timeout_options(parser)
    add_client_tls_options(parser)
    add_identity_options(parser)


@asynccontextmanager
async def open_association(args: argparse.Namespace, **extra: Any
                           ) -> AsyncIterator[Association]:
    """``connect()`` to ``args.host:args.port`` with the AE titles, timeouts, TLS and
    user identity options of :func:`add_ae_options` and :func:`add_client_options`."""
    from dicomnet.client import connect
    from dicomnet.errors import NegotiationError

    identity = client_identity(args)
    args.ssl_context = client_ssl_context(args)  # kept to explain a TLS failure
    async with connect(args.host, args.port, calling_ae=args.aet, called_ae=args.aec,
                       timeouts=timeouts_from(args), ssl=args.ssl_context,
                       user_identity=identity, **extra) as association:
        if identity is not None and identity.positive_response_requested \
                and association.negotiated.user_identity_response is None:
            # PS3.7 D.3.3.7: without the asked-for response, the requestor decides; the
            # user asked for it (--identity-response), so this is a failure.
            raise NegotiationError("the peer accepted the association without the "
                                   "positive user identity response asked for")
        yield association


def timeouts_from(args: argparse.Namespace) -> Timeouts:
    return Timeouts(connect=args.timeout, acse=args.acse_timeout, dimse=args.dimse_timeout,
                    network=args.network_timeout)


def quiet(args: argparse.Namespace) -> bool:
    """-q: errors only, so no summary or progress lines either (the data a command
    was asked for, such as find's matches on standard output, is still printed)."""
    return bool(getattr(args, "quiet", False))


def fail(message: str, code: int = 1) -> int:
    """Print a one-line error the way DCMTK does, and return the exit status."""
    print(f"E: {message}", file=sys.stderr)
    return code


def connection_failure(args: argparse.Namespace, exc: Exception) -> int:
    """The one-line error for a client whose association failed (a DicomNetError or
    an OSError), in TLS terms when TLS was the cause; exit status 1."""
    from dicomnet.cli.tls_errors import explain_tls_failure
    from dicomnet.errors import DicomNetError

    explained = explain_tls_failure(exc, args, getattr(args, "ssl_context", None))
    if explained is not None:
        return fail(explained)
    if isinstance(exc, DicomNetError):
        return fail(str(exc))
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return fail(f"cannot connect to {args.host}:{args.port}: {strerror or exc}")


def status_text(status: int, service: str, comment: object = None) -> str:
    """``0xA900 Failed: Identifier does not match SOP Class: <comment>``: a status's
    meaning and, when the peer sent one, its Error Comment (escaped: it is the
    peer's text, printed on our terminal)."""
    from dicomnet.dimse import describe
    from dicomnet.dimse.comment import error_comment

    text = describe(status, service)
    return f"{text}: {error_comment(str(comment))}" if comment else text


def response_text(response: Any, service: str) -> str:
    """:func:`status_text` of a response (an error comment taken from its message)."""
    return status_text(response.status, service,
                       getattr(response.message, "error_comment", None))
