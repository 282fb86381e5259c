"""``dicomnet store``: send files and folders with C-STORE, like DCMTK's storescu."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import anyio

from dicomnet.cli import progress
from dicomnet.cli.common import (
    add_ae_options,
    add_client_options,
    add_logging_options,
    connection_failure,
    fail,
    open_association,
    status_text,
)
from dicomnet.cli.progress import human_size
from dicomnet.config import DEFAULT_MAX_PDU_LENGTH
from dicomnet.dimse import StatusCategory, category, describe
from dicomnet.errors import DicomNetError
from dicomnet.services.storage import contexts_for, find_files

log = logging.getLogger("dicomnet.cli")

#: PS3.8 §9.3.2.2: context IDs are odd numbers 1..255, so at most 128 per association.
_MAX_CONTEXTS = 128


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "store",
        help="send DICOM files with C-STORE",
        description="Send DICOM Part 10 files (and the files in folders) to a storage SCP. "
                    "The presentation contexts the files need are proposed; each file is "
                    "streamed from disk in its own transfer syntax when the peer accepts "
                    "it, else converted between the uncompressed syntaxes. Exits 0 when "
                    "every instance was stored (success or warning), 1 otherwise.",
        epilog="example: dicomnet store -aec STORESCP 127.0.0.1 11112 -r ./images",
        prefix_chars="-+",  # storescu's +sd and +r
    )
    parser.add_argument("host", help="peer host name or address")
    parser.add_argument("port", type=int, help="peer TCP port")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to send")
    parser.add_argument("-r", "+r", "--recursive", "--recurse", action="store_true",
                        help="descend into sub-folders of the folders given")
    parser.add_argument("+sd", "--scan-directories", action="store_true",
                        help="accepted for storescu's sake: folders are always scanned")
    add_ae_options(parser, calling_default="STORESCU")
    parser.add_argument("--max-pdu", "-pdu", type=int, default=DEFAULT_MAX_PDU_LENGTH,
                        metavar="BYTES", help="largest P-DATA PDU we accept "
                                              f"(default {DEFAULT_MAX_PDU_LENGTH})")
    progress.add_progress_option(parser)
    add_client_options(parser)
    add_logging_options(parser)
    parser.set_defaults(run=run)


@dataclass
class _Tally:
    total: int
    done: int = 0
    stored: int = 0
    warnings: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    bytes_sent: int = 0
    #: Decided once: asking the terminal costs a system call, between an answer and
    #: the next request.
    show_progress: bool = False


def run(args: argparse.Namespace) -> int:
    # The paths given, not the files found in folders: those were files when listed,
    # and asking again costs a system call per file before the first can be sent.
    missing = [given for given in args.paths
               if not (os.path.isdir(given) or os.path.isfile(given))]
    if missing:
        return fail(f"no such file: {missing[0]}", 2)
    files = find_files(args.paths, recursive=args.recursive)
    if not files:
        return fail("no files to send", 2)
    tally = _Tally(total=len(files), show_progress=progress.wanted(args))
    started = time.perf_counter()
    ended: str | None = None  # why the sending stopped before the last file
    try:
        anyio.run(_send_all, args, files, tally)
    except (DicomNetError, OSError) as exc:
        if tally.done == 0:  # nothing was tried: one line says it all (TLS named)
            if tally.show_progress:
                progress.end()
            return connection_failure(args, exc)
        ended = str(exc) if isinstance(exc, DicomNetError) \
            else f"connection lost: {exc.strerror or exc}"
    finally:
        if tally.show_progress:
            progress.end()
    elapsed = time.perf_counter() - started
    megabytes = tally.bytes_sent / 1e6
    # Files are answered in the order given: those after the last answer were not sent,
    # or sent without an answer before the association ended (the first of them).
    unsent = files[tally.done:] if ended is not None else []
    if ended is not None:
        print(f"E: {ended}", file=sys.stderr)
    if not (args.quiet and ended is None and not tally.failed
            and tally.stored == tally.total):
        print(f"{tally.stored} of {tally.total} instances stored"
              + (f" ({tally.warnings} with warnings)" if tally.warnings else "")
              + f", {len(tally.failed)} failed"
              + (f", {len(unsent)} not sent" if unsent else "")
              + f"; {megabytes:.1f} MB in {elapsed:.2f} s")
    for path, reason in tally.failed:
        print(f"E: {path}: {reason}", file=sys.stderr)
    for path in unsent:
        print(f"E: {path}: not sent (the association ended)", file=sys.stderr)
    return 1 if ended or tally.failed or tally.stored < tally.total else 0


def _batches(files: Sequence[Path]) -> list[tuple[list[Path], list[tuple[str, Sequence[str]]]]]:
    """Split the files into groups whose presentation contexts fit one association."""
    batches: list[tuple[list[Path], list[tuple[str, Sequence[str]]]]] = []
    current: list[Path] = []
    contexts: list[tuple[str, Sequence[str]]] = []
    for path in files:
        needed = contexts_for([path])
        merged = contexts + [c for c in needed if c not in contexts]
        if current and len(merged) > _MAX_CONTEXTS:
            batches.append((current, contexts))
            current, merged = [], list(needed)
        current.append(path)
        contexts = merged
    if current:
        batches.append((current, contexts))
    return batches


async def _send_all(args: argparse.Namespace, files: Sequence[Path], tally: _Tally) -> None:
    for batch, contexts in _batches(files):
        if not contexts:  # nothing readable in this batch
            for path in batch:
                tally.failed.append((path, "not a readable DICOM file"))
                tally.done += 1
            continue
        async with open_association(args, contexts=contexts, max_pdu_length=args.max_pdu
                                    ) as association, \
                aclosing(association.store_each(batch)) as results:
            async for item, status in results:
                path = cast(Path, item)
                if isinstance(status, Exception):
                    tally.failed.append((path, str(status)))
                else:
                    kind = category(status)
                    if kind == StatusCategory.SUCCESS:
                        tally.stored += 1
                    elif kind == StatusCategory.WARNING:
                        tally.stored += 1
                        tally.warnings += 1
                        log.warning("%s: %s", path, describe(status, "storage"))
                    else:
                        tally.failed.append((path, status_text(
                            status, "storage", getattr(status, "error_comment", None))))
                    if kind in (StatusCategory.SUCCESS, StatusCategory.WARNING):
                        tally.bytes_sent += path.stat().st_size
                        if log.isEnabledFor(logging.INFO):
                            log.info("stored %s: %s", path, describe(status, "storage"))
                tally.done += 1
                if tally.show_progress:
                    _progress(tally)


def _progress(tally: _Tally) -> None:
    """Files, and the bytes stored so far (a few big files move the bar slowly)."""
    progress.draw(tally.done, tally.total, "files", human_size(tally.bytes_sent)
                  + (f" ({len(tally.failed)} failed)" if tally.failed else ""))
