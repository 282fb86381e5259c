"""The storage group (``--store`` only: it leaves instances on the peer): generated
CT, MR and Secondary Capture instances stored in each uncompressed family the peer
accepts (PS3.4 Annex B), then looked up with C-FIND when the peer is a Q/R SCP too.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet.check.association_checks import accepted_syntaxes
from dicomnet.check.instances import make_instance, run_tag
from dicomnet.check.model import (
    Check,
    CheckContext,
    Result,
    RuleBrokenError,
    StoredInstance,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.probe import PeerEndedError, Probe, describe, request
from dicomnet.check.queries import image_identifier
from dicomnet.check.sop_classes import CT, FAMILIES, MR, SC, STUDY_FIND, UNCOMPRESSED
from dicomnet.dimse import CFindRQ, CFindRSP, CStoreRQ, CStoreRSP
from dicomnet.pdu import AAssociateAC
from dicomnet.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, storage_sop_classes, uid_name

#: Families every storage SCP could take without a codec, with short names.
STORED_SYNTAXES = {"1.2.840.10008.1.2": "Implicit VR LE",
                   "1.2.840.10008.1.2.1": "Explicit VR LE",
                   DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: "Deflated Explicit VR LE"}
_TAG = run_tag()


def _storage_check(name: str, sop_class: str) -> Check:
    @check("storage", name, f"C-STORE of generated {uid_name(sop_class)} instances",
           "PS3.4 B.2.3; PS3.7 9.3.1")
    async def store(ctx: CheckContext) -> Result:
        # One context per syntax, so the peer's choice is visible and each is used.
        rq = request(ctx.target, [(sop_class, [ts]) for ts in STORED_SYNTAXES])
        evidence: list[str] = []
        problems: list[str] = []
        stored = 0
        async with Probe(ctx.target) as probe:
            answer = await probe.associate(rq)
            if not isinstance(answer, AAssociateAC):
                return failed(f"a storage association was answered with {describe(answer)}")
            accepted = {pc.context_id: pc.transfer_syntax
                        for pc in answer.presentation_contexts if pc.result == 0}
            if not accepted:
                await probe.release()
                return skipped(f"the peer does not accept {uid_name(sop_class)}")
            for pc in rq.presentation_contexts:
                syntax = pc.transfer_syntaxes[0]
                label = STORED_SYNTAXES[syntax]
                if pc.context_id not in accepted:
                    evidence.append(f"{label}: not accepted")
                    continue
                number = len(ctx.facts.stored) + 1
                ds = make_instance(sop_class, f"DNCHK{_TAG}{number:02d}")
                message_id = 100 + number
                await probe.send_message(pc.context_id, CStoreRQ(
                    message_id=message_id, affected_sop_class_uid=sop_class,
                    affected_sop_instance_uid=ds.SOPInstanceUID), ds)
                response, _ = await probe.receive_message()
                if not isinstance(response, CStoreRSP) \
                        or response.message_id_being_responded_to != message_id:
                    problems.append(f"{label}: answered with {response!r}")
                    continue
                status = response.status
                evidence.append(f"{label}: status {status:#06x}")
                if _verdict(status) == "stored":  # Success or Warning
                    stored += 1
                    ctx.facts.stored.append(StoredInstance(
                        sop_class, ds.SOPInstanceUID, ds.StudyInstanceUID,
                        ds.SeriesInstanceUID, ds.PatientID, syntax))
                else:
                    problems.append(f"{label}: status {status:#06x}")
            await probe.release()
        if problems:
            return failed("; ".join(problems), *evidence)
        return passed(f"{stored} instances stored", *evidence)

    return store


@check("storage", "found", "C-FIND at IMAGE level finds each stored instance",
       "PS3.4 C.4.1.2.2")
async def found(ctx: CheckContext) -> Result:
    if not ctx.facts.stored:
        return skipped("nothing was stored")
    if not ctx.facts.accepts(STUDY_FIND):
        return skipped("the peer does not accept Study Root C-FIND")
    rq = request(ctx.target, [(STUDY_FIND, UNCOMPRESSED)])
    missing: list[str] = []
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, STUDY_FIND, "C-FIND")
        for number, item in enumerate(ctx.facts.stored, 1):
            await probe.send_message(context_id, CFindRQ(
                message_id=200 + number, affected_sop_class_uid=STUDY_FIND),
                image_identifier(item.study_instance_uid, item.series_instance_uid,
                                 item.sop_instance_uid))
            uids = []
            while True:
                response, dataset = await probe.receive_message()
                if not isinstance(response, CFindRSP):
                    return failed(f"answered C-FIND with {type(response).__name__}")
                if response.status not in (0xFF00, 0xFF01):
                    break
                if dataset is not None:
                    uids.append(str(dataset.get("SOPInstanceUID", "")))
            if uids != [item.sop_instance_uid]:
                missing.append(f"{uid_name(item.sop_class_uid)} "
                               f"({STORED_SYNTAXES[item.transfer_syntax]}): "
                               f"{len(uids)} matches, final status {response.status:#06x}")
        await probe.release()
    evidence = f"{len(ctx.facts.stored)} IMAGE-level queries by SOP Instance UID"
    if missing:
        return failed("; ".join(missing), evidence)
    return passed("each stored instance found once", evidence)


#: The P-DATA-TF lengths a data set is sent in, below the peer's maximum, which is the
#: last; a maximum above LONGEST (or none) is tried at LONGEST.
PDU_LENGTHS = (4096, 16384, 65536)
LONGEST = 1 << 20


def pdu_lengths(peer_max: int) -> list[int]:
    """What :func:`pdu_sizes` sends its data sets in against a peer announcing
    ``peer_max`` (0: no limit)."""
    top = LONGEST if peer_max == 0 or peer_max > LONGEST else peer_max
    return sorted({length for length in PDU_LENGTHS if length < top} | {top})


def big_instance(sop_class: str, patient_id: str, pixel_bytes: int) -> Dataset:
    """A generated instance whose pixel data has at least ``pixel_bytes`` bytes, so
    that the longest P-DATA-TF carries a full fragment."""
    ds = make_instance(sop_class, patient_id)
    ds.Columns = 512
    ds.Rows = -(-pixel_bytes // (2 * ds.Columns))  # 16 bits a pixel
    ds.PixelData = bytes(2 * ds.Rows * ds.Columns)
    return ds


@dataclass(frozen=True)
class StoreAnswer:
    """What one C-STORE got: the status of the C-STORE-RSP to it (None when none came),
    a line saying so, and whether the association is over."""

    status: int | None
    text: str
    ended: bool = False

    @property
    def stored(self) -> bool:
        return self.status is not None and _verdict(self.status) == "stored"


async def store_instance(probe: Probe, context_id: int, ds: Dataset, message_id: int,
                 pdu_length: int | None = None) -> StoreAnswer:
    """C-STORE ``ds`` on ``context_id`` and read the answer."""
    try:
        await probe.send_message(context_id, CStoreRQ(
            message_id=message_id, affected_sop_class_uid=str(ds.SOPClassUID),
            affected_sop_instance_uid=ds.SOPInstanceUID), ds, pdu_length=pdu_length)
        response, _ = await probe.receive_message()
    except PeerEndedError as ended:
        return StoreAnswer(None, f"the peer ended the association ({describe(ended.pdu)})",
                       ended=True)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return StoreAnswer(None, "the peer closed the connection while it was sent", ended=True)
    if not isinstance(response, CStoreRSP) \
            or response.message_id_being_responded_to != message_id:
        return StoreAnswer(None, f"answered with {response!r}")
    return StoreAnswer(response.status, f"status {response.status:#06x}")


@check("storage", "pdu-sizes",
       "a data set sent in P-DATA-TF of 4 KiB up to the peer's maximum length is taken",
       "PS3.8 D.1, 9.3.5")
async def pdu_sizes(ctx: CheckContext) -> Result:
    # PS3.8 D.1: the Maximum Length the peer announced bounds what we send; every
    # length up to it is ours to choose, and a P-DATA-TF of exactly that length is
    # as valid as a short one. (Its instances are not used by later checks.)
    if not ctx.facts.accepts(CT):
        return skipped(f"the peer does not accept {uid_name(CT)}")
    rq = request(ctx.target, [(CT, UNCOMPRESSED)])
    evidence: list[str] = []
    problems: list[str] = []
    async with Probe(ctx.target) as probe:
        context_id = await probe.open_context(rq, CT, "storage")
        lengths = pdu_lengths(probe.peer_max_pdu)
        ds = big_instance(CT, f"DNCHK{_TAG}PS", max(lengths) + 4096)
        evidence.append(f"the peer's maximum: {probe.peer_max_pdu or 'none'}; a CT of "
                        f"{len(ds.PixelData)} bytes of pixel data per length")
        for number, length in enumerate(lengths, 1):
            ds.SOPInstanceUID = generate_uid()
            ds.InstanceNumber = number
            got = await store_instance(probe, context_id, ds, 150 + number, length)
            line = f"P-DATA-TF of {length} bytes: {got.text}"
            if got.ended:
                problems.append(line)
                break
            evidence.append(line)
            if not got.stored:
                problems.append(line)
        else:
            await probe.release()
    if problems:
        return failed("; ".join(problems), *evidence)
    return passed(f"stored in P-DATA-TF of {', '.join(map(str, lengths))} bytes", *evidence)


#: Contexts per association when proposing every storage class (PS3.8 9.3.2.2: IDs
#: 1 to 255, odd: 128 at most).
_BATCH = 127
#: Status high bytes that say the data set was not stored for want of room (A7xx) or
#: for what it holds (A9xx, and any Cxxx: cannot understand) (PS3.4 Table B.2-1): a
#: generated instance need not satisfy every IOD.
_REFUSED_CONTENT = {0xA7, 0xA9}


def _verdict(status: int) -> str:
    """What a C-STORE status says of a class that was accepted at negotiation."""
    if status == 0 or status & 0xF000 == 0xB000:
        return "stored"
    if status >> 8 in _REFUSED_CONTENT or status & 0xF000 == 0xC000:
        return "refused"
    return "wrong"  # 0x0122 SOP Class not supported, and anything else


@check("storage", "classes", "every storage SOP class accepted at negotiation is served",
       "PS3.4 B.2.3, Table B.2-1; PS3.8 9.3.3.2")
async def classes(ctx: CheckContext) -> Result:
    # A context accepted is a promise to perform the service on it (PS3.8 9.3.3.2,
    # PS3.4 B.2.3): an instance of that class may be refused for its content, but not
    # answered "SOP Class not supported" (0x0122) nor by an abort. One generated
    # instance per class, all in one study (a peer may keep few studies).
    every = storage_sop_classes()
    study = make_instance(CT, f"DNCHK{_TAG}SC")
    tally = {"stored": 0, "refused": 0, "not accepted": 0}
    problems: list[str] = []
    refusals: list[str] = []
    for start in range(0, len(every), _BATCH):
        batch = every[start:start + _BATCH]
        rq = request(ctx.target, [(sop_class, UNCOMPRESSED) for sop_class in batch])
        async with Probe(ctx.target) as probe:
            answer = await probe.associate(rq)
            if not isinstance(answer, AAssociateAC):
                return failed(f"{len(batch)} storage contexts were answered with "
                              f"{describe(answer)}")
            for number, sop_class in enumerate(batch, start + 1):
                context_id = probe.context_for(rq, sop_class)
                if context_id is None:
                    tally["not accepted"] += 1
                    continue
                ds = make_instance(sop_class, study.PatientID)
                ds.StudyInstanceUID = study.StudyInstanceUID
                ds.SeriesNumber = number
                got = await store_instance(probe, context_id, ds, number)
                verdict = "wrong" if got.status is None else _verdict(got.status)
                if verdict == "wrong":
                    problems.append(f"{uid_name(sop_class)}: {got.text}")
                    if got.ended:
                        break
                else:
                    tally[verdict] += 1
                    if verdict == "refused" and len(refusals) < 3:
                        refusals.append(f"{uid_name(sop_class)}: {got.status:#06x}")
            else:
                await probe.release()
        if problems:
            break
    evidence = [f"{len(every)} storage classes proposed: {tally['stored']} stored, "
                f"{tally['refused']} refused for their content, {tally['not accepted']} "
                "not accepted", *(f"refused: {r}" for r in refusals)]
    if problems:
        return failed("accepted at negotiation, then not served: "
                      + "; ".join(problems[:3]), *evidence)
    if not tally["stored"] and not tally["refused"]:
        return skipped("no storage class was accepted", *evidence)
    return passed("every class accepted was stored or refused for its content",
                  *evidence)


#: A valid instance in each compressed family FAMILIES names: pydicom's own test
#: files, shipped with it (never fetched).
COMPRESSED_FILES = {
    "1.2.840.10008.1.2.4.50": "SC_rgb_jpeg_dcmtk.dcm",
    "1.2.840.10008.1.2.4.70": "SC_rgb_jpeg_gdcm.dcm",
    "1.2.840.10008.1.2.4.80": "MR_small_jpeg_ls_lossless.dcm",
    "1.2.840.10008.1.2.4.90": "MR_small_jp2klossless.dcm",
    "1.2.840.10008.1.2.5": "MR_small_RLE.dcm",
}


def compressed_instance(syntax: str, study: str) -> Dataset:
    """pydicom's test instance in ``syntax``, with new instance and series UIDs in
    ``study``."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    path = get_testdata_file(COMPRESSED_FILES[syntax], download=False)
    if path is None:
        raise RuleBrokenError(f"pydicom's test file {COMPRESSED_FILES[syntax]} is missing")
    ds = dcmread(path)
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = f"DNCHK{_TAG}CX"
    return ds


