"""Where a received data set goes (PS3.7 §6.3.1: a command, then its data set in
fragments): joined in memory, streamed to a sink, dropped past the size limit or when
the sink fails, checked for damage if it is a C-STORE's, and never left half written
when the association ends."""

from __future__ import annotations

from pair import (
    CT_STORAGE,
    FIND,
    IDENTIFIER,
    STORE_DATASET,
    Pair,
    RecordingSink,
    Sinks,
    arrived,
)

from dicomnet.acse import AcceptedContext
from dicomnet.connection_events import Aborted, RequestArrived, ResponseArrived, SinkFailed
from dicomnet.dataset_io import DatasetSink
from dicomnet.dimse import CFindRQ, CStoreRQ, DIMSEMessage, Status
from dicomnet.dimse.integrity import TRUNCATED
from dicomnet.incoming_dataset import DatasetTooLargeError

STORE = CStoreRQ(affected_sop_class_uid=CT_STORAGE, affected_sop_instance_uid="1.2.3.4")
#: Small PDUs, so a data set comes in several fragments.
SMALL_PDU = 64


def test_a_data_set_in_fragments_arrives_joined_in_memory() -> None:
    pair = Pair.established()
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert got.dataset == STORE_DATASET
    assert got.sink is None and got.sink_error is None and got.damage is None


def test_a_data_set_cut_across_reads_arrives_whole() -> None:
    pair = Pair.established()
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    events = []
    for start in range(0, len(data), 7):  # the transport gives any chunking
        events += pair.acceptor.receive_data(data[start:start + 7])
    (got,) = arrived(events)
    assert got.dataset == STORE_DATASET


def test_a_data_set_goes_to_the_sink_sink_for_gives() -> None:
    sinks = Sinks()
    pair = Pair.established(sink_for=sinks)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    (sink,) = sinks.made
    assert got.sink is sink and got.dataset is None and got.sink_error is None
    assert len(sink.chunks) > 1 and sink.data == STORE_DATASET
    assert sink.closed and not sink.discarded


def test_sink_for_returning_none_keeps_the_data_set_in_memory() -> None:
    pair = Pair.established(sink_for=lambda context, message: None)
    _sent, data = pair.request(STORE, STORE_DATASET)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert got.dataset == STORE_DATASET and got.sink is None


def test_responses_never_go_to_a_sink() -> None:
    # sink_for is the acceptor's choice for requests; a response's data set is the
    # answer the requester waits for (a C-FIND match), in memory.
    sinks = Sinks()
    pair = Pair.established(sink_for=sinks, requestor_sink_for=sinks)
    _sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    (got,) = arrived(pair.acceptor.receive_data(data))
    made = len(sinks.made)
    events = pair.requestor.receive_data(pair.respond(got.message, 0xFF00, IDENTIFIER))
    assert len(sinks.made) == made
    assert events[0].response.raw_dataset == IDENTIFIER  # type: ignore[union-attr]


def test_a_sink_factory_that_raises_gives_sink_failed_and_the_request_with_the_error(
) -> None:
    failure = OSError("disk full")

    def broken(context: AcceptedContext, message: DIMSEMessage) -> DatasetSink:
        raise failure

    pair = Pair.established(sink_for=broken)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    events = pair.acceptor.receive_data(data)
    assert [type(e) for e in events] == [SinkFailed, RequestArrived]
    assert events[0] == SinkFailed(events[1].message, failure)  # type: ignore[union-attr]
    got = arrived(events)[0]
    assert got.sink_error is failure and got.dataset is None and got.sink is None


def test_a_sink_that_fails_to_write_is_discarded() -> None:
    class Failing(RecordingSink):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            raise OSError("write failed")

    made: list[Failing] = []

    def factory(context: AcceptedContext, message: DIMSEMessage) -> DatasetSink:
        made.append(Failing())
        return made[-1]

    pair = Pair.established(sink_for=factory)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert isinstance(got.sink_error, OSError)
    assert made[0].discarded and not made[0].closed


def test_a_data_set_past_the_size_limit_is_dropped_with_dataset_too_large() -> None:
    sinks = Sinks()
    limit = len(STORE_DATASET) // 2
    pair = Pair.established(max_dataset_size=limit, sink_for=sinks)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert isinstance(got.sink_error, DatasetTooLargeError)
    assert got.sink_error.limit == limit
    assert sinks.made[0].discarded and not sinks.made[0].closed
    assert len(sinks.made[0].data) <= limit


def test_a_data_set_past_the_size_limit_in_memory_is_not_kept() -> None:
    pair = Pair.established(max_dataset_size=10)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert isinstance(got.sink_error, DatasetTooLargeError) and got.dataset is None


def test_a_data_set_at_the_size_limit_is_accepted() -> None:
    pair = Pair.established(max_dataset_size=len(STORE_DATASET))
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert got.dataset == STORE_DATASET and got.sink_error is None


