"""``dicomnet find``, ``get`` and ``move``: Query/Retrieve SCU, like DCMTK's findscu,
getscu and movescu."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from dicomnet.cli.progress import RetrieveBar, add_progress_option, wanted
from dicomnet.cli.query_dataset import build_query, read_query_file
from dicomnet.errors import DicomNetError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.association import IncomingRequest
    from dicomnet.cli.query_keys import QueryKeys

log = logging.getLogger("dicomnet.cli")

_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")

def _add_common(parser: argparse.ArgumentParser, *, models: tuple[str, ...]) -> None:
    parser.add_argument("host", help="peer host name or address")
    parser.add_argument("port", type=int, help="peer TCP port")
    parser.add_argument("-k", "--key", action="append", default=[], metavar="KEY=VALUE",
                        help="a query key by keyword (PatientID=123) or tag "
                             "(0010,0020=123); an empty value asks for the attribute back; "
                             "inside a sequence as DCMTK writes it: "
                             "ScheduledProcedureStepSequence[0].Modality=CT or "
                             "(0040,0100)[0].(0008,0060)=CT; repeatable")
    parser.add_argument("-f", "--query-file", metavar="FILE",
                        help="start from the data set in this DICOM file (findscu's "
                             "query file); -k keys are applied on top of it")
    models_group = parser.add_argument_group("information model")
    models_group.add_argument("-m", "--model", choices=models, default="study",
                              help="information model (default study root)")
    # DCMTK's findscu/getscu/movescu spellings of the same choice.
    models_group.add_argument("-P", "--patient", dest="model", action="store_const",
                              const="patient", help="patient root (same as -m patient)")
    models_group.add_argument("-S", "--study", dest="model", action="store_const",
                              const="study", help="study root (same as -m study)")
    if "worklist" in models:
        models_group.add_argument("-W", "--worklist", dest="model", action="store_const",
                                  const="worklist",
                                  help="modality worklist (same as -m worklist)")
    parser.add_argument("-L", "--level", choices=_LEVELS, type=str.upper, default=None,
                        help="Query/Retrieve Level (default STUDY; none for worklist)")
    add_ae_options(parser, calling_default="DICOMNET")


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    find = subparsers.add_parser(
        "find", help="query a peer with C-FIND",
        description="Send a C-FIND query and print the matches: each as '# match N' "
                    "and a line per element ((gggg,eeee) name VR: value), or as one "
                    "DICOM JSON object per line with --json. Exits 0 when the query "
                    "completes, 1 on failure.",
        epilog="example: dicomnet find -aec ARCHIVE 127.0.0.1 11112 -L STUDY "
               "-k PatientID=123 -k StudyDate= -k StudyInstanceUID=")
    _add_common(find, models=("patient", "study", "worklist"))
    find.add_argument("--json", action="store_true",
                      help="print each match as DICOM JSON (PS3.18 Annex F)")
    add_client_options(find)
    add_logging_options(find)
    find.set_defaults(run=run_find)

    get = subparsers.add_parser(
        "get", help="retrieve with C-GET into a folder",
        description="Send a C-GET; the instances come back on the same association and "
                    "are written as Part 10 files (their data sets as received) into "
                    "the output folder. Exits 1 if any sub-operation failed.",
        epilog="example: dicomnet get -aec ARCHIVE 127.0.0.1 11112 -L STUDY "
               "-k StudyInstanceUID=1.2.3 -o ./retrieved")
    _add_common(get, models=("patient", "study"))
    get.add_argument("-o", "-od", "--output", "--output-directory", default=".",
                     metavar="DIR",
                     help="folder for the retrieved files (default: current folder)")
    _add_receive_options(get)
    add_progress_option(get)
    add_client_options(get)
    add_logging_options(get)
    get.set_defaults(run=run_get)

    move = subparsers.add_parser(
        "move", help="ask a peer to C-MOVE instances to an AE",
        description="Send a C-MOVE: the peer sends the matching instances to the "
                    "destination AE title (which it must know). Exits 1 if any "
                    "sub-operation failed or the move was refused.",
        epilog="example: dicomnet move -aec ARCHIVE 127.0.0.1 11112 -L STUDY "
               "-k StudyInstanceUID=1.2.3 --dest STORESCP")
    _add_common(move, models=("patient", "study"))
    move.add_argument("--dest", "-aem", "--move", dest="dest", required=True, metavar="AET",
                      help="the move destination's AE title")
    add_progress_option(move)
    add_client_options(move)
    add_logging_options(move)
    move.set_defaults(run=run_move)


def query_for(args: argparse.Namespace) -> Dataset:
    """The identifier of ``-f`` and ``-k`` (ValueError with the reason if one is wrong)."""
    base = read_query_file(args.query_file) if args.query_file else None
    return build_query(args.key, args.level, args.model, base)


def run_find(args: argparse.Namespace) -> int:
    from dicomnet.cli.query_keys import parse_keys

    def build() -> QueryKeys | Dataset:
        if args.query_file:  # a file's data set is pydicom's to read
            return query_for(args)
        return parse_keys(args.key, args.level, args.model) or query_for(args)

    return _run(args, _find, build)


def run_get(args: argparse.Namespace) -> int:
    from dicomnet.services.receive_contexts import DEFAULT_COMPRESSED

    if args.compressed is None:
        args.compressed = list(DEFAULT_COMPRESSED)
    if args.passes < 0:
        return fail("--passes must be 0 (as many as it takes) or more", 2)
    try:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"cannot use {args.output} as the output folder: {exc}", 2)
    return _run(args, _get)


def run_move(args: argparse.Namespace) -> int:
    return _run(args, _move)


def _run(args: argparse.Namespace, action: Any, build: Any = None) -> int:
    try:
        query = build() if build is not None else query_for(args)
    except ValueError as exc:
        return fail(str(exc), 2)
    try:
        return int(anyio.run(action, args, query))
    except (DicomNetError, OSError) as exc:
        return connection_failure(args, exc)


async def _find(args: argparse.Namespace, keys: QueryKeys | Dataset) -> int:
    from dicomnet.cli.match_output import dataset_json, dataset_text
    from dicomnet.cli.query_keys import QueryKeys, encode_keys
    from dicomnet.dimse import StatusCategory, describe
    from dicomnet.services.query_retrieve import FIND_MODELS, find

    model_uid = FIND_MODELS[args.model]
    matches = 0
    final = None
    # Written from the identifier's bytes: no pydicom Dataset per match.
    render = dataset_json if args.json else dataset_text
    write = sys.stdout.write
    async with open_association(args, contexts=[model_uid]) as association:
        query: Dataset | bytes | None = None
        if isinstance(keys, QueryKeys):
            context = association.negotiated.find_context(model_uid)
            if context is not None:
                query = encode_keys(keys, context.transfer_syntax)
            if query is None:  # a syntax the light encoder does not write
                query = query_for(args)
        else:
            query = keys
        async for response in find(association, query, model=args.model):
            identifier = response.raw_dataset
            if identifier is not None and response.status in (0xFF00, 0xFF01):
                matches += 1
                text = render(identifier, response.context.transfer_syntax)
                write(f"{text}\n" if args.json else f"# match {matches}\n{text}\n")
            final = response
    assert final is not None  # request() raises rather than end without a final response
    log.info("C-FIND: %s", describe(final.status, "find"))
    if final.status_category == StatusCategory.FAILURE:
        return fail(f"C-FIND failed: {response_text(final, 'find')}")
    if not quiet(args):
        print(f"{matches} match{'es' if matches != 1 else ''}", file=sys.stderr)
    return 0


def _report(final: Any, operation: str, args: argparse.Namespace,
            tally: _Tally | None = None) -> int:
    from dicomnet.dimse import StatusCategory

    message = final.message
    completed = message.number_of_completed_suboperations or 0
    failed = message.number_of_failed_suboperations or 0
    warning = message.number_of_warning_suboperations or 0
    if tally is not None:
        completed, failed, warning = tally.completed, tally.missing, tally.warning
    service = operation.lower().removeprefix("c-")
    line = (f"{operation}: {response_text(final, service)}; {completed} completed, "
            f"{failed} failed, {warning} warning")
    refused = final.status_category in (StatusCategory.FAILURE, StatusCategory.CANCEL) \
        and (tally is None or tally.refused)
    if refused or failed:
        return fail(line)
    if not quiet(args):
        print(line, file=sys.stderr)
    return 0


def _report_ended(operation: str, error: DicomNetError, last: Any,
                  kept: list[int] | None = None) -> int:
    """What a retrieve did before its association ended: the instances received (C-GET),
    and the peer's last counts of sub-operations completed, failed and remaining (PS3.4
    C.4.2.1.5, C.4.3.1.5): the remaining ones were never sent."""
    print(f"E: {error}", file=sys.stderr)
    parts = [] if kept is None else [f"{kept[0]} received, {kept[1]} refused here"]
    message = getattr(last, "message", None)
    if message is None:
        parts.append("the peer reported no sub-operation")
    else:
        parts.append(f"{message.number_of_completed_suboperations or 0} completed, "
                     f"{message.number_of_failed_suboperations or 0} failed, "
                     f"{message.number_of_warning_suboperations or 0} warning, "
                     f"{message.number_of_remaining_suboperations or 0} never sent "
                     "(the peer's last counts)")
    print(f"{operation} ended before it was complete: {'; '.join(parts)}", file=sys.stderr)
    return 1


def _add_receive_options(parser: argparse.ArgumentParser) -> None:
    """How ``get`` proposes the storage contexts the instances come back on."""
    group = parser.add_argument_group(
        "storage contexts",
        "Each storage SOP class is proposed with an uncompressed context and one "
        "context per compressed transfer syntax (the peer picks one syntax per "
        "context, so this lets it send each instance as it holds it). The classes "
        "come from pydicom's dictionary, most common first; those that do not fit "
        "one association are proposed on further ones, while instances are missing.")
    group.add_argument("--propose", dest="compressed", action="append",
                       type=_compressed_syntax, metavar="TS",
                       help="a compressed transfer syntax to propose a context for, by "
                            "name (jpeg-baseline, jpeg-lossless-sv1, j2k-lossless, j2k, "
                            "jpeg-ls-lossless, rle, deflated, htj2k, ...) or UID; "
                            "repeatable; replaces the default list")
    group.add_argument("--propose-uncompressed", dest="compressed", action="store_const",
                       const=[], help="propose uncompressed syntaxes only: the peer "
                                      "decompresses (DCMTK getscu's default)")
    group.add_argument("--storage-class", action="append", default=[], metavar="UID",
                       type=_uid_argument,
                       help="a storage SOP class to propose first (a private one, or one "
                            "to make sure of); repeatable")
    group.add_argument("--passes", type=int, default=0, metavar="N",
                       help="at most N associations (C-GETs) for the classes that do "
                            "not fit one (default 0: as many as it takes)")
    parser.set_defaults(compressed=None)


def _compressed_syntax(text: str) -> str:
    from dicomnet.services.receive_contexts import compressed_syntax

    try:
        return compressed_syntax(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _uid_argument(text: str) -> str:
    from dicomnet.acse.limits import check_uid

    try:
        return check_uid(text.strip(), "storage SOP class")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def _get(args: argparse.Namespace, query: Dataset) -> int:
    from dicomnet.services.query_retrieve import GET_MODELS, get
    from dicomnet.services.receive_contexts import storage_context_batches
    from dicomnet.services.storage import answer_store

    output = Path(args.output)  # created by run_get
    kept = [0, 0]  # instances written, instances refused

    bar = RetrieveBar(wanted(args), bytes_received=True)

    async def keep(request: IncomingRequest) -> int:
        status = _write_instance(request, output)
        kept[status != 0] += 1
        if status == 0 and request.raw_dataset is not None:
            bar.received += len(request.raw_dataset)
        return status

    async def on_request(request: IncomingRequest) -> None:
        await answer_store(request, keep)

    model_uid = GET_MODELS[args.model]
    batches = storage_context_batches(compressed=args.compressed,
                                      extra_classes=args.storage_class, limit=127)
    passes = min(len(batches), args.passes or len(batches))
    tally = None
    for number, batch in enumerate(batches[:passes], start=1):
        if number > 1:
            # The storage classes did not all fit one association (PS3.8 §9.3.2.2):
            # ask again, proposing the next ones; what came already is not proposed.
            log.info("C-GET pass %d of at most %d: %d instances not received yet; "
                     "proposing %d more storage contexts", number, passes,
                     tally.missing if tally else 0, len(batch))
        roles = {sop_class: (True, True) for sop_class, _syntaxes in batch}
        final = None
        try:
            async with open_association(args, contexts=[model_uid, *batch], roles=roles,
                                        on_request=on_request) as association:
                async for response in get(association, query, model=args.model):
                    final = response
                    bar.update(response.message)
        except DicomNetError as exc:
            bar.close()
            if final is None and tally is None and not any(kept):
                raise  # nothing happened: the error alone says it
            return _report_ended("C-GET", exc, final, kept)
        bar.close()
        assert final is not None
        tally = _Tally.after(tally, final)
        if tally.missing == 0 or tally.refused:
            break
    assert tally is not None
    return _report(tally.final, "C-GET", args, tally)


class _Tally:
    """Sub-operation counts over the passes of a C-GET: each pass receives the
    instances of the classes it proposed, the others fail there."""

    def __init__(self, final: Any, total: int, completed: int, warning: int) -> None:
        self.final = final
        self.total = total
        self.completed = completed
        self.warning = warning

    @classmethod
    def after(cls, previous: _Tally | None, final: Any) -> _Tally:
        message = final.message
        completed = message.number_of_completed_suboperations or 0
        failed = message.number_of_failed_suboperations or 0
        warning = message.number_of_warning_suboperations or 0
        if previous is None:
            return cls(final, completed + failed + warning, completed, warning)
        return cls(final, previous.total, previous.completed + completed,
                   previous.warning + warning)

    @property
    def missing(self) -> int:
        return max(0, self.total - self.completed - self.warning)

    @property
    def refused(self) -> bool:
        """A final status that refused the retrieve itself: asking again with other
        contexts will not change it (PS3.4 C.4.3.1.4: A7xx, A9xx, Cxxx). A failure that
        counts no sub-operation at all, failed or done, is one: peers send the counts
        absent or as zeros."""
        from dicomnet.dimse import StatusCategory

        message = self.final.message
        counted = sum(getattr(message, name) or 0 for name in (
            "number_of_failed_suboperations", "number_of_completed_suboperations",
            "number_of_warning_suboperations"))
        return self.final.status_category == StatusCategory.FAILURE and counted == 0


def _write_instance(request: IncomingRequest, folder: Path) -> int:
    """Write a received instance as a Part 10 file, atomically (temporary name, then
    rename): the data set exactly as received."""
    from dicomnet.archive.paths import safe_component
    from dicomnet.part10 import file_meta_bytes

    message: Any = request.message
    if request.raw_dataset is None:
        return 0xC000
    target = folder / (safe_component(message.affected_sop_instance_uid) + ".dcm")
    temporary = folder / f".{secrets.token_hex(8)}.part"
    try:
        with open(temporary, "wb") as fp:
            fp.write(file_meta_bytes(sop_class_uid=message.affected_sop_class_uid,
                                     sop_instance_uid=message.affected_sop_instance_uid,
                                     transfer_syntax=request.context.transfer_syntax,
                                     source_ae_title=request.association.called_ae_title))
            fp.write(request.raw_dataset)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        log.error("cannot write %s: %s", target, exc)
        return 0xA700
    log.info("received %s", target)
    return 0


async def _move(args: argparse.Namespace, query: Dataset) -> int:
    from dicomnet.services.query_retrieve import MOVE_MODELS, move

    model_uid = MOVE_MODELS[args.model]
    final = None
    bar = RetrieveBar(wanted(args), bytes_received=False)
    try:
        async with open_association(args, contexts=[model_uid]) as association:
            async for response in move(association, query, destination=args.dest,
                                       model=args.model):
                final = response
                bar.update(response.message)
    except DicomNetError as exc:
        bar.close()
        if final is None:
            raise  # nothing happened: the error alone says it
        return _report_ended("C-MOVE", exc, final)
    bar.close()
    assert final is not None
    return _report(final, "C-MOVE", args)