@check("storage", "compressed",
       "a valid instance in each compressed transfer syntax the peer accepts is stored",
       "PS3.5 8.2, 10; PS3.8 9.3.3.2; PS3.4 B.2.3")
async def compressed(ctx: CheckContext) -> Result:
    # Accepting a transfer syntax is a promise to take data encoded in it (PS3.8
    # 9.3.3.2): a valid instance (pydicom's test files, as their makers encoded them)
    # must be stored, or kept with a Warning; a failure status is not an answer here.
    study = generate_uid()
    instances = {syntax: compressed_instance(syntax, study) for syntax in COMPRESSED_FILES}
    rq = request(ctx.target, [(str(ds.SOPClassUID), [syntax])
                              for syntax, ds in instances.items()])
    evidence: list[str] = []
    problems: list[str] = []
    tried = 0
    async with Probe(ctx.target) as probe:
        answer = await probe.associate(rq)
        if not isinstance(answer, AAssociateAC):
            return failed(f"compressed storage contexts were answered with "
                          f"{describe(answer)}")
        for number, (syntax, ds) in enumerate(instances.items(), 1):
            label = FAMILIES[syntax]
            pc = rq.presentation_contexts[number - 1]
            if pc.context_id not in accepted_syntaxes(rq, answer):
                evidence.append(f"{label}: not accepted")
                continue
            tried += 1
            got = await store_instance(probe, pc.context_id, ds, 170 + number)
            if got.ended:
                problems.append(f"{label}: {got.text}")
                break
            evidence.append(f"{label} ({uid_name(str(ds.SOPClassUID))}): {got.text}")
            if not got.stored:
                problems.append(evidence[-1])
        else:
            await probe.release()
    if problems:
        return failed("accepted, then not stored: " + "; ".join(problems[:3]), *evidence)
    if not tried:
        return skipped("no compressed transfer syntax was accepted", *evidence)
    return passed("every compressed syntax accepted was stored", *evidence)


CHECKS: tuple[Check, ...] = (_storage_check("ct", CT), _storage_check("mr", MR),
                             _storage_check("sc", SC), found, pdu_sizes, classes, compressed)
