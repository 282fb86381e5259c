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
from dicomnet.cli.query_dataset import build_query, read_query_file
from dicomnet.errors import DicomNetError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicomnet.association import IncomingRequest
    from dicomnet.cli.query_keys import QueryKeys

log = logging.getLogger("dicomnet.cli")

_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")

#: Storage SOP classes a C-GET proposes to receive (PS3.4 B.5), each with an
#: uncompressed and a compressed context: the common modalities, within the 128
#: contexts an association holds.
COMMON_STORAGE = (
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX for processing
    "1.2.840.10008.5.1.4.1.1.1.2",  # MG for presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # MG for processing
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.3.1",  # US multi-frame
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.12.1",  # XA
    "1.2.840.10008.5.1.4.1.1.12.2",  # XRF
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.66",  # Raw Data
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
)
_UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2")
_COMPRESSED = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
               "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
               "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
               "1.2.840.10008.1.2.1.99")


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
    add_client_options(move)
    add_logging_options(move)
    move.set_defaults(run=run_move)


def query_for(args: argparse.Namespace) -> Dataset:
    """The identifier of ``-f`` and ``-k`` (ValueError with the reason if one is wrong)."""
    base = read_query_file(args.query_file) if args.query_file else None
    return build_query(args.key, args.level, args.model, base)


def _contexts_for_query(model_uid: str, *, storage: bool) -> list[Any]:
    contexts: list[Any] = [model_uid]
    if storage:
        for sop_class in COMMON_STORAGE:
            contexts.append((sop_class, list(_UNCOMPRESSED)))
            contexts.append((sop_class, list(_COMPRESSED)))
    return contexts


def run_find(args: argparse.Namespace) -> int:
    from dicomnet.cli.query_keys import parse_keys

    def build() -> QueryKeys | Dataset:
        if args.query_file:  # a file's data set is pydicom's to read
            return query_for(args)
        return parse_keys(args.key, args.level, args.model) or query_for(args)

    return _run(args, _find, build)


def run_get(args: argparse.Namespace) -> int:
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


def _report(final: Any, operation: str, args: argparse.Namespace) -> int:
    from dicomnet.dimse import StatusCategory

    message = final.message
    completed = message.number_of_completed_suboperations or 0
    failed = message.number_of_failed_suboperations or 0
    warning = message.number_of_warning_suboperations or 0
    service = operation.lower().removeprefix("c-")
    line = (f"{operation}: {response_text(final, service)}; {completed} completed, "
            f"{failed} failed, {warning} warning")
    if final.status_category in (StatusCategory.FAILURE, StatusCategory.CANCEL) or failed:
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


async def _get(args: argparse.Namespace, query: Dataset) -> int:
    from dicomnet.services.query_retrieve import GET_MODELS, get
    from dicomnet.services.storage import answer_store

    output = Path(args.output)  # created by run_get
    kept = [0, 0]  # instances written, instances refused

    async def keep(request: IncomingRequest) -> int:
        status = _write_instance(request, output)
        kept[status != 0] += 1
        return status

    async def on_request(request: IncomingRequest) -> None:
        await answer_store(request, keep)

    model_uid = GET_MODELS[args.model]
    roles = {sop_class: (True, True) for sop_class in COMMON_STORAGE}
    final = None
    try:
        async with open_association(args, contexts=_contexts_for_query(
                model_uid, storage=True), roles=roles, on_request=on_request) as association:
            async for response in get(association, query, model=args.model):
                final = response
    except DicomNetError as exc:
        if final is None and not any(kept):
            raise  # nothing happened: the error alone says it
        return _report_ended("C-GET", exc, final, kept)
    assert final is not None
    return _report(final, "C-GET", args)


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
    try:
        async with open_association(args, contexts=[model_uid]) as association:
            async for response in move(association, query, destination=args.dest,
                                       model=args.model):
                final = response
    except DicomNetError as exc:
        if final is None:
            raise  # nothing happened: the error alone says it
        return _report_ended("C-MOVE", exc, final)
    assert final is not None
    return _report(final, "C-MOVE", args)
