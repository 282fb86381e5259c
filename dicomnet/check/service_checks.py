"""The services group: Modality Worklist (PS3.4 Annex K), Storage Commitment Push Model
(PS3.4 Annex J) and Modality Performed Procedure Step (PS3.4 Annex F), each only when
the peer accepted its SOP class in the discovery association.

These checks speak through dicomnet's own service methods (``Association.find``,
``request_commitment``, ``mpps_create``, ``mpps_update``) rather than the raw probe:
the questions are about the peer's application behaviour, not about its PDUs.
Worklist queries change nothing; commitment and MPPS do (a commitment transaction, a
performed step left COMPLETED), so they run only with ``--store``.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
from pydicom import Dataset
from pydicom.uid import generate_uid

from dicomnet.check.instances import run_tag
from dicomnet.check.listener import listen_address, serving
from dicomnet.check.model import (
    Check,
    CheckContext,
    Result,
    check,
    failed,
    passed,
    skipped,
)
from dicomnet.check.sop_classes import MPPS, STORAGE_COMMITMENT, UNCOMPRESSED, WORKLIST_FIND
from dicomnet.client import connect
from dicomnet.server import Server
from dicomnet.service_methods import Association
from dicomnet.services.commitment import (
    EVENT_ALL_COMMITTED,
    EVENT_FAILURES,
    NO_SUCH_OBJECT_INSTANCE,
    CommitmentResult,
    CommitmentResults,
    Reference,
)
from dicomnet.services.normalized import NormalizedRequest

PENDING = (0xFF00, 0xFF01)
#: How long the commitment checks wait for the N-EVENT-REPORT while the association
#: that asked is open, and again after releasing it when the check listens itself.
REPORT_WAIT = 15.0
#: The keys of a Scheduled Procedure Step item the worklist checks ask for (PS3.4
#: Table K.6-1, return key types 1 and 2).
STEP_KEYS = ("Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate",
             "ScheduledProcedureStepStartTime", "ScheduledProcedureStepID",
             "ScheduledProcedureStepDescription")
TOP_KEYS = ("PatientName", "PatientID", "AccessionNumber", "RequestedProcedureID",
            "StudyInstanceUID")
_TAG = run_tag()


def _needs(ctx: CheckContext, sop_class: str, name: str, *, changes: bool) -> Result | None:
    if not ctx.facts.accepts(sop_class):
        return skipped(f"the peer does not accept {name}")
    if changes and not ctx.store:
        return skipped("changes the peer: run with --store")
    return None


@asynccontextmanager
async def _associate(ctx: CheckContext, sop_class: str,
                     on_request: CommitmentResults | None = None
                     ) -> AsyncIterator[Association]:
    target = ctx.target
    async with connect(target.host, target.port, called_ae=target.called_ae,
                       calling_ae=target.calling_ae, ssl=target.ssl,
                       timeouts=target.timeouts, contexts=[(sop_class, list(UNCOMPRESSED))],
                       on_request=None if on_request is None else on_request.on_request
                       ) as assoc:
        yield assoc


# -- Modality Worklist (PS3.4 K) ------------------------------------------------------


def worklist_identifier(modality: str = "") -> Dataset:
    """An SPS-level worklist query: every key of :data:`TOP_KEYS` and of one Scheduled
    Procedure Step item, empty (universal) except Modality when given."""
    step = Dataset()
    for keyword in STEP_KEYS:
        setattr(step, keyword, "")
    step.Modality = modality
    ds = Dataset()
    for keyword in TOP_KEYS:
        setattr(ds, keyword, "")
    ds.ScheduledProcedureStepSequence = [step]
    return ds


async def _worklist(ctx: CheckContext, identifier: Dataset) -> tuple[list[Dataset], int]:
    matches: list[Dataset] = []
    status = -1
    async with _associate(ctx, WORKLIST_FIND) as assoc:
        async for response in assoc.find(identifier, model="worklist"):
            status = response.status
            if status in PENDING and response.dataset is not None:
                matches.append(response.dataset)
    return matches, status


def _steps(ds: Dataset) -> list[Dataset]:
    return list(ds.get("ScheduledProcedureStepSequence") or [])


def _modality(step: Dataset) -> str:
    return str(step.get("Modality", "") or "").strip()


@check("services", "worklist-universal",
       "worklist universal query returns the keys asked and the step sequence",
       "PS3.4 K.6.1.2.2, K.6.1.2.3; PS3.4 C.2.2.2.3")
async def worklist_universal(ctx: CheckContext) -> Result:
    if (skip := _needs(ctx, WORKLIST_FIND, "Modality Worklist C-FIND",
                       changes=False)) is not None:
        return skip
    matches, status = await _worklist(ctx, worklist_identifier())
    evidence = [f"C-FIND worklist, every key empty: {len(matches)} matches, final "
                f"status {status:#06x}"]
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    problems = []
    for number, ds in enumerate(matches, 1):
        missing = [k for k in TOP_KEYS if k not in ds]
        steps = _steps(ds)
        if not steps:
            problems.append(f"match {number} has no Scheduled Procedure Step Sequence item")
        else:
            missing += [f"ScheduledProcedureStepSequence/{k}"
                        for k in STEP_KEYS if k not in steps[0]]
        if missing:
            problems.append(f"match {number} lacks {', '.join(missing)}")
        if len(problems) >= 5:
            break
    if problems:
        return failed("; ".join(problems), *evidence)
    if not matches:
        return passed("no worklist items held; final status Success", *evidence)
    return passed("every match has every key asked and its step item", *evidence)


@check("services", "worklist-modality",
       "single value matching on Modality in the step sequence returns only that modality",
       "PS3.4 K.6.1.2.1, C.2.2.2.1, C.2.2.2.6")
async def worklist_modality(ctx: CheckContext) -> Result:
    if (skip := _needs(ctx, WORKLIST_FIND, "Modality Worklist C-FIND",
                       changes=False)) is not None:
        return skip
    every, status = await _worklist(ctx, worklist_identifier())
    if status != 0:
        return skipped(f"the universal worklist query ended with {status:#06x}")
    held = [_modality(step) for ds in every for step in _steps(ds)]
    modalities = sorted({m for m in held if m})
    if not modalities:
        return skipped("the peer holds no worklist item with a Modality to match on")
    # The rarest modality, so that matching that ignored the key shows.
    value = min(modalities, key=held.count)
    expected = sum(1 for ds in every if any(_modality(s) == value for s in _steps(ds)))
    matches, status = await _worklist(ctx, worklist_identifier(value))
    evidence = [f"universal: {len(every)} items, modalities {', '.join(modalities)}",
                f"Modality={value!r}: {len(matches)} matches (expected {expected}), "
                f"final status {status:#06x}"]
    if status != 0:
        return failed(f"final status {status:#06x}, not Success", *evidence)
    # C.2.2.2.6: an item matches when one sequence item matches; the returned
    # items are those that matched (PS3.4 C.2.2.2.6, K.6.1.2.1).
    wrong = [_modality(s) for ds in matches for s in _steps(ds) if _modality(s) != value]
    if wrong:
        return failed(f"returned steps with Modality {', '.join(sorted(set(wrong)))}",
                      *evidence)
    if len(matches) != expected:
        return failed(f"{len(matches)} matches where the universal answer holds "
                      f"{expected} {value} items", *evidence)
    return passed(f"only {value} steps returned, as many as the universal answer has",
                  *evidence)


# -- Storage Commitment Push Model (PS3.4 J) ------------------------------------------


class _Reports(CommitmentResults):
    """The check's commitment SCU: keeps each report's Event Type too, and where it
    came: on the requesting association (``on_request``) or on a new one the peer
    opened to the check's own SCP (:meth:`install`)."""

    def __init__(self) -> None:
        super().__init__()
        self.event_types: dict[str, int] = {}
        #: Transaction UID of every report that came (of other transactions too) ->
        #: where it came
        self.arrived_on: dict[str, str] = {}
        self._changed = anyio.Event()

    def others(self, transaction: str) -> list[str]:
        """The Transaction UIDs of reports that came for other transactions."""
        return [uid for uid in self.arrived_on if uid != transaction]

    async def settle(self, transaction: str) -> None:
        """Wait until the report of ``transaction``, or one of another transaction
        (which the check judges at once rather than waiting on), has come."""
        while self.get(transaction) is None and not self.others(transaction):
            await self._changed.wait()

    def install(self, server: Server) -> None:
        server.on_normalized(STORAGE_COMMITMENT, "N-EVENT-REPORT")(self._on_new)

    async def on_event_report(self, request: NormalizedRequest) -> int:
        return await self._keep(request, "the requesting association")

    async def _on_new(self, request: NormalizedRequest) -> int:
        association = request.association
        # PS3.4 J.3.3, PS3.7 D.3.3.4: on its own association the SCP takes the SCP role
        # of the SOP class by role selection; the roles granted say whether it did.
        roles = [f"SCP role {'proposed and granted' if c.scp_role else 'not proposed'}"
                 for c in association.negotiated.contexts_for(STORAGE_COMMITMENT)]
        return await self._keep(request, f"a new association {association.calling_ae_title}"
                                         f" -> {association.called_ae_title} "
                                         f"({', '.join(roles) or 'no context'})")

    async def _keep(self, request: NormalizedRequest, where: str) -> int:
        dataset = request.dataset
        transaction = "" if dataset is None else str(dataset.get("TransactionUID", ""))
        if request.event_type_id is not None:
            self.event_types[transaction] = request.event_type_id
        self.arrived_on[transaction] = where
        try:
            return await super().on_event_report(request)
        finally:
            self._changed.set()
            self._changed = anyio.Event()


