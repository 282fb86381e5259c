"""Reassembling P-DATA-TF PDUs into DIMSE messages (PS3.7 §6.3.1, PS3.8 §9.3.5, Annex E)."""

from __future__ import annotations

import pytest
from dimse_strategies import any_message
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomnet.dimse import (
    CEchoRQ,
    CEchoRSP,
    CFindRSP,
    CommandReceived,
    CStoreRQ,
    DatasetFragment,
    DIMSEMessage,
    Reassembler,
    encode_command,
    fragment_message,
)
from dicomnet.errors import DIMSEError
from dicomnet.pdu import PDV, PDataTF, decode_pdu, encode_pdu

ECHO = CEchoRQ(message_id=1, affected_sop_class_uid="1.2.840.10008.1.1")
ECHO_RSP = CEchoRSP(message_id_being_responded_to=1, status=0)
STORE = CStoreRQ(message_id=2, affected_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                 affected_sop_instance_uid="1.2.3.4")
FIND_RSP = CFindRSP(message_id_being_responded_to=3, status=0xFF00, has_dataset=True)

Event = CommandReceived | DatasetFragment


def _pdus(context_id: int, message: DIMSEMessage, dataset: bytes | None,
          peer_max: int = 0) -> list[PDataTF]:
    out = []
    for raw in fragment_message(context_id, encode_command(message), dataset, peer_max):
        pdu = decode_pdu(raw)
        assert isinstance(pdu, PDataTF)
        out.append(pdu)
    return out


def _feed_all(reassembler: Reassembler, pdus: list[PDataTF]) -> list[Event]:
    events: list[Event] = []
    for pdu in pdus:
        events.extend(reassembler.feed(pdu))
    return events


def _command_pdvs(context_id: int, message: DIMSEMessage) -> list[PDV]:
    """The command of ``message`` as two PDVs, the second one last."""
    data = encode_command(message)
    return [PDV(context_id, True, False, data[:10]), PDV(context_id, True, True, data[10:])]


@settings(max_examples=200, deadline=None)
@given(message=any_message, dataset=st.binary(max_size=2000),
       peer_max=st.sampled_from([0, 7, 8, 16, 33, 100, 16384]) | st.integers(7, 3000),
       context_id=st.sampled_from([1, 3, 127, 255]))
def test_reassembles_fragment_message(message: DIMSEMessage, dataset: bytes, peer_max: int,
                                      context_id: int) -> None:
    sent = dataset if message.has_dataset else None
    reassembler = Reassembler([1, 3, 127, 255])
    assert reassembler.idle
    events: list[Event] = []
    for pdu in _pdus(context_id, message, sent, peer_max):
        events.extend(reassembler.feed(pdu))
        if isinstance(events[-1] if events else None, CommandReceived):
            assert reassembler.expecting_dataset == message.has_dataset
    first, *rest = events
    assert first == CommandReceived(context_id, message)
    assert all(isinstance(e, DatasetFragment) for e in rest)
    fragments = [e for e in rest if isinstance(e, DatasetFragment)]
    if sent is None:
        assert not fragments
    else:
        assert all(f.context_id == context_id for f in fragments)
        assert b"".join(bytes(f.data) for f in fragments) == sent
        assert [f.is_last for f in fragments] == [False] * (len(fragments) - 1) + [True]
    assert reassembler.idle
    assert not reassembler.expecting_dataset


def test_several_messages_in_a_row_on_different_contexts() -> None:
    reassembler = Reassembler([1, 3])
    events = _feed_all(reassembler, [*_pdus(1, STORE, b"A" * 50, 20),
                                     *_pdus(3, ECHO, None, 20),
                                     *_pdus(3, FIND_RSP, b"B" * 4, 0),
                                     *_pdus(1, ECHO_RSP, None, 0)])
    commands = [e for e in events if isinstance(e, CommandReceived)]
    assert commands == [CommandReceived(1, STORE), CommandReceived(3, ECHO),
                        CommandReceived(3, FIND_RSP), CommandReceived(1, ECHO_RSP)]
    data = [e for e in events if isinstance(e, DatasetFragment)]
    assert b"".join(bytes(d.data) for d in data if d.context_id == 1) == b"A" * 50
    assert b"".join(bytes(d.data) for d in data if d.context_id == 3) == b"B" * 4
    assert reassembler.idle


