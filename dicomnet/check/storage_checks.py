"""The storage group (``--store`` only: it leaves instances on the peer): generated
CT, MR and Secondary Capture instances stored in each uncompressed family the peer
accepts (PS3.4 Annex B), then looked up with C-FIND when the peer is a Q/R SCP too.
"""

from __future__ import annotations

from dicomnet.check.instances import make_instance, run_tag
from dicomnet.check.model import (
    Check,
    CheckContext,
    Result,
    StoredInstance,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.probe import Probe, describe, request
from dicomnet.check.queries import image_identifier
from dicomnet.check.sop_classes import CT, MR, SC, STUDY_FIND, UNCOMPRESSED
from dicomnet.dimse import CFindRQ, CFindRSP, CStoreRQ, CStoreRSP
from dicomnet.pdu import AAssociateAC
from dicomnet.uids import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, uid_name

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
                if status == 0 or status & 0xF000 == 0xB000:  # Success or Warning
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
        answer = await probe.associate(rq)
        context_id = probe.context_for(rq, STUDY_FIND)
        if not isinstance(answer, AAssociateAC) or context_id is None:
            return failed(f"a C-FIND association was answered with {describe(answer)}")
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


CHECKS: tuple[Check, ...] = (_storage_check("ct", CT), _storage_check("mr", MR),
                             _storage_check("sc", SC), found)