@dataclass(frozen=True)
class _Commitment:
    """What one commitment request brought: the report (None when none came), its
    event type, the transaction UID and where the report arrived."""

    result: CommitmentResult | None
    event_type: int | None
    transaction: str
    where: str
    #: reports of other transactions: Transaction UID -> where it came
    others: dict[str, str]


async def _commit(ctx: CheckContext, refs: list[Reference]) -> _Commitment:
    """Ask, then wait for the report on the requesting association and, when the
    check has its own SCP (``--listen``), on a new association there too: first with
    ours open, then after releasing it (PS3.4 J.3.3: an SCP may report on a new
    association, as the SCP of the SOP class, whether or not ours is still open)."""
    reports = _Reports()
    listen = listen_address(ctx)
    async with AsyncExitStack() as stack:
        if listen is not None:
            aet, host, port = listen
            # the peer reports to the AE title that asked (our calling AE title),
            # wherever it knows that one to be: any called AE title is answered
            server = Server(aet, require_called_ae_title=False)
            reports.install(server)
            await stack.enter_async_context(serving(server, host, port))
        async with _associate(ctx, STORAGE_COMMITMENT, reports) as assoc:
            transaction = await assoc.request_commitment(refs)
            with anyio.move_on_after(REPORT_WAIT):
                await reports.settle(transaction)
        if reports.get(transaction) is None and not reports.others(transaction) \
                and listen is not None:
            with anyio.move_on_after(REPORT_WAIT):
                await reports.settle(transaction)
    return _Commitment(reports.get(transaction), reports.event_types.get(transaction),
                       transaction, reports.arrived_on.get(transaction, ""),
                       {uid: reports.arrived_on[uid] for uid in reports.others(transaction)})