def test_several_pdvs_in_one_pdu() -> None:
    """PS3.8 §9.3.5: a P-DATA-TF may carry several PDVs, e.g. a whole message."""
    pdu = PDataTF((*_command_pdvs(1, STORE), PDV(1, False, False, b"abc"),
                   PDV(1, False, True, b"def")))
    reassembler = Reassembler([1])
    events = reassembler.feed(decode_pdu(encode_pdu(pdu)))  # type: ignore[arg-type]
    assert events == [CommandReceived(1, STORE), DatasetFragment(1, b"abc", False),
                      DatasetFragment(1, b"def", True)]
    assert reassembler.idle


def test_pdvs_of_two_messages_in_one_pdu() -> None:
    pdu = PDataTF((*_command_pdvs(1, ECHO), PDV(3, True, True, encode_command(STORE)),
                   PDV(3, False, True, b"xy")))
    events = Reassembler([1, 3]).feed(pdu)
    assert events == [CommandReceived(1, ECHO), CommandReceived(3, STORE),
                      DatasetFragment(3, b"xy", True)]


def test_command_split_across_pdus_and_pdvs() -> None:
    data = encode_command(STORE)
    reassembler = Reassembler([5])
    assert reassembler.feed(PDataTF((PDV(5, True, False, data[:3]),
                                     PDV(5, True, False, data[3:20])))) == []
    assert not reassembler.idle
    assert not reassembler.expecting_dataset
    assert reassembler.feed(PDataTF((PDV(5, True, False, data[20:21]),))) == []
    events = reassembler.feed(PDataTF((PDV(5, True, True, data[21:]),
                                       PDV(5, False, False, b""))))
    assert events == [CommandReceived(5, STORE), DatasetFragment(5, b"", False)]
    assert reassembler.expecting_dataset
    assert not reassembler.idle
    assert reassembler.feed(PDataTF((PDV(5, False, True, b"z"),))) == [
        DatasetFragment(5, b"z", True)]
    assert reassembler.idle


def test_empty_data_set_fragment_ends_the_message() -> None:
    reassembler = Reassembler([1])
    events = _feed_all(reassembler, _pdus(1, STORE, b""))
    assert events == [CommandReceived(1, STORE), DatasetFragment(1, b"", True)]
    assert reassembler.idle


def test_fragments_are_views_of_the_received_pdu() -> None:
    raw = encode_pdu(PDataTF((PDV(1, True, True, encode_command(STORE)),
                   PDV(1, False, True, b"0123456789"))))
    pdu = decode_pdu(raw)
    assert isinstance(pdu, PDataTF)
    events = Reassembler([1]).feed(pdu)
    fragment = events[1]
    assert isinstance(fragment, DatasetFragment)
    assert bytes(fragment.data) == b"0123456789"


# -- protocol errors ------------------------------------------------------------------------


def test_pdv_on_a_context_that_was_not_accepted() -> None:
    reassembler = Reassembler([1, 3])
    with pytest.raises(DIMSEError, match="presentation context 5, which was not accepted"):
        reassembler.feed(PDataTF((PDV(5, True, True, encode_command(ECHO)),)))
    with pytest.raises(DIMSEError, match="not accepted"):
        Reassembler([]).feed(PDataTF((PDV(1, True, True, encode_command(ECHO)),)))


def test_data_set_pdv_on_an_unaccepted_context_during_a_data_set() -> None:
    reassembler = Reassembler([1])
    reassembler.feed(PDataTF((PDV(1, True, True, encode_command(STORE)),)))
    with pytest.raises(DIMSEError, match="not accepted"):
        reassembler.feed(PDataTF((PDV(3, False, True, b"x"),)))


def test_data_set_fragment_without_a_command_announcing_one() -> None:
    with pytest.raises(DIMSEError, match="without a command announcing one"):
        Reassembler([1]).feed(PDataTF((PDV(1, False, True, b"data"),)))


def test_data_set_after_a_command_without_one() -> None:
    reassembler = Reassembler([1])
    assert reassembler.feed(PDataTF((PDV(1, True, True, encode_command(ECHO)),))) == [
        CommandReceived(1, ECHO)]
    assert reassembler.idle
    with pytest.raises(DIMSEError, match="without a command announcing one"):
        reassembler.feed(PDataTF((PDV(1, False, True, b"data"),)))


def test_data_set_fragment_after_the_last_one() -> None:
    reassembler = Reassembler([1])
    _feed_all(reassembler, _pdus(1, STORE, b"abc"))
    with pytest.raises(DIMSEError, match="without a command"):
        reassembler.feed(PDataTF((PDV(1, False, True, b"more"),)))


def test_data_set_fragment_in_the_middle_of_a_command() -> None:
    reassembler = Reassembler([1])
    reassembler.feed(PDataTF((_command_pdvs(1, STORE)[0],)))
    with pytest.raises(DIMSEError, match="without a command"):
        reassembler.feed(PDataTF((PDV(1, False, True, b"data"),)))


