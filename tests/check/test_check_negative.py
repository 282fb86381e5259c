"""Negative controls of ``dicomnet check`` (issue 22 item 3): each deliberately broken
peer fails exactly the checks whose rule it breaks, and a peer without the flaw fails
none, so each verdict comes from the flaw and not from the scripted peer itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import anyio
import pytest
from broken_peers import ScriptedSCP, made_up_studies, wrong_matching_server, wrong_status_server

from dicomnet.check import Outcome, Target, Verdict, robustness_checks, run_checks, select
from dicomnet.config import Timeouts
from dicomnet.pdu import UserIdentityACSubItem

pytestmark = pytest.mark.anyio
Serving = Callable[..., AbstractAsyncContextManager[int]]


def target(port: int, called: str = "BROKEN") -> Target:
    return Target("127.0.0.1", port, called_ae=called,
                  timeouts=Timeouts(connect=10, acse=10, dimse=20, network=20))


@asynccontextmanager
async def scripted(scp: ScriptedSCP) -> AsyncIterator[int]:
    async with anyio.create_task_group() as tg:
        port = await tg.start(partial(scp.serve))
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


async def verdicts(port: int, only: Sequence[str] = (), *, store: bool = False,
                   hostile: bool = False) -> list[Verdict]:
    with anyio.fail_after(240):
        return await run_checks(target(port), select(only), store=store, hostile=hostile)


def failed(results: list[Verdict]) -> set[str]:
    return {v.check.id for v in results if v.result.outcome is Outcome.FAIL}


def reasons(results: list[Verdict]) -> str:
    return "\n".join(f"{v.check.id} {v.result.outcome.value}: {v.result.reason}"
                     for v in results)


async def test_a_scripted_peer_without_flaws_fails_nothing() -> None:
    async with scripted(ScriptedSCP()) as port:
        results = await verdicts(port)
        everything = await verdicts(port, store=True, hostile=True)
    assert failed(results) == set(), reasons(results)
    outcome = {v.check.id: v.result.outcome for v in results}
    # the default run changes nothing and sends nothing hostile
    assert outcome["storage.ct"] is Outcome.SKIP
    assert outcome["robustness.unknown-pdu"] is Outcome.SKIP
    assert outcome["query.single-value"] is Outcome.PASS
    assert failed(everything) == set(), reasons(everything)
    # it serves no C-GET/C-MOVE (test_check_retrieve.py has a retrieve SCP without flaws,
    # and the mover of association.release-collision) and refuses the services (tested
    # with their own peers in test_check_services.py); its studies hold no Procedure
    # Code Sequence (test_check_matching.py's SCP does)
    assert {v.result.outcome for v in everything
            if v.check.group not in ("retrieve", "services")
            and v.check.id not in ("matching.sequence", "association.release-collision")} \
        == {Outcome.PASS}, reasons(everything)


#: (what the scripted peer does wrong, the groups run, the checks that must fail)
FLAWS: list[tuple[dict[str, Any], list[str], set[str]]] = [
    ({"grant_roles": True}, ["association"], {"association.roles"}),
    ({"window": (0, 0)}, ["association"], {"association.async-window"}),
    ({"abort_on_identity": True}, ["association"], {"association.user-identity"}),
    ({"extra_replies": (UserIdentityACSubItem(b""),)}, ["association"],
     {"association.user-identity"}),
    ({"abort_on_release": True}, ["association"], {"association.release"}),
    ({"answer_abort": True}, ["association"], {"association.abort"}),
    ({"reject_implicit": True}, ["association"],
     {"association.transfer-syntaxes-verification", "association.transfer-syntaxes-ct"}),
    ({"store_status": 0xA700}, ["storage"],
     {"storage.ct", "storage.mr", "storage.sc", "storage.pdu-sizes", "storage.compressed"}),
    ({"abort_over_pdu": 8192}, ["storage"], {"storage.pdu-sizes"}),
    ({"unsupported_store": "1.2.840.10008.5.1.4.1.1.88.11"}, ["storage"],
     {"storage.classes"}),
    ({"undecodable_syntax": "1.2.840.10008.1.2.4.80"}, ["storage"],
     {"storage.compressed"}),
    ({"odd_lengths": True}, ["query"], {"query.study-universal"}),
    ({"forget_stored": True}, ["storage"], {"storage.found"}),
    ({"drop_key": "StudyID"}, ["query"], {"query.study-universal"}),
    ({"echo_sop_class": "1.2.840.10008.5.1.4.1.1.2"}, ["verification"],
     {"verification.echo"}),
    ({"cancel_status": 0xA700}, ["query"], {"query.cancel"}),
    ({"no_implementation_uid": True}, ["association"], {"association.accept"}),
    ({"called_title": "SOMEONE-ELSE"}, ["association"], {"association.accept"}),
]


@pytest.mark.parametrize(("flaw", "groups", "expected"), FLAWS,
                         ids=[next(iter(flaw)) for flaw, _groups, _expected in FLAWS])
async def test_each_flaw_fails_its_own_checks(flaw: dict[str, Any], groups: list[str],
                                              expected: set[str]) -> None:
    async with scripted(ScriptedSCP(**flaw)) as port:
        results = await verdicts(port, groups, store=True)
    assert failed(results) == expected, reasons(results)


async def test_a_wrong_message_id_being_responded_to_fails_the_echo_check() -> None:
    async with scripted(ScriptedSCP(echo_id_offset=1)) as port:
        results = await verdicts(port)
    assert failed(results) == {"verification.echo"}, reasons(results)
    echo = next(v for v in results if v.check.id == "verification.echo")
    assert "Message ID Being Responded To" in echo.result.reason


async def test_a_wrong_status_fails_the_echo_check(serving: Serving) -> None:
    async with serving(wrong_status_server()) as port:
        results = await verdicts(port, ["association", "verification"])
    assert failed(results) == {"verification.echo"}, reasons(results)


async def test_a_transfer_syntax_that_was_not_offered_fails_negotiation_checks() -> None:
    async with scripted(ScriptedSCP(wrong_syntax=True)) as port:
        results = await verdicts(port, ["association", "verification"])
    assert failed(results) == {
        "association.accept", "association.contexts-1", "association.contexts-16",
        "association.contexts-128", "association.transfer-syntaxes-verification",
        "association.transfer-syntaxes-ct"}, reasons(results)
    accept = next(v for v in results if v.check.id == "association.accept")
    assert "not offered" in accept.result.reason


async def test_ignoring_the_query_keys_fails_the_matching_checks(serving: Serving) -> None:
    async with serving(wrong_matching_server(made_up_studies(4))) as port:
        results = await verdicts(port, ["query"])
    assert failed(results) == {"query.single-value", "query.wildcard"}, reasons(results)


async def test_ignoring_a_c_cancel_fails_the_cancel_check() -> None:
    async with scripted(ScriptedSCP(ignore_cancel=True,
                                    studies=made_up_studies(200))) as port:
        results = await verdicts(port, ["query"])
    assert failed(results) == {"query.cancel"}, reasons(results)


async def test_a_pdata_over_our_maximum_fails_the_max_pdu_check() -> None:
    # 20 responses make a P-DATA-TF over 4 KiB, and stay within what query.cancel
    # allows after a cancel, should the peer read the cancel late on a loaded machine
    async with scripted(ScriptedSCP(one_big_pdu=True, studies=made_up_studies(20))) as port:
        results = await verdicts(port, ["association", "verification", "query"])
    assert failed(results) == {"association.max-pdu"}, reasons(results)


async def test_a_peer_that_swallows_garbage_fails_the_robustness_checks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(robustness_checks, "REFUSAL_WAIT", 1.5)
    async with scripted(ScriptedSCP(tolerant=True)) as port:
        results = await verdicts(port, ["robustness"], hostile=True)
    assert failed(results) == {"robustness.unknown-pdu", "robustness.bad-item",
                               "robustness.oversized-pdu"}, reasons(results)
    # it serves others all the while (one task per connection): the evidence says so
    assert all("meanwhile, a new association's C-ECHO was answered" in v.result.evidence
               for v in results), [v.result.evidence for v in results]
    async with scripted(ScriptedSCP()) as port:
        results = await verdicts(port, ["robustness"], hostile=True)
    assert failed(results) == set(), reasons(results)


async def test_a_peer_answering_the_request_with_nonsense_cannot_be_checked() -> None:
    """An A-RELEASE-RP for an A-ASSOCIATE-RQ: no verdicts, a clear reason."""
    from anyio.abc import SocketAttribute, SocketStream

    from dicomnet.check import UnreachableError
    from dicomnet.pdu import AReleaseRP, encode_pdu

    async def nonsense(stream: SocketStream) -> None:
        await stream.receive()
        await stream.send(encode_pdu(AReleaseRP()))
        await anyio.sleep(1)
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.listeners[0].extra(SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, nonsense)
        with anyio.fail_after(30), pytest.raises(UnreachableError, match="A-RELEASE-RP"):
            await run_checks(target(port), select(["verification"]))
        tg.cancel_scope.cancel()


def test_the_pdu_lengths_run_up_to_the_peers_maximum() -> None:
    from dicomnet.check.storage_checks import LONGEST, pdu_lengths

    assert pdu_lengths(16384) == [4096, 16384]
    assert pdu_lengths(16382) == [4096, 16382]  # pynetdicom's
    assert pdu_lengths(4096) == [4096]
    assert pdu_lengths(1 << 20) == [4096, 16384, 65536, 1 << 20]
    assert pdu_lengths(0) == pdu_lengths(1 << 30) == [4096, 16384, 65536, LONGEST]


async def test_an_identifier_value_of_odd_length_fails_the_universal_query() -> None:
    async with scripted(ScriptedSCP(odd_lengths=True)) as port:
        results = await verdicts(port, ["query"])
    universal = next(v for v in results if v.check.id == "query.study-universal")
    assert universal.result.reason.startswith(
        "a value of odd length: (0099,0010) of 3 bytes"), reasons(results)


async def test_a_class_accepted_then_not_supported_fails_the_classes_check() -> None:
    async with scripted(ScriptedSCP(unsupported_store="1.2.840.10008.5.1.4.1.1.88.11")) \
            as port:
        results = await verdicts(port, ["storage.classes"], store=True)
    [classes] = results
    assert classes.result.reason == ("accepted at negotiation, then not served: Basic Text "
                                     "SR Storage: status 0x0122"), reasons(results)