def _no_report(ctx: CheckContext, got: _Commitment) -> Result:
    listen = listen_address(ctx)
    transaction = got.transaction
    asked = f"N-ACTION accepted, Transaction UID {transaction}"
    if got.others:
        # PS3.4 J.3.3, Table J.3-2: the report carries the request's Transaction UID
        uid, where = next(iter(got.others.items()))
        return failed(f"the report names Transaction UID {uid or '(none)'}, not the one "
                      f"asked", asked, f"report on {where}")
    if listen is None:
        return skipped(f"no N-EVENT-REPORT on the requesting association within "
                       f"{REPORT_WAIT:g} s: the peer may report on a new association, "
                       "for which the check needs --listen AET=HOST:PORT (the peer knowing "
                       f"{ctx.target.calling_ae} there)", asked)
    aet, host, port = listen
    return failed(f"no N-EVENT-REPORT within {REPORT_WAIT:g} s, neither on the requesting "
                  f"association nor on a new one to {host}:{port} (within {REPORT_WAIT:g} s "
                  f"more after our release); the peer must know "
                  f"{ctx.target.calling_ae} at {host}:{port}", asked,
                  f"the check's own SCP listened as {aet} (any called AE title answered)")


@check("services", "commitment", "stored instances are reported committed (event type 1)",
       "PS3.4 J.3.2, J.3.3")