@pytest.mark.parametrize("is_last", [False, True])
def test_command_pdv_while_a_data_set_is_expected(is_last: bool) -> None:
    reassembler = Reassembler([1])
    reassembler.feed(PDataTF((PDV(1, True, True, encode_command(STORE)),
                              PDV(1, False, False, b"part"))))
    with pytest.raises(DIMSEError, match="while a data set was still expected"):
        reassembler.feed(PDataTF((PDV(1, True, is_last, encode_command(ECHO)),)))


def test_command_pdv_right_after_a_command_announcing_a_data_set() -> None:
    reassembler = Reassembler([1])
    with pytest.raises(DIMSEError, match="still expected"):
        reassembler.feed(PDataTF((PDV(1, True, True, encode_command(STORE)),
                                  PDV(1, True, True, encode_command(ECHO)))))


def test_data_set_on_another_context_than_its_command() -> None:
    reassembler = Reassembler([1, 3])
    reassembler.feed(PDataTF((PDV(1, True, True, encode_command(STORE)),)))
    with pytest.raises(DIMSEError, match="data set fragment on context 3, its command came "
                                         "on 1"):
        reassembler.feed(PDataTF((PDV(3, False, True, b"data"),)))


def test_data_set_switching_context_half_way() -> None:
    reassembler = Reassembler([1, 3])
    reassembler.feed(PDataTF((PDV(1, True, True, encode_command(STORE)),
                              PDV(1, False, False, b"first"))))
    with pytest.raises(DIMSEError, match="on context 3"):
        reassembler.feed(PDataTF((PDV(3, False, True, b"second"),)))


def test_command_fragments_on_two_contexts() -> None:
    first, second = _command_pdvs(1, ECHO)
    reassembler = Reassembler([1, 3])
    reassembler.feed(PDataTF((first,)))
    with pytest.raises(DIMSEError, match="command fragments on two presentation contexts"):
        reassembler.feed(PDataTF((PDV(3, True, True, second.data),)))


# An element outside group 0000 after the command is skipped with a warning (Orthanc
# sends some; tests/integration/test_receiving_right.py), not undecodable.
@pytest.mark.parametrize("data", [b"", b"\x00", b"garbage!", encode_command(ECHO)[:-2]])
def test_undecodable_command(data: bytes) -> None:
    reassembler = Reassembler([1])
    with pytest.raises(DIMSEError):
        reassembler.feed(PDataTF((PDV(1, True, True, data),)))


def test_undecodable_command_in_two_fragments() -> None:
    data = encode_command(ECHO)
    reassembler = Reassembler([1])
    reassembler.feed(PDataTF((PDV(1, True, False, data[:12]),)))
    with pytest.raises(DIMSEError, match="Command Field"):
        # The middle of the command is lost: what arrives lacks the Command Field.
        reassembler.feed(PDataTF((PDV(1, True, True, data[-10:]),)))


# -- state ------------------------------------------------------------------------------------


def test_idle_and_expecting_dataset_through_a_message() -> None:
    reassembler = Reassembler([1])
    assert (reassembler.idle, reassembler.expecting_dataset) == (True, False)
    first, last = _command_pdvs(1, STORE)
    reassembler.feed(PDataTF((first,)))
    assert (reassembler.idle, reassembler.expecting_dataset) == (False, False)
    reassembler.feed(PDataTF((last,)))
    assert (reassembler.idle, reassembler.expecting_dataset) == (False, True)
    reassembler.feed(PDataTF((PDV(1, False, False, b"a"),)))
    assert (reassembler.idle, reassembler.expecting_dataset) == (False, True)
    reassembler.feed(PDataTF((PDV(1, False, True, b"b"),)))
    assert (reassembler.idle, reassembler.expecting_dataset) == (True, False)


def test_command_without_data_set_returns_to_idle() -> None:
    reassembler = Reassembler([1])
    first, last = _command_pdvs(1, ECHO)
    reassembler.feed(PDataTF((first,)))
    assert not reassembler.idle
    reassembler.feed(PDataTF((last,)))
    assert reassembler.idle
    assert not reassembler.expecting_dataset


def test_accepted_contexts_are_copied() -> None:
    accepted = [1]
    reassembler = Reassembler(accepted)
    accepted.append(3)
    with pytest.raises(DIMSEError, match="not accepted"):
        reassembler.feed(PDataTF((PDV(3, True, True, encode_command(ECHO)),)))
