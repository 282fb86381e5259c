"""The byte layout both directions of the PDU codec share (PS3.8 §9.3, PS3.7 Annex D.3.3).

Header structs, field sizes and limits, and the names :class:`~dicomnet.errors.PDUError`
uses in ``field``, written once so that :mod:`dicomnet.pdu.encode` and
:mod:`dicomnet.pdu.decode` cannot drift apart. Every multi-byte field is big endian
(PS3.8 §9.3.1).
"""

from __future__ import annotations

import struct

# PS3.8 §9.3.1: PDU-type(1) reserved(1) PDU-length(4), big endian like every field.
PDU_HEADER = struct.Struct(">BBL")
# PS3.8 §9.3.2, Table 9-11: item-type(1) reserved(1) item-length(2).
ITEM_HEADER = struct.Struct(">BBH")
# PS3.8 §9.3.2, Table 9-11: protocol-version(2) reserved(2) called-AE(16) calling-AE(16)
# reserved(32); the items follow at offset 68 of the variable field.
ASSOCIATE_FIXED = struct.Struct(">HH16s16s32s")
# PS3.8 §9.3.5.1, Table 9-23 and Annex E.2: item-length(4) context-ID(1) control-header(1).
PDV_HEADER = struct.Struct(">LBB")
U16 = struct.Struct(">H")
U32 = struct.Struct(">L")
U16_PAIR = struct.Struct(">HH")

PDU_HEADER_LENGTH = 6
ITEM_HEADER_LENGTH = 4
AE_TITLE_LENGTH = 16
MAX_U8 = 0xFF
MAX_U16 = 0xFFFF
MAX_U32 = 0xFFFFFFFF

# Names used in ``PDUError.field``: the standard's names, hyphenated as PS3.8 writes them.
RQ_NAME = "A-ASSOCIATE-RQ"
AC_NAME = "A-ASSOCIATE-AC"
APP_CONTEXT_NAME = "application-context"
PC_RQ_NAME = "presentation-context-RQ"
PC_AC_NAME = "presentation-context-AC"
USER_INFO_NAME = "user-information"
PDV_NAME = "PDV-item"


def sub_item_field(item_type: int) -> str:
    """The ``PDUError.field`` name of a user information sub-item of type ``item_type``."""
    return f"{USER_INFO_NAME}.sub-item 0x{item_type:02X}"