async def commitment(ctx: CheckContext) -> Result:
    if (skip := _needs(ctx, STORAGE_COMMITMENT, "Storage Commitment Push Model",
                       changes=True)) is not None:
        return skip
    if not ctx.facts.stored:
        return skipped("nothing was stored (the storage group stores with --store)")
    refs = [Reference(i.sop_class_uid, i.sop_instance_uid) for i in ctx.facts.stored]
    got = await _commit(ctx, refs)
    result, event_type = got.result, got.event_type
    if result is None:
        return _no_report(ctx, got)
    evidence = [f"{len(refs)} stored instances asked: {len(result.committed)} committed, "
                f"{len(result.failed)} failed, event type {event_type}",
                f"report on {got.where}"]
    asked = {r.sop_instance_uid for r in refs}
    committed = {r.sop_instance_uid for r in result.committed}
    if result.failed:
        reasons = sorted({f"{f.reason:#06x}" for f in result.failed})
        return failed(f"{len(result.failed)} stored instances failed ({', '.join(reasons)})",
                      *evidence)
    if committed != asked:
        return failed("the committed list is not the instances asked", *evidence)
    if event_type != EVENT_ALL_COMMITTED:
        return failed(f"event type {event_type} for a report with no failure, not 1",
                      *evidence)
    return passed("every stored instance committed, event type 1", *evidence)


@check("services", "commitment-unknown",
       "an unknown instance is reported failed with 0x0112 (event type 2)",
       "PS3.4 J.3.3, J.3.3.1.1")
async def commitment_unknown(ctx: CheckContext) -> Result:
    if (skip := _needs(ctx, STORAGE_COMMITMENT, "Storage Commitment Push Model",
                       changes=True)) is not None:
        return skip
    sop_class = ctx.facts.stored[0].sop_class_uid if ctx.facts.stored \
        else "1.2.840.10008.5.1.4.1.1.7"
    unknown = Reference(sop_class, str(generate_uid()))
    got = await _commit(ctx, [unknown])
    result, event_type = got.result, got.event_type
    if result is None:
        return _no_report(ctx, got)
    reasons = [f.reason for f in result.failed if f.sop_instance_uid == unknown.sop_instance_uid]
    evidence = [f"1 never-stored instance asked: {len(result.committed)} committed, "
                f"failure reasons {', '.join(f'{r:#06x}' for r in reasons) or 'none'}, "
                f"event type {event_type}", f"report on {got.where}"]
    if any(r.sop_instance_uid == unknown.sop_instance_uid for r in result.committed):
        return failed("an instance the peer never received was reported committed",
                      *evidence)
    if reasons != [NO_SUCH_OBJECT_INSTANCE]:
        return failed("not failed with Failure Reason 0x0112 (No such object instance)",
                      *evidence)
    if event_type != EVENT_FAILURES:
        return failed(f"event type {event_type} for a report with failures, not 2",
                      *evidence)
    return passed("reported failed with 0x0112, event type 2", *evidence)


# -- Modality Performed Procedure Step (PS3.4 F) --------------------------------------