def test_an_identifier_past_its_own_limit_is_not_kept() -> None:
    # Any request's data set but a C-STORE's is held in memory whole: it has a bound
    # of its own, below the data set limit.
    identifier = IDENTIFIER + b"\x09\x00\x10\x10OB\x00\x00" + (1000).to_bytes(4, "little") \
        + b"\0" * 1000
    pair = Pair.established(max_dataset_size=1 << 20, max_identifier_size=100)
    _sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), identifier,
                               capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert isinstance(got.sink_error, DatasetTooLargeError) and got.dataset is None
    assert got.sink_error.limit == 100


def test_the_identifier_limit_leaves_c_store_data_sets_alone() -> None:
    pair = Pair.established(max_identifier_size=10)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert got.dataset == STORE_DATASET and got.sink_error is None


def test_the_smaller_of_the_two_limits_bounds_an_identifier() -> None:
    pair = Pair.established(max_dataset_size=10, max_identifier_size=1 << 20)
    _sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER * 4,
                               capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert isinstance(got.sink_error, DatasetTooLargeError) and got.sink_error.limit == 10


def test_a_response_data_set_past_the_identifier_limit_aborts() -> None:
    # A response cannot be refused with a status: holding no more than the bound, the
    # requestor ends the association instead, as soon as the bound is passed.
    pair = Pair.established(max_identifier_size=100)
    request, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    assert arrived(pair.acceptor.receive_data(data))
    answer = pair.respond(request, Status.PENDING, IDENTIFIER * 40)
    events = pair.requestor.receive_data(answer)
    (aborted,) = [e for e in events if isinstance(e, Aborted)]
    assert "CFindRSP" in aborted.text and "100-byte limit" in aborted.text
    assert not any(isinstance(e, ResponseArrived) for e in events)
    assert pair.requestor.wants_close or pair.requestor.data_to_send()


def test_a_response_data_set_within_the_limit_arrives() -> None:
    pair = Pair.established(max_identifier_size=len(IDENTIFIER) * 40)
    request, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER)
    assert arrived(pair.acceptor.receive_data(data))
    answer = pair.respond(request, Status.PENDING, IDENTIFIER * 40)
    (got,) = [e for e in pair.requestor.receive_data(answer)
              if isinstance(e, ResponseArrived)]
    assert got.response.raw_dataset == IDENTIFIER * 40


def test_a_truncated_c_store_data_set_arrives_with_its_damage() -> None:
    # PS3.5 §7.1: the last element announces more value bytes than the data set has.
    pair = Pair.established()
    _sent, data = pair.request(STORE, STORE_DATASET[:-10], capacity=SMALL_PDU)
    (got,) = arrived(pair.acceptor.receive_data(data))
    assert got.damage is not None and got.damage.status == TRUNCATED


def test_a_whole_c_store_data_set_has_no_damage_and_other_requests_are_unchecked() -> None:
    pair = Pair.established(invoked=2, performed=2)
    _sent, data = pair.request(STORE, STORE_DATASET)
    (store,) = arrived(pair.acceptor.receive_data(data))
    assert store.damage is None
    # A C-FIND identifier is not a C-STORE's: broken bytes pass unchecked.
    _sent, data = pair.request(CFindRQ(affected_sop_class_uid=FIND), IDENTIFIER[:-3])
    (query,) = arrived(pair.acceptor.receive_data(data))
    assert query.damage is None and query.dataset == IDENTIFIER[:-3]


def test_a_half_received_data_set_is_discarded_when_the_transport_closes() -> None:
    sinks = Sinks()
    pair = Pair.established(sink_for=sinks)
    _sent, data = pair.request(STORE, STORE_DATASET, capacity=SMALL_PDU)
    assert pair.acceptor.receive_data(data[:-20]) == []  # the last PDU cut short
    (sink,) = sinks.made
    assert sink.chunks and not sink.closed
    pair.acceptor.transport_closed()
    assert sink.discarded and not sink.closed


def test_the_sinks_of_held_requests_are_discarded_when_the_transport_closes() -> None:
    # Requests held by the window (PS3.7 D.3.3.3) will never be performed: whatever
    # their sinks wrote must go.
    sinks = Sinks()
    pair = Pair.established(sink_for=sinks)
    stores = b"".join(
        pair.encode(CStoreRQ(message_id=i, affected_sop_class_uid=CT_STORAGE,
                             affected_sop_instance_uid=f"1.2.3.{i}"), STORE_DATASET)
        for i in (1, 2))
    events = pair.acceptor.receive_data(stores)
    assert len(arrived(events)) == 1 and pair.acceptor.holding
    performed, held = sinks.made
    pair.acceptor.transport_closed()
    assert held.discarded
    assert not performed.discarded  # it reached its handler, which owns it now
    assert not pair.acceptor.holding
