"""DIMSE, the message exchange of PS3.7, sans-IO.

Messages (:mod:`~dicomnet.dimse.messages`) and their status codes
(:mod:`~dicomnet.dimse.status`), the group 0000 codec
(:mod:`~dicomnet.dimse.command_set`), fragmentation into P-DATA-TF PDUs
(:mod:`~dicomnet.dimse.fragment`) and reassembly (:mod:`~dicomnet.dimse.reassembly`),
Message ID bookkeeping, and the pydicom glue for data sets.
"""

from dicomnet.dimse.command_set import decode_command, encode_command
from dicomnet.dimse.dataset import decode_dataset, encode_dataset
from dicomnet.dimse.fragment import (
    fragment_message,
    fragment_pieces,
    max_fragment_size,
    pdata_header,
    pdata_pdu,
)
from dicomnet.dimse.message_ids import MessageIDs
from dicomnet.dimse.messages import (
    MESSAGE_TYPES,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CGetRQ,
    CGetRSP,
    CMoveRQ,
    CMoveRSP,
    CommandField,
    CStoreRQ,
    CStoreRSP,
    DIMSEMessage,
    NActionRQ,
    NActionRSP,
    NCreateRQ,
    NCreateRSP,
    NDeleteRQ,
    NDeleteRSP,
    NEventReportRQ,
    NEventReportRSP,
    NGetRQ,
    NGetRSP,
    NSetRQ,
    NSetRSP,
    Priority,
    response_to,
)
from dicomnet.dimse.reassembly import CommandReceived, DatasetFragment, Reassembler
from dicomnet.dimse.status import Status, StatusCategory, category, describe

__all__ = [
    "MESSAGE_TYPES",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "CCancelRQ",
    "CEchoRQ",
    "CEchoRSP",
    "CFindRQ",
    "CFindRSP",
    "CGetRQ",
    "CGetRSP",
    "CMoveRQ",
    "CMoveRSP",
    "CStoreRQ",
    "CStoreRSP",
    "CommandField",
    "CommandReceived",
    "DIMSEMessage",
    "DatasetFragment",
    "MessageIDs",
    "NActionRQ",
    "NActionRSP",
    "NCreateRQ",
    "NCreateRSP",
    "NDeleteRQ",
    "NDeleteRSP",
    "NEventReportRQ",
    "NEventReportRSP",
    "NGetRQ",
    "NGetRSP",
    "NSetRQ",
    "NSetRSP",
    "Priority",
    "Reassembler",
    "Status",
    "StatusCategory",
    "category",
    "decode_command",
    "decode_dataset",
    "describe",
    "encode_command",
    "encode_dataset",
    "fragment_message",
    "fragment_pieces",
    "max_fragment_size",
    "pdata_header",
    "pdata_pdu",
    "response_to",
]