def step_attributes() -> Dataset:
    """The N-CREATE attribute list of a step IN PROGRESS with the type 1 attributes
    of PS3.4 Table F.7.2-1, for a made-up patient."""
    now = datetime.datetime.now()
    scheduled = Dataset()
    scheduled.StudyInstanceUID = generate_uid()
    scheduled.ReferencedStudySequence = []
    scheduled.AccessionNumber = ""
    scheduled.RequestedProcedureID = ""
    scheduled.RequestedProcedureDescription = ""
    scheduled.ScheduledProcedureStepID = ""
    scheduled.ScheduledProcedureStepDescription = ""
    scheduled.ScheduledProtocolCodeSequence = []
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ScheduledStepAttributesSequence = [scheduled]
    ds.PatientName = "CHECK^DICOMNET"
    ds.PatientID = f"DNCHK{_TAG}MPPS"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = f"DNCHK{_TAG}"
    ds.PerformedStationAETitle = "DICOMNET-CHECK"
    ds.PerformedStationName = "DICOMNET-CHECK"
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = "dicomnet check"
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = "OT"
    ds.StudyID = ""
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def completion() -> Dataset:
    """The N-SET that ends a step COMPLETED, with the attributes PS3.4 F.7.2.2 and
    Table F.7.2-1 require at that point (end date and time, a performed series)."""
    now = datetime.datetime.now()
    series = Dataset()
    series.PerformingPhysicianName = ""
    series.ProtocolName = "dicomnet check"
    series.OperatorsName = ""
    series.SeriesInstanceUID = generate_uid()
    series.SeriesDescription = ""
    series.RetrieveAETitle = ""
    series.ReferencedImageSequence = []
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = now.strftime("%H%M%S")
    ds.PerformedSeriesSequence = [series]
    return ds


@check("services", "mpps-complete",
       "N-CREATE IN PROGRESS, then N-SET COMPLETED, both Success; a later N-SET fails",
       "PS3.4 F.7.2.1, F.7.2.2")
async def mpps_complete(ctx: CheckContext) -> Result:
    if (skip := _needs(ctx, MPPS, "Modality Performed Procedure Step",
                       changes=True)) is not None:
        return skip
    uid = str(generate_uid())
    evidence: list[str] = []
    async with _associate(ctx, MPPS) as assoc:
        created = await assoc.mpps_create(step_attributes(), uid)
        evidence.append(f"N-CREATE IN PROGRESS: {created.status:#06x}")
        if created.status != 0:
            return failed(f"N-CREATE of a step IN PROGRESS answered {created.status:#06x}",
                          *evidence)
        done = await assoc.mpps_update(uid, completion())
        evidence.append(f"N-SET COMPLETED: {done.status:#06x}")
        if done.status != 0:
            return failed(f"N-SET to COMPLETED answered {done.status:#06x}", *evidence)
        again = Dataset()
        again.PerformedProcedureStepDescription = "changed after COMPLETED"
        late = await assoc.mpps_update(uid, again)
        comment = late.error_comment or ""
        evidence.append(f"N-SET after COMPLETED: {late.status:#06x}"
                        + (f" ({comment!r})" if comment else ""))
    # F.7.2.2.4 / Table F.7.2-2: "Performed Procedure Step Object may no longer be
    # updated", status 0110, once the step is COMPLETED or DISCONTINUED.
    if late.status != 0x0110:
        return failed(f"a COMPLETED step was modified or refused with {late.status:#06x},"
                      f" not 0x0110", *evidence)
    return passed("created, completed, then refused with 0x0110", *evidence)


@check("services", "mpps-unknown", "N-SET on an unknown step fails with 0x0112",
       "PS3.4 F.7.2.2.4; PS3.7 10.1.3")
async def mpps_unknown(ctx: CheckContext) -> Result:
    if (skip := _needs(ctx, MPPS, "Modality Performed Procedure Step",
                       changes=True)) is not None:
        return skip
    async with _associate(ctx, MPPS) as assoc:
        result = await assoc.mpps_update(str(generate_uid()), completion())
    evidence = f"N-SET COMPLETED on a never-created step: {result.status:#06x}"
    if result.status != 0x0112:
        return failed(f"answered {result.status:#06x}, not 0x0112 (No such SOP instance)",
                      evidence)
    return passed("refused with 0x0112", evidence)


CHECKS: tuple[Check, ...] = (worklist_universal, worklist_modality, commitment,
                             commitment_unknown, mpps_complete, mpps_unknown)
