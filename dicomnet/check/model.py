"""What a check is, what it returns, and what checks share while they run.

A check asks the peer one question the standard answers: it sends something, looks at
what came back, and says PASS, FAIL or SKIP with the reason and the evidence (what was
sent, what came back), so that a reader can judge the verdict without a packet trace.
Checks of a group learn facts for later ones (the SOP classes the peer accepts, its
maximum PDU, the studies it holds) in :class:`Facts`.
"""

from __future__ import annotations

import enum
import ssl as _ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydicom import Dataset

from dicomnet.config import Timeouts
from dicomnet.pdu import AAssociateAC, AAssociateRQ, UserIdentityRQSubItem


class Outcome(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Result:
    """A check's verdict: ``reason`` in one sentence, ``evidence`` as short lines."""

    outcome: Outcome
    reason: str
    evidence: tuple[str, ...] = ()


def passed(reason: str, *evidence: str) -> Result:
    return Result(Outcome.PASS, reason, evidence)


def failed(reason: str, *evidence: str) -> Result:
    return Result(Outcome.FAIL, reason, evidence)


def skipped(reason: str, *evidence: str) -> Result:
    return Result(Outcome.SKIP, reason, evidence)


class RuleBrokenError(Exception):
    """Raised inside a check when the peer broke a rule deep in a conversation: the
    check FAILs with this text as its reason."""


@dataclass(frozen=True)
class Target:
    """The peer under test and how to reach it."""

    host: str
    port: int
    called_ae: str
    calling_ae: str = "DICOMNET-CHECK"
    ssl: _ssl.SSLContext | None = None
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(connect=10, acse=10,
                                                                 dimse=30, network=30))
    #: the identity the user gave on the command line; the user identity check sends
    #: a made-up username when there is none.
    identity: UserIdentityRQSubItem | None = None
    #: (AE title, host, port) of the check's own SCP (``--listen``): the peer knows AE
    #: title at host:port as a C-MOVE destination and, for the calling AE title too,
    #: as where storage commitment reports go; the checks that need an association the
    #: peer opens listen there while they run (dicomnet.check.listener). None: those
    #: checks are skipped, or wait only on associations we open.
    listen: tuple[str, str, int] | None = None


@dataclass(frozen=True)
class StoredInstance:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str
    transfer_syntax: str


@dataclass
class Facts:
    """What earlier checks learned about the peer, for the later ones."""

    #: the A-ASSOCIATE-AC answering the discovery proposal (every SOP class we know
    #: of, with the uncompressed transfer syntaxes)
    discovery: AAssociateAC | None = None
    discovery_request: AAssociateRQ | None = None
    #: SOP class UID -> the transfer syntaxes the peer accepted for it (discovery and
    #: the transfer syntax checks)
    accepted: dict[str, list[str]] = field(default_factory=dict)
    #: PS3.8 D.1: 0 means no limit
    peer_max_pdu: int | None = None
    stored: list[StoredInstance] = field(default_factory=list)
    #: identifiers of a universal STUDY-level C-FIND, when it succeeded
    studies: list[Dataset] | None = None

    def accepts(self, sop_class: str) -> bool:
        return bool(self.accepted.get(sop_class))


@dataclass
class CheckContext:
    target: Target
    facts: Facts
    store: bool = False
    hostile: bool = False


@dataclass(frozen=True)
class Check:
    """One question to the peer. ``reference`` is the PS3.x section whose rule it
    tests; ``run`` returns the verdict (an exception counts as FAIL, its text the
    reason)."""

    id: str
    group: str
    title: str
    reference: str
    run: Callable[[CheckContext], Awaitable[Result]]


def check(group: str, name: str, title: str, reference: str
          ) -> Callable[[Callable[[CheckContext], Awaitable[Result]]], Check]:
    """Decorator making an async function into a :class:`Check` ``group.name``."""

    def make(function: Callable[[CheckContext], Awaitable[Result]]) -> Check:
        return Check(f"{group}.{name}", group, title, reference, function)

    return make
